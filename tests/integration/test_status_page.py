"""The survivor's status page over HTTP (api.web): card → code + password → a timeline a survivor reads, the law's
next steps, the history proof, "please contact me"; equal answers for every wrong credential; throttling,
lockout and reissue; the card PDF (its QR code decoded from a render). On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from core.ledger import EventKind, LedgerEntry, signing
from evidence import lookup_guard
from evidence.lookup_models import KitLookup
from tests.api_helpers import api_harness
from tests.evidence_support import EXAMINER, new_case, new_item
from tests.web.support import DESCRIPTION, card_qr, card_text, issue, kit_with_card

PAGE_URL = "https://care.example.org/status"
CONTACT = "Call the centre: 555-0100 (24 hours)"


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path, lookup_max_failures=3, lookup_rate_per_min=50, status_page_url=PAGE_URL,
                    centre_contact=CONTACT)
    yield h
    h.close()


def _login(h, code, password, lang="en", **headers):
    return h.client.post("/status", data={"code": code, "password": password, "lang": lang}, headers=headers)


def _token(html: str) -> str:
    m = re.search(r'name="token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def _entries(h, kind):
    with Session(h.engine) as s:
        return s.exec(select(LedgerEntry).where(LedgerEntry.kind == kind)).all()


def test_journey_timeline_proof_and_contact_request(harness, tmp_path):
    """The page shows the timeline, the proof and the contact; a contact request is recorded for staff; the page
    holds nothing of the case (no description, no staff), sets no cookie, and carries strict headers."""
    h = harness
    kit = kit_with_card(h, tmp_path)
    form = h.client.get("/status")
    assert form.status_code == 200 and 'name="code"' in form.text and "<script" not in form.text
    for r in (form, _login(h, kit.code, kit.password)):
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        assert "script-src" not in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-store"
        assert "set-cookie" not in r.headers
    page = _login(h, kit.code, kit.password)
    assert page.status_code == 200, page.text
    html = page.text
    for text in ("Collected at the centre on", "Stored safely at the centre since", "With law enforcement since",
                 "It will be kept at least until", 'aria-current="step"', "Verified:", CONTACT):
        assert text in html, text
    assert html.index("Collected at the centre") < html.index("With law enforcement since")
    fingerprint = signing.fingerprint(signing.public_key_pem(h.settings.data_dir))
    assert f"<code>{fingerprint[:16]}</code>" in html  # the ledger key's, shown with "Verified:"
    for secret in (DESCRIPTION, kit.examiner.user.username, kit.officer.user.username, kit.case_id, kit.item_id,
                   "S-1", "store-1", kit.password):
        assert secret not in html, secret
    css = h.client.get("/status/status.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")

    r = h.client.post("/status/contact", data={"token": _token(html), "lang": "en"})
    assert r.status_code == 200 and "The centre has your request" in r.text
    [entry] = _entries(h, EventKind.STATUS_CONTACT_REQUESTED)
    assert entry.item_id == kit.item_id and kit.code.encode() not in entry.body
    staff = h.client.get("/status-requests", headers=kit.examiner.headers)
    assert staff.status_code == 200 and [(x["item_id"], x["case_id"]) for x in staff.json()] == \
        [(kit.item_id, kit.case_id)]
    assert h.client.get("/status-requests", headers=kit.officer.headers).status_code == 403
    assert h.client.post("/status/contact", data={"token": "K1.2.forged"}).status_code == 401
    assert len(_entries(h, EventKind.STATUS_CONTACT_REQUESTED)) == 1


def test_spanish_by_browser_and_by_choice(harness, tmp_path):
    """Accept-Language es gives Spanish; lang=en wins over it; the kit page switches language with its token."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    es = h.client.get("/status", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert '<html lang="es">' in es.text and "Vea dónde está su kit" in es.text
    en = h.client.get("/status?lang=en", headers={"Accept-Language": "es"})
    assert '<html lang="en">' in en.text and "See where your kit is" in en.text
    page = _login(h, kit.code, kit.password)
    r = h.client.post("/status/view", data={"token": _token(page.text), "lang": "es"})
    assert r.status_code == 200 and '<html lang="es">' in r.text
    assert "Recogido en el centro el" in r.text and "Verificado:" in r.text


def test_wrong_code_and_wrong_password_answer_the_same(harness, tmp_path, monkeypatch):
    """Unknown code, wrong password, locked card: identical status, headers and body, after the same hash work."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    work: list[tuple[int, int]] = []
    real = lookup_guard.hash_password

    def counting(password, salt=None):
        work.append((len(password), len(salt or b"")))
        return real(password, salt)

    monkeypatch.setattr(lookup_guard, "hash_password", counting)
    unknown = _login(h, "K" + "2" * 16, kit.password)
    work_unknown, work[:] = list(work), []
    wrong = _login(h, kit.code, "x" * len(kit.password))
    work_wrong, work[:] = list(work), []
    junk = _login(h, "not a code", kit.password)
    assert work_unknown == work_wrong == work[:] == [(len(kit.password), 16)]
    for other in (wrong, junk):
        assert other.status_code == unknown.status_code == 401
        assert other.content == unknown.content
        assert dict(other.headers) == dict(unknown.headers)
    assert "did not work" in unknown.text and kit.code not in unknown.text
    # The JSON lookup too: one problem for both.
    a = h.client.post("/status/lookup", json={"code": kit.code, "password": "nope"})
    b = h.client.post("/status/lookup", json={"code": "K" + "3" * 16, "password": "nope"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_lockout_and_reissue(harness, tmp_path):
    """Three failures lock the card (recorded); then even the right password gets the same wrong-answer page; a
    reissued card works and the old one is revoked."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    wrong = _login(h, kit.code, "wrong-1")
    _login(h, kit.code, "wrong-2")
    assert _login(h, kit.code, kit.password).status_code == 200  # a success resets the count
    for i in range(3):
        _login(h, kit.code, f"wrong-{i}")
    [locked] = _entries(h, EventKind.STATUS_LOOKUP_LOCKED)
    assert locked.item_id == kit.item_id and b'"failures":3' in locked.body
    refused = _login(h, kit.code, kit.password)
    assert refused.status_code == 401 and refused.content == wrong.content
    with Session(h.engine) as s:
        assert s.get(KitLookup, kit.code).locked_at is not None

    code2, password2, _ = issue(h, kit.item_id, kit.examiner, tmp_path)
    assert code2 != kit.code
    assert _login(h, code2, password2).status_code == 200
    with Session(h.engine) as s:
        assert s.get(KitLookup, kit.code).revoked_at is not None
    issued = _entries(h, EventKind.STATUS_CARD_ISSUED)
    assert [b'"revoked":0' in e.body for e in issued] == [True, False] and b'"revoked":1' in issued[1].body
    assert all(kit.code.encode() not in e.body and code2.encode() not in e.body for e in issued)
    assert h.client.post(f"/items/{kit.item_id}/status-card", headers=kit.officer.headers).status_code == 403


def test_throttled_per_address_and_per_code(db_url, tmp_path, clock):
    """Over the window's limit an address is refused whatever the code, and a code whatever the address."""
    h = api_harness(db_url, tmp_path, lookup_rate_per_min=3)
    try:
        kit = kit_with_card(h, tmp_path, released=False)
        for i in range(3):
            assert _login(h, "K" + str(i) * 16, "x").status_code == 401
        r = _login(h, kit.code, kit.password)
        assert r.status_code == 429 and "Too many tries" in r.text
        h.app.state.lookup_limiter.reset()
        for i in range(3):
            other = h.client.__class__(h.app, client=(f"10.0.0.{i}", 40000))
            assert other.post("/status", data={"code": kit.code, "password": "bad"}).status_code == 401
        fresh = h.client.__class__(h.app, client=("10.0.1.1", 40000))
        assert fresh.post("/status", data={"code": kit.code, "password": kit.password}).status_code == 429
    finally:
        h.close()


def _disable_ledger_triggers(conn) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS ledger_entry_no_update")
    else:
        conn.exec_driver_sql("ALTER TABLE ledger_entry DISABLE TRIGGER USER")


def test_tampered_entry_is_not_verified(harness, tmp_path):
    """An edited custody entry of the kit (database edit, triggers off) makes the page say it could not be
    verified; the untouched ledger says verified."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    assert "Verified:" in _login(h, kit.code, kit.password).text
    with h.engine.begin() as conn:
        _disable_ledger_triggers(conn)
        seq, body = conn.execute(sa.text("SELECT seq, body FROM ledger_entry WHERE item_id = :i AND kind = :k"),
                                 {"i": kit.item_id, "k": str(EventKind.ITEM_SEALED)}).one()
        forged = bytes(body).replace(b'"seal_intact":true', b'"seal_intact":false')  # the seal number is a commitment
        assert forged != bytes(body)
        conn.execute(sa.text("UPDATE ledger_entry SET body = :b WHERE seq = :s"), {"b": forged, "s": seq})
    page = _login(h, kit.code, kit.password)
    assert page.status_code == 200 and "Could not be verified:" in page.text and "Verified:" not in page.text


def test_card_pdf_carries_code_password_address_qr_and_contact_only(harness, tmp_path):
    """The card: code, temporary password, the page's address and a QR code to it, the centre's contact; nothing
    of the case (no ids, no description, no staff)."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    text = card_text(kit.pdf, tmp_path)
    for needed in (kit.code, kit.password, PAGE_URL, CONTACT):
        assert needed in text
    for secret in (kit.case_id, kit.item_id, DESCRIPTION, kit.examiner.user.username):
        assert secret not in text
    assert card_qr(kit.pdf, tmp_path) == [PAGE_URL]


def test_unknown_code_and_wrong_password_run_the_same_statements(session, clock):
    """Service level: an unknown code and a wrong password send the same SQL (a key lookup and one UPDATE) and
    hash once each; only a real card's row is counted."""
    item_id = new_item(session, new_case(session))
    code, password = lookup_guard.issue_card(session, actor=EXAMINER, item_id=item_id)
    session.commit()
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement.split(" WHERE ")[0])

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    try:
        assert lookup_guard.check_credentials(session, code="K" + "9" * 16, password="x", max_failures=5) is None
        session.commit()  # each attempt in its own transaction, as each request is
        unknown, seen[:] = list(seen), []
        assert lookup_guard.check_credentials(session, code=code, password="x", max_failures=5) is None
        session.commit()
        wrong = list(seen)
    finally:
        event.remove(bind, "before_cursor_execute", record)
    assert unknown == wrong and any(s.startswith("UPDATE kit_lookup") for s in wrong)
    assert session.get(KitLookup, code).failed_attempts == 1
    assert lookup_guard.check_credentials(session, code=code, password=password, max_failures=5) is not None


def test_overdue_steps_are_marked(harness, tmp_path, clock):
    """The law's next step for the kit shows its date; once the date passes without it, it is marked overdue."""
    h = harness
    kit = kit_with_card(h, tmp_path)
    before = _login(h, kit.code, kit.password).text
    assert "Law enforcement sends the kit to the crime lab." in before and "Overdue" not in before
    clock.advance(timedelta(days=120))
    after = _login(h, kit.code, kit.password).text
    assert "Overdue" in after and "It should have happened by" in after
    assert "Law enforcement sends the kit to the crime lab." in after
