"""The survivor's own requests on the status page (api.web, evidence.lookup_requests), over HTTP on SQLite and
PostgreSQL: notice before destruction (a channel or no contact) and "keep my kit longer" are recorded with the
same tables and ledger kinds as the same requests made through staff (source survivor); the contact never
reaches the ledger, a log record, a URL or a page; a missing, forged or expired form token gets the answer of a
wrong password; a destroyed kit cannot be kept longer."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from api.web.tokens import TOKEN_TTL_S
from core.clock import as_utc
from core.ledger import EventKind, LedgerEntry, decode
from evidence.lookup_rules import MAX_YEARS_AHEAD, add_years
from evidence.notice_tasks import LOOKUP_ACTOR
from policies.notice import NoticeRequest
from tests.api_helpers import api_harness
from tests.web.support import kit_with_card

CANARY = "canary-7Q2@example.org"
PHONE_CANARY = "+1 206 555 7788"
DESTROY = {"reason": "retention ended", "authority_ref": "ORDER-7"}


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    h = api_harness(db_url, tmp_path, lookup_max_failures=3, lookup_rate_per_min=100,
                    centre_contact="Call the centre: 555-0100", **s3_settings.overrides(),
                    s3_bucket=f"coc-sp-{secrets.token_hex(5)}")
    yield h
    h.close()


def _token(html: str) -> str:
    m = re.search(r'name="token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def _login(h, kit) -> str:
    r = h.client.post("/status", data={"code": kit.code, "password": kit.password, "lang": "en"})
    assert r.status_code == 200, r.text
    return _token(r.text)


def _entries(h, kind, **where):
    with Session(h.engine) as s:
        q = select(LedgerEntry).where(LedgerEntry.kind == kind).order_by(LedgerEntry.seq)
        for k, v in where.items():
            q = q.where(getattr(LedgerEntry, k) == v)
        return list(s.exec(q).all())


def _no_leak(h, caplog, responses, *canaries):
    with Session(h.engine) as s:
        bodies = [bytes(e.body) for e in s.exec(select(LedgerEntry)).all()]
        encrypted = [bytes(r.contact_enc or b"") for r in s.exec(select(NoticeRequest)).all()]
    for canary in canaries:
        assert not any(canary.encode() in b for b in bodies + encrypted)
        for record in caplog.records:
            assert canary not in record.getMessage() and canary not in str(record.args)
        for r in responses:
            assert canary not in r.text and canary not in str(r.url) and canary not in str(dict(r.headers))


def test_notice_request_is_recorded_like_staff_and_the_contact_never_leaks(harness, tmp_path, caplog):
    """E-mail channel from the page: one notice_request row (source survivor-lookup, the lookup's actor, the
    value encrypted and readable by staff), the staff request's ledger kind and data shape; the page confirms and
    shows the state; a sent notice shows as sent; "do not contact me" drops whatever was typed."""
    caplog.set_level(logging.DEBUG)
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    page = h.client.post("/status", data={"code": kit.code, "password": kit.password})
    assert "You have not asked to be told before your kit may be destroyed." in page.text
    r = h.client.post("/status/notice", data={"token": _token(page.text), "lang": "en", "kind": "email",
                                              "value": CANARY})
    assert r.status_code == 200, r.text
    assert "Your request is recorded" in r.text and "you asked to be told by e-mail" in r.text
    assert "Requested" in r.text and "You will be told by" in r.text
    assert str(r.url).endswith("/status/notice")
    with Session(h.engine) as s:
        [row] = s.exec(select(NoticeRequest)).all()
        assert (row.case_id, row.channel_kind, row.source, row.made_by) == \
            (kit.case_id, "email", "survivor-lookup", LOOKUP_ACTOR.id)
    coordinator = h.user("coordinator")
    contact = h.client.get(f"/cases/{kit.case_id}/notice-contact", headers=coordinator.headers)
    assert contact.status_code == 200 and contact.json()["value"] == CANARY  # staff can send the notice
    # a staff-made request writes the same ledger kind with the same data keys
    staff = h.client.post(f"/cases/{kit.case_id}/notice-request", json={"kind": "email", "value": CANARY},
                          headers=kit.examiner.headers)
    assert staff.status_code == 201
    mine, theirs = (decode(e) for e in _entries(h, EventKind.NOTICE_REQUESTED, case_id=kit.case_id))
    assert mine["data"] == {"channel_kind": "email", "source": "survivor-lookup"}
    assert theirs["data"] == {"channel_kind": "email", "source": "staff"}

    # the centre sends the notice: the page says so
    sent = h.client.post(f"/cases/{kit.case_id}/notices/sent", json={"item_id": kit.item_id},
                         headers=coordinator.headers)
    assert sent.status_code == 201, sent.text
    after = h.client.post("/status/view", data={"token": _token(r.text), "lang": "en"})
    assert "Notice sent" in after.text and "The centre sent you the notice on" in after.text

    # "do not contact me": recorded as no contact; what was typed is dropped
    none = h.client.post("/status/notice", data={"token": _token(after.text), "kind": "none",
                                                 "value": PHONE_CANARY})
    assert none.status_code == 200 and "Your choice is recorded" in none.text
    assert "you chose not to be contacted" in none.text
    with Session(h.engine) as s:
        last = s.exec(select(NoticeRequest).order_by(NoticeRequest.id.desc())).first()
        assert (last.channel_kind, last.contact_enc, last.source) == ("none", None, "survivor-lookup")
    _no_leak(h, caplog, [page, r, after, none], CANARY, PHONE_CANARY)


def test_a_refused_contact_is_not_echoed_and_nothing_is_recorded(harness, tmp_path, caplog):
    """A malformed e-mail, a phone with letters, an empty value, an unknown kind, an over-long value: 422 with a
    message naming the problem, the typed value nowhere (page, ledger, logs), no row."""
    caplog.set_level(logging.DEBUG)
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    token = _login(h, kit)
    cases = [({"kind": "email", "value": "canary-no-at.example.org"}, "That e-mail address does not look right"),
             ({"kind": "phone", "value": "canary phone 55"}, "A phone number may only have digits"),
             ({"kind": "sms", "value": ""}, "Please type your e-mail address"),
             ({"kind": "pigeon", "value": "canary-pigeon"}, "Please choose how you want to be told"),
             ({"kind": "postal", "value": "canary-" + "x" * 400}, "That contact does not look right")]
    responses = []
    for data, message in cases:
        r = h.client.post("/status/notice", data={"token": token, **data})
        assert r.status_code == 422 and message in r.text and 'role="alert"' in r.text, r.text
        assert not data["value"] or data["value"] not in r.text
        responses.append(r)
    with Session(h.engine) as s:
        assert s.exec(select(NoticeRequest)).all() == []
    assert _entries(h, EventKind.NOTICE_REQUESTED) == []
    _no_leak(h, caplog, responses, "canary-no-at.example.org", "canary phone 55", "canary-pigeon")


def test_keep_my_kit_longer_is_an_extension_like_staff_and_the_page_shows_the_new_date(harness, tmp_path, clock):
    """N more years from the later of now and the current date: the item's date, the staff extension's ledger
    kind (requested_by survivor, the lookup's actor); the page shows the new date; choices not offered and
    dates beyond MAX_YEARS_AHEAD are refused with nothing recorded."""
    h = harness
    kit = kit_with_card(h, tmp_path)
    before = as_utc(datetime.fromisoformat(
        h.client.get(f"/items/{kit.item_id}", headers=kit.examiner.headers).json()["retention_until"]))
    token = _login(h, kit)
    r = h.client.post("/status/extend", data={"token": token, "lang": "en", "years": "2"})
    assert r.status_code == 200, r.text
    expected = add_years(max(before, clock.now()), 2)
    item = h.client.get(f"/items/{kit.item_id}", headers=kit.examiner.headers).json()
    assert as_utc(datetime.fromisoformat(item["retention_until"])) == expected
    day = f"{expected:%B} {expected.day}, {expected.year}"
    assert f"Your kit will now be kept at least until {day}." in r.text
    assert f"It will be kept at least until {day}." in r.text  # the timeline's last step
    assert f"it is kept at least until {day}." in r.text  # "your requests"
    [entry] = _entries(h, EventKind.PRESERVATION_EXTENDED, item_id=kit.item_id)
    body = decode(entry)
    assert body["data"]["requested_by"] == "survivor" and LOOKUP_ACTOR.id in str(body["actor"])
    assert set(body["data"]) == {"previous_until", "retention_until", "requested_by", "files_extended"}

    for years in ("3", "", "two"):
        bad = h.client.post("/status/extend", data={"token": _token(r.text), "years": years})
        assert bad.status_code == 422 and "Please choose how many more years" in bad.text, bad.text
    assert len(_entries(h, EventKind.PRESERVATION_EXTENDED, item_id=kit.item_id)) == 1
    # five more years at a time until the date would pass MAX_YEARS_AHEAD from now: then refused, unchanged
    for _ in range(MAX_YEARS_AHEAD // 5 + 1):
        r = h.client.post("/status/extend", data={"token": _token(r.text), "years": "5"})
        if r.status_code != 200:
            break
    assert r.status_code == 409 and f"for up to {MAX_YEARS_AHEAD} years from today" in r.text, r.text
    last = as_utc(datetime.fromisoformat(
        h.client.get(f"/items/{kit.item_id}", headers=kit.examiner.headers).json()["retention_until"]))
    assert add_years(clock.now(), MAX_YEARS_AHEAD - 5) < last <= add_years(clock.now(), MAX_YEARS_AHEAD)


@pytest.mark.parametrize("path,data", [("/status/notice", {"kind": "email", "value": CANARY}),
                                       ("/status/extend", {"years": "1"}), ("/status/contact", {}),
                                       ("/status/view", {})])
def test_wrong_or_expired_tokens_get_the_wrong_password_answer(harness, tmp_path, clock, path, data):
    """No token, a forged one, one for another code, an expired one: the same status, headers and body as a
    wrong password; nothing recorded."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    wrong = h.client.post("/status", data={"code": kit.code, "password": "not-it", "lang": "en"})
    assert wrong.status_code == 401
    token = _login(h, kit)
    code, expiry, since, mac = token.split(".")
    answers = [h.client.post(path, data={"lang": "en", **data}),
               h.client.post(path, data={"token": f"{code}.{int(expiry) + 999}.{since}.{mac}", "lang": "en", **data}),
               h.client.post(path, data={"token": f"K{'5' * 16}.{expiry}.{since}.{mac}", "lang": "en", **data})]
    clock.advance(timedelta(seconds=TOKEN_TTL_S + 1))
    answers.append(h.client.post(path, data={"token": token, "lang": "en", **data}))
    for a in answers:
        assert a.status_code == wrong.status_code and a.content == wrong.content
        assert dict(a.headers) == dict(wrong.headers)
    assert _entries(h, EventKind.NOTICE_REQUESTED) == _entries(h, EventKind.PRESERVATION_EXTENDED) == []
    assert _entries(h, EventKind.STATUS_CONTACT_REQUESTED) == []


def test_a_destroyed_kit_cannot_be_kept_longer(harness, tmp_path, clock):
    """After a two-person destruction the page offers no extension, and a stale form gets a clear 409."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    stale = _login(h, kit)  # the page as it was before the destruction, still offering the extension
    assert 'action="/status/extend"' in h.client.post("/status/view", data={"token": stale}).text
    clock.advance(timedelta(days=365 * 60))
    r = h.client.post(f"/items/{kit.item_id}/check-out", json={"reason": "destruction"}, headers=kit.lab.headers)
    assert r.status_code in (200, 201), r.text
    holder = (kit.lab, h.user("lab"))  # two different evidence-store staff: proposer and approver
    r = h.client.post(f"/items/{kit.item_id}/destroy", json=DESTROY, headers=holder[0].headers)
    assert r.status_code in (201, 202), r.text
    r = h.client.post(f"/items/{kit.item_id}/destruction/approve", headers=holder[1].headers)
    assert r.status_code in (200, 201), r.text
    page = h.client.post("/status", data={"code": kit.code, "password": kit.password})
    assert "Destroyed on" in page.text and 'action="/status/extend"' not in page.text
    r = h.client.post("/status/extend", data={"token": _token(page.text), "years": "1"})
    assert r.status_code == 409 and "Your kit was destroyed, so it cannot be kept longer." in r.text
    assert _entries(h, EventKind.PRESERVATION_EXTENDED) == []
