"""Attacks on the survivor's status page from outside (issue 16 as built), over HTTP on SQLite and PostgreSQL:
guessing through the JSON notice request, forwarded-address headers, one counter for the page and the JSON
lookup, equal answers on the JSON paths, the page's headers on every /status response (errors too), the form
token across processes and its lifetime, requests made on the page, the printed card, erasure. The
history proof's attacks are in test_status_page_proof_attacks.py."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from api.web.tokens import SESSION_MAX_S
from core.ledger import EventKind, LedgerEntry
from evidence import lookup_guard
from evidence.lookup_models import KitLookup
from tests.api_helpers import api_harness
from tests.web.support import card_qr, issue, kit_with_card

ROOT = Path(__file__).resolve().parents[2]
PAGE_HEADERS = {"referrer-policy": "no-referrer", "cache-control": "no-store", "x-content-type-options": "nosniff"}


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path, lookup_max_failures=3, lookup_rate_per_min=50)
    yield h
    h.close()


def _login(h, code, password, client=None):
    return (client or h.client).post("/status", data={"code": code, "password": password, "lang": "en"})


def _card(h, code) -> KitLookup:
    with Session(h.engine) as s:
        return s.get(KitLookup, code)


def _client(h, address):
    return h.client.__class__(h.app, client=(address, 40000), raise_server_exceptions=False)


# --- guessing -----------------------------------------------------------------------------------------------

def test_json_notice_request_failures_count_and_lock_the_card(harness, tmp_path):
    """POST /status/requests (the JSON notice request with code + password) is a guessing path too: its failures
    count towards the card's lock (the centre's lookup_max_failures, not a default), and a locked card is
    refused there with the right password."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    for i in range(3):
        r = h.client.post("/status/requests", json={"code": kit.code, "password": f"guess-{i}", "no_contact": True})
        assert r.status_code == 401
    card = _card(h, kit.code)
    assert card.failed_attempts == 3 and card.locked_at is not None
    right = h.client.post("/status/requests", json={"code": kit.code, "password": kit.password, "no_contact": True})
    assert right.status_code == 401
    assert _login(h, kit.code, kit.password).status_code == 401


def test_forwarded_headers_do_not_choose_the_address(db_url, tmp_path, clock):
    """X-Forwarded-For, Forwarded and X-Real-IP are the client's own claims: the per-address window counts the
    connection's address whatever they say (nothing in front of the app is trusted unless deployed so)."""
    h = api_harness(db_url, tmp_path, lookup_rate_per_min=3)
    try:
        for i in range(3):
            spoof = {"X-Forwarded-For": f"203.0.113.{i}", "Forwarded": f"for=198.51.100.{i}",
                     "X-Real-IP": f"192.0.2.{i}"}
            assert h.client.post("/status", data={"code": "K" + str(i) * 16, "password": "x"},
                                 headers=spoof).status_code == 401
        fresh = {"X-Forwarded-For": "203.0.113.99", "Forwarded": "for=198.51.100.99", "X-Real-IP": "192.0.2.99"}
        assert h.client.post("/status", data={"code": "K" + "7" * 16, "password": "x"},
                             headers=fresh).status_code == 429
        assert h.client.post("/status/lookup", json={"code": "K" + "8" * 16, "password": "x"},
                             headers=fresh).status_code == 429
    finally:
        h.close()


def test_page_and_json_lookup_share_one_counter_per_code(db_url, tmp_path, clock):
    """The code typed in another case or with spaces on the page, and the same code on the JSON lookup, count
    in one per-code window and one failure count: three addresses, three failures, the card locks and a fourth
    address is throttled on that code."""
    h = api_harness(db_url, tmp_path, lookup_max_failures=3, lookup_rate_per_min=3)
    try:
        kit = kit_with_card(h, tmp_path, released=False)
        a, b, c, d = (_client(h, f"10.9.0.{i}") for i in range(4))
        assert _login(h, f"  {kit.code.lower()} ", "bad-1", client=a).status_code == 401
        assert b.post("/status/lookup", json={"code": kit.code, "password": "bad-2"}).status_code == 401
        assert _login(h, kit.code, "bad-3", client=c).status_code == 401
        card = _card(h, kit.code)
        assert card.failed_attempts == 3 and card.locked_at is not None
        assert d.post("/status/lookup", json={"code": kit.code, "password": kit.password}).status_code == 429
        assert _login(h, kit.code, kit.password, client=d).status_code == 429
    finally:
        h.close()


def test_the_code_as_typed_is_read_the_same_everywhere(harness, tmp_path):
    """The code typed in lower case, with spaces or a dash, is the card's code on the page AND on the JSON
    lookup and notice request (`coc status`): one reading, so one per-code window and one failure count."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    typed = f" {kit.code[:9].lower()}-{kit.code[9:]} "
    assert _login(h, typed, kit.password).status_code == 200
    assert h.client.post("/status/lookup", json={"code": typed, "password": kit.password}).status_code == 200
    r = h.client.post("/status/requests", json={"code": typed, "password": kit.password, "no_contact": True})
    assert r.status_code == 201, r.text
    assert h.client.post("/status/lookup", json={"code": typed, "password": "wrong"}).status_code == 401
    assert _card(h, kit.code).failed_attempts == 1


def _same(*responses):
    first = responses[0]
    for r in responses[1:]:
        assert (r.status_code, r.content, dict(r.headers)) == (first.status_code, first.content, dict(first.headers))


def test_json_paths_answer_the_same_for_every_wrong_credential(harness, tmp_path):
    """On /status/lookup and /status/requests: an unknown code, a wrong password, a locked card with its right
    password and a revoked card with its right password get the same status, body and headers."""
    h = harness
    locked = kit_with_card(h, tmp_path, released=False)
    for i in range(3):
        _login(h, locked.code, f"bad-{i}")
    assert _card(h, locked.code).locked_at is not None
    revoked = kit_with_card(h, tmp_path, released=False)
    issue(h, revoked.item_id, revoked.examiner, tmp_path)
    assert _card(h, revoked.code).revoked_at is not None
    live = kit_with_card(h, tmp_path, released=False)
    for path, extra in (("/status/lookup", {}), ("/status/requests", {"no_contact": True})):
        answers = [h.client.post(path, json={"code": code, "password": password, **extra})
                   for code, password in (("K" + "2" * 16, live.password), (live.code, "x" * len(live.password)),
                                          (locked.code, locked.password), (revoked.code, revoked.password))]
        _same(*answers)
        assert answers[0].status_code == 401 and live.code not in answers[0].text


# --- headers on every /status response ----------------------------------------------------------------------

def test_every_status_response_carries_the_page_headers(harness, tmp_path):
    """404 and 405 under /status, a refused form token, the JSON lookup (its answer is kit data) and its
    refusal and throttling: no referrer, no caching, nosniff, a strict CSP, no cookie."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    responses = {
        "404": h.client.get("/status/nothing-here"),
        "405 page": h.client.put("/status", data={"code": "x"}),
        "405 view": h.client.get("/status/view"),
        "forged token": h.client.post("/status/contact", data={"token": "K1.2.3"}),
        "json ok": h.client.post("/status/lookup", json={"code": kit.code, "password": kit.password}),
        "json wrong": h.client.post("/status/lookup", json={"code": kit.code, "password": "nope"}),
        "json shape": h.client.post("/status/lookup", json={"code": kit.code}),
        "lang junk": h.client.get("/status?lang=%3Cscript%3E", headers={"Accept-Language": "<script>;q=x, ,;;"}),
    }
    assert responses["json ok"].status_code == 200 and responses["404"].status_code == 404
    assert responses["405 page"].status_code == responses["405 view"].status_code == 405
    assert "<script" not in responses["lang junk"].text and '<html lang="en">' in responses["lang junk"].text
    for name, r in responses.items():
        for header, value in PAGE_HEADERS.items():
            assert r.headers.get(header) == value, (name, header, dict(r.headers))
        assert r.headers.get("content-security-policy", "").startswith("default-src 'none'"), name
        assert "set-cookie" not in r.headers, name


def test_an_internal_error_under_status_carries_the_page_headers(harness, monkeypatch):
    """An unexpected error while answering the page (a fault injected in the credential check) is still a
    problem answer with the page's headers, on the page and on the JSON lookup."""
    h = harness

    def broken(*_a, **_k):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(lookup_guard, "check_credentials", broken)
    for r in (h.client.post("/status", data={"code": "K" + "1" * 16, "password": "x"}),
              h.client.post("/status/lookup", json={"code": "K" + "1" * 16, "password": "x"})):
        assert r.status_code == 500 and "injected" not in r.text
        for header, value in PAGE_HEADERS.items():
            assert r.headers.get(header) == value, (header, dict(r.headers))


# --- the form token across API processes --------------------------------------------------------------------

CHILD = """
import os, re, sys
from pathlib import Path
from tests.api_helpers import api_harness
h = api_harness(sys.argv[1], Path(sys.argv[2]), identity_key=os.environ["CHILD_IDENTITY_KEY"])
page = h.client.post("/status", data={"code": sys.argv[3], "password": sys.argv[4]})
assert page.status_code == 200, page.status_code
print(re.search(r'name="token" value="([^"]+)"', page.text).group(1))
h.close()
"""


def test_a_form_token_made_by_one_api_process_works_in_another(harness, tmp_path):
    """A deployment runs several API processes behind one address (docker-compose: two replicas): the kit page
    one process rendered must work when its next form lands on another (the token's key comes from the
    centre's secret, not from a key each process draws at start)."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    env = {**os.environ, "CHILD_IDENTITY_KEY": h.settings.secret("identity_key"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, h.settings.database_url, str(h.settings.data_dir), kit.code,
                          kit.password], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    token = out.stdout.strip().splitlines()[-1]
    r = h.client.post("/status/view", data={"token": token, "lang": "es"})
    assert r.status_code == 200 and '<html lang="es">' in r.text
    forged = h.client.post("/status/view", data={"token": token[:-2] + ("AA" if token[-2:] != "AA" else "BB")})
    assert forged.status_code == 401


# --- requests made on the page ------------------------------------------------------------------------------

def _token(html: str) -> str:
    m = re.search(r'name="token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def _requested(h, item_id) -> int:
    with Session(h.engine) as s:
        return len(s.exec(select(LedgerEntry).where(LedgerEntry.kind == EventKind.STATUS_CONTACT_REQUESTED,
                                                     LedgerEntry.item_id == item_id)).all())


def test_please_contact_me_twice_is_one_open_request(harness, tmp_path):
    """By design: pressing "please contact me" again (or resubmitting the page) while the centre has not handled
    the request yet records nothing more (staff see one open request; the page says the same); once staff
    closed it, the survivor can ask again."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    token = _token(_login(h, kit.code, kit.password).text)
    first = h.client.post("/status/contact", data={"token": token})
    again = h.client.post("/status/contact", data={"token": _token(first.text)})
    replay = h.client.post("/status/contact", data={"token": token})
    for r in (first, again, replay):
        assert r.status_code == 200 and "The centre has your request" in r.text
    assert _requested(h, kit.item_id) == 1
    [open_one] = h.client.get("/status-requests", headers=kit.examiner.headers).json()
    done = h.client.post(f"/status-requests/{open_one['seq']}/handled", json={"outcome": "reached"},
                         headers=kit.examiner.headers)
    assert done.status_code in (200, 201), done.text
    assert h.client.post("/status/contact", data={"token": token}).status_code == 200
    assert _requested(h, kit.item_id) == 2


def test_a_form_token_dies_with_its_card(harness, tmp_path):
    """A kit page left open keeps a valid token: once the card is locked by someone guessing, or reissued by the
    centre, the token gets the wrong-password answer and records nothing."""
    h = harness
    for how in ("lock", "reissue"):
        kit = kit_with_card(h, tmp_path, released=False)
        token = _token(_login(h, kit.code, kit.password).text)
        if how == "lock":
            for i in range(3):
                _login(h, kit.code, f"guess-{i}")
        else:
            issue(h, kit.item_id, kit.examiner, tmp_path)
        for path, data in (("/status/view", {}), ("/status/contact", {}), ("/status/notice", {"kind": "none"})):
            r = h.client.post(path, data={"token": token, **data})
            assert r.status_code == 401 and "did not work" in r.text, (how, path)
        assert _requested(h, kit.item_id) == 0


def test_a_kit_page_cannot_be_kept_open_forever_without_the_password(harness, tmp_path, clock):
    """Each kit page carries a fresh 15-minute token, so a page (or a copied token) refreshed every few minutes
    would never need the card again: the token also carries when the password was given, and SESSION_MAX_S
    after that the page asks for the card again."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    token = _token(_login(h, kit.code, kit.password).text)
    steps = SESSION_MAX_S // 600
    for _ in range(steps):
        clock.advance(timedelta(minutes=10))
        r = h.client.post("/status/view", data={"token": token})
        assert r.status_code == 200
        token = _token(r.text)
    clock.advance(timedelta(minutes=10))
    refused = h.client.post("/status/view", data={"token": token})
    assert refused.status_code == 401 and "did not work" in refused.text
    assert _login(h, kit.code, kit.password).status_code == 200  # the card itself still works


def test_page_requests_are_throttled_per_card(db_url, tmp_path, clock, s3_settings):
    """A card holder (or whoever holds a stolen card) cannot write without limit to the append-only ledger from
    the public page: the requests of one card (notice, contact, keep longer) share the lookup window; over it
    the page says to wait and nothing is recorded."""
    h = api_harness(db_url, tmp_path, lookup_rate_per_min=3, **s3_settings.overrides(),
                    s3_bucket=f"coc-atk-{secrets.token_hex(5)}")
    try:
        kit = kit_with_card(h, tmp_path, released=False)
        token = _token(_login(h, kit.code, kit.password).text)
        h.app.state.lookup_limiter.reset()  # the login's own hit aside
        kinds = ("email", "phone", "sms")
        for i, kind in enumerate(kinds):
            value = f"p{i}@example.org" if kind == "email" else f"+1 206 555 010{i}"
            r = h.client.post("/status/notice", data={"token": token, "kind": kind, "value": value})
            assert r.status_code == 200, r.text
        with Session(h.engine) as s:
            before = len(s.exec(select(LedgerEntry)).all())
        for path, data in (("/status/notice", {"kind": "none"}), ("/status/contact", {}),
                           ("/status/extend", {"years": "1"})):
            r = h.client.post(path, data={"token": token, **data})
            assert r.status_code == 429 and "Too many tries" in r.text, (path, r.status_code)
        with Session(h.engine) as s:
            assert len(s.exec(select(LedgerEntry)).all()) == before
    finally:
        h.close()


def test_ipv6_addresses_of_one_network_share_the_address_window(db_url, tmp_path, clock):
    """One IPv6 customer holds a whole /64 (2^64 addresses): counting each address on its own would give an
    attacker a fresh window per request. The window is the /64's; another /64 is another client."""
    h = api_harness(db_url, tmp_path, lookup_rate_per_min=3)
    try:
        for i in range(3):
            r = _login(h, "K" + str(i) * 16, "x", client=_client(h, f"2001:db8:1:2::{i + 1:x}"))
            assert r.status_code == 401
        assert _login(h, "K" + "5" * 16, "x", client=_client(h, "2001:db8:1:2:ffff::9")).status_code == 429
        assert _client(h, "2001:db8:1:2::abcd").post("/status/lookup", json={
            "code": "K" + "6" * 16, "password": "x"}).status_code == 429
        assert _login(h, "K" + "7" * 16, "x", client=_client(h, "2001:db8:1:3::1")).status_code == 401
    finally:
        h.close()


# --- the printed card ---------------------------------------------------------------------------------------

LONG_CONTACT = "Call the centre 24 hours: 555-0100, text 555-0199, or write to help@care-centre.example.org"
LONG_URL = "https://status.sexual-assault-response-centre.example.org/status"


def _words_inside_the_page(pdf: bytes, tmp) -> list[str]:
    src = tmp / "card-bbox.pdf"
    src.write_bytes(pdf)
    html = subprocess.run(["pdftotext", "-bbox", str(src), "-"], check=True, capture_output=True, text=True).stdout
    page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', html)
    width = float(page.group(1))
    words = re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', html)
    assert words
    return [w for x0, x1, w in words if float(x0) >= 0 and float(x1) <= width]


def test_card_carries_a_long_contact_and_address_whole_and_on_the_page(db_url, tmp_path, clock):
    """A centre's contact of a realistic length and a long address are printed whole and inside the card's
    edges (not cut at 70 characters, not running off the page); the PDF's metadata names no one; the QR code
    (decoded with zxing-cpp from a render) is the address only."""
    h = api_harness(db_url, tmp_path, centre_contact=LONG_CONTACT, status_page_url=LONG_URL)
    try:
        kit = kit_with_card(h, tmp_path, released=False)
        inside = " ".join(_words_inside_the_page(kit.pdf, tmp_path))
        for word in LONG_CONTACT.split() + [LONG_URL, kit.code, kit.password]:
            assert word.replace("&", "&amp;") in inside, word
        assert card_qr(kit.pdf, tmp_path) == [LONG_URL]
        (tmp_path / "meta.pdf").write_bytes(kit.pdf)
        meta = subprocess.run(["pdfinfo", str(tmp_path / "meta.pdf")], check=True, capture_output=True,
                              text=True).stdout
        for secret in (kit.case_id, kit.item_id, kit.examiner.user.username, kit.code, kit.password):
            assert secret not in meta
    finally:
        h.close()


def test_after_a_lawful_erasure_the_page_answers_with_a_page(harness, tmp_path):
    """After the case's erasure (two coordinators), a notice request with a contact cannot be stored (the case
    key is gone): the page says so as a page (HTML, 410), never a raw problem document, and records nothing."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    first, second = h.user("coordinator"), h.user("coordinator")
    token = _token(_login(h, kit.code, kit.password).text)
    r = h.client.post(f"/cases/{kit.case_id}/erasure", headers=first.headers, json={"basis": "survivor-request"})
    assert r.status_code in (200, 201), r.text
    r = h.client.post(f"/cases/{kit.case_id}/erasure/approve", headers=second.headers)
    assert r.status_code in (200, 201), r.text
    with Session(h.engine) as s:
        before = len(s.exec(select(LedgerEntry)).all())
    r = h.client.post("/status/notice", data={"token": token, "kind": "email", "value": "me@example.org"})
    assert r.headers["content-type"].startswith("text/html"), (r.status_code, r.text[:300])
    assert r.status_code == 410 and "me@example.org" not in r.text
    with Session(h.engine) as s:
        assert len(s.exec(select(LedgerEntry)).all()) == before
