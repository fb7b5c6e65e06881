"""Case-review texts under the CASE key on SQLite and PostgreSQL (policies.review.texts): a decision's and an
action item's text is sealed bound to its row (never in clear, not a centre-key token), a participant who may
see it reads it, and after the case's lawful erasure (two coordinators, over the API) every review view answers
200 with core.crypto.ERASED_TEXT while the ledger still verifies. Texts written under the centre key before
revision 0025 stay readable, are re-sealed by `reencrypt_legacy`, and an erasure re-seals them before shredding."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import crypto, ledger
from core.errors import IntegrityViolation
from policies.reencrypt import reencrypt_legacy
from policies.review import ReviewAction, ReviewDecision
from tests.evidence_support import EXAMINER, OFFICER
from tests.integration.test_case_review import POLICE, _case, _headers, _schedule, _username

DECISION_CANARY = "Decision about Wilhelmina Canaryreview-9X"
ACTION_CANARY = "Call Wilhelmina Canaryreview-9X back"


@pytest.fixture
def h(keyed_harness):
    return keyed_harness  # tests.fixtures.harness: the harness with its centre key installed


def _review_with_texts(h, clock):
    """A case (exam, advocacy, a kit released to OFFICER), its review with the police and the centre's examiner,
    a decision and an action item (owned by the police) carrying the canaries. Returns (case, review, chair,
    decision id, action id)."""
    case_id, _, _ = _case(h, clock)
    chair = h.user("coordinator", assign_to=case_id)
    rid = _schedule(h, clock, case_id, chair, _username(h, OFFICER), _username(h, EXAMINER))["id"]
    d = h.client.post(f"/reviews/{rid}/decisions", headers=chair.headers, json={"text": DECISION_CANARY})
    assert d.status_code == 201 and d.json()["text"] == DECISION_CANARY, d.text
    a = h.client.post(f"/reviews/{rid}/actions", headers=chair.headers, json={
        "owner_agency": POLICE, "due_at": (clock.now() + timedelta(days=7)).isoformat(), "decision_id": d.json()["id"],
        "text": ACTION_CANARY})
    assert a.status_code == 201 and a.json()["text"] == ACTION_CANARY, a.text
    return case_id, rid, chair, d.json()["id"], a.json()["id"]


def _tokens(h, decision_id: int, action_id: int) -> tuple[bytes, bytes]:
    with Session(h.engine) as s:
        return (bytes(s.get(ReviewDecision, decision_id).text_ciphertext),
                bytes(s.get(ReviewAction, action_id).text_ciphertext))


def _erase(h, case_id: str) -> None:
    first, second = h.user("coordinator"), h.user("coordinator")
    r = h.client.post(f"/cases/{case_id}/erasure", headers=first.headers, json={"basis": "survivor-request"})
    assert r.status_code == 201, r.text
    r = h.client.post(f"/cases/{case_id}/erasure/approve", headers=second.headers)
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text


def _texts(view: dict) -> tuple[list, list]:
    return [d["text"] for d in view["decisions"]], [a["text"] for a in view["actions"]]


def test_review_texts_need_the_case_key_and_read_erased_after_an_erasure(h, clock):
    case_id, rid, chair, decision_id, action_id = _review_with_texts(h, clock)
    ring = crypto.keyring_from_settings(h.settings)
    decision, action = _tokens(h, decision_id, action_id)
    for token in (decision, action):
        assert crypto.is_sealed(token) and b"Canaryreview" not in token
        with pytest.raises(IntegrityViolation):  # the centre key alone opens nothing (no Fernet token)
            crypto.open_legacy(ring, token)
    with Session(h.engine) as s:
        # Opened with the case key, bound to its row: the same value does not open as another row's.
        assert crypto.open_text(s, case_id=case_id, table="case_review_decision", column="text_ciphertext",
                                row_id=decision_id, token=decision, keyring=ring) == DECISION_CANARY
        with pytest.raises(IntegrityViolation):
            crypto.open_text(s, case_id=case_id, table="case_review_action", column="text_ciphertext",
                             row_id=action_id, token=decision, keyring=ring)
        bodies = b"".join(bytes(e.body) for e in s.execute(sa.select(ledger.LedgerEntry)).scalars())
    assert b"Canaryreview" not in bodies

    # Participants who may see the decisions read them: the police (decisions + their released kit), the chair.
    police = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER))
    assert police.status_code == 200, police.text
    assert _texts(police.json()) == ([DECISION_CANARY], [ACTION_CANARY])
    assert _texts(h.client.get(f"/reviews/{rid}", headers=chair.headers).json()) == (
        [DECISION_CANARY], [ACTION_CANARY])

    _erase(h, case_id)
    assert _tokens(h, decision_id, action_id) == (decision, action)  # the rows are as they were: the key is gone
    bodies: list[str] = []
    for headers in (_headers(h, OFFICER), _headers(h, EXAMINER), chair.headers):
        r = h.client.get(f"/reviews/{rid}", headers=headers)
        bodies.append(r.text)
        assert r.status_code == 200, r.text
        assert _texts(r.json()) == ([crypto.ERASED_TEXT], [crypto.ERASED_TEXT])
    examiner_view = json.loads(bodies[1])
    assert [e["narrative"] for e in examiner_view["exam"]] == [crypto.ERASED_TEXT]
    # Marking the action done still works and shows no text; a new decision without text may be recorded, one
    # with text cannot be sealed any more (410, nothing recorded).
    done = h.client.post(f"/review-actions/{action_id}/done", headers=_headers(h, OFFICER))
    assert done.status_code == 200 and done.json()["text"] is None, done.text
    with Session(h.engine) as s:
        before = ledger.count(s)
    r = h.client.post(f"/reviews/{rid}/decisions", headers=chair.headers, json={"text": "Wilhelmina again"})
    assert r.status_code == 410, r.text
    with Session(h.engine) as s:
        assert ledger.count(s) == before
    assert h.client.post(f"/reviews/{rid}/decisions", headers=chair.headers, json={}).status_code == 201

    assert h.client.get("/audit/verify", headers=h.user("auditor").headers).json()["ok"]
    with Session(h.engine) as s:
        assert ledger.verify_chain(s).ok
    assert not [b for b in bodies if "Canaryreview" in b]


def _make_legacy(h, decision_id: int, action_id: int, key: str) -> None:
    """What rows written before revision 0025 hold: Fernet tokens under the centre key."""
    with Session(h.engine) as s:
        s.execute(sa.update(ReviewDecision).where(ReviewDecision.id == decision_id).values(
            text_ciphertext=crypto.encrypt_text(DECISION_CANARY, key=key)))
        s.execute(sa.update(ReviewAction).where(ReviewAction.id == action_id).values(
            text_ciphertext=crypto.encrypt_text(ACTION_CANARY, key=key)))
        s.commit()


def test_legacy_texts_stay_readable_and_are_resealed_under_the_case_key(h, clock):
    case_id, rid, chair, decision_id, action_id = _review_with_texts(h, clock)
    key = h.settings.secret("identity_key")
    _make_legacy(h, decision_id, action_id, key)
    assert not any(crypto.is_sealed(t) for t in _tokens(h, decision_id, action_id))
    assert _texts(h.client.get(f"/reviews/{rid}", headers=chair.headers).json()) == (
        [DECISION_CANARY], [ACTION_CANARY])

    with Session(h.engine) as s:
        report = reencrypt_legacy(s, actor=chair.actor, case_id=case_id, keyring=key)
        s.commit()
    assert report.rewritten == 2 and report.already_sealed == 1  # the exam narrative was sealed already
    ring = crypto.keyring_from_settings(h.settings)
    for token in _tokens(h, decision_id, action_id):
        assert crypto.is_sealed(token)
        with pytest.raises(IntegrityViolation):
            crypto.open_legacy(ring, token)
    assert _texts(h.client.get(f"/reviews/{rid}", headers=chair.headers).json()) == (
        [DECISION_CANARY], [ACTION_CANARY])
    with Session(h.engine) as s:  # nothing left to re-seal
        assert reencrypt_legacy(s, actor=chair.actor, case_id=case_id, keyring=key).rewritten == 0


def test_an_erasure_reseals_legacy_texts_before_destroying_the_key(h, clock):
    case_id, rid, chair, decision_id, action_id = _review_with_texts(h, clock)
    _make_legacy(h, decision_id, action_id, h.settings.secret("identity_key"))
    _erase(h, case_id)
    ring = crypto.keyring_from_settings(h.settings)
    for token in _tokens(h, decision_id, action_id):  # no longer a centre-key token anyone could open
        assert crypto.is_sealed(token)
        with pytest.raises(IntegrityViolation):
            crypto.open_legacy(ring, token)
    with Session(h.engine) as s:
        erased = s.execute(sa.select(ledger.LedgerEntry).where(ledger.LedgerEntry.case_id == case_id,
                                                               ledger.LedgerEntry.kind == ledger.EventKind.CASE_ERASED)
                           ).scalars().one()
        assert json.loads(bytes(erased.body))["data"]["legacy_values_resealed"] == 2
    r = h.client.get(f"/reviews/{rid}", headers=_headers(h, OFFICER))
    assert r.status_code == 200 and _texts(r.json()) == ([crypto.ERASED_TEXT], [crypto.ERASED_TEXT]), r.text
    assert h.client.get("/audit/verify", headers=h.user("auditor").headers).json()["ok"]
