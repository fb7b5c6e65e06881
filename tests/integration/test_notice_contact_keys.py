"""The survivor's notice contact under the case's own key, and "notices due" on the sender's work queue (SQLite and
PostgreSQL).

The contact is sealed under the per-case key bound to its row (table notice_request, column contact_enc, row id),
so a lawful erasure shreds it with the rest of the case: the contact then reads "erased" (410). A row written
before, under the centre-wide key (Fernet), still reads. Notices due show in `coc tasks` / GET /tasks for whoever
may send them (the NOTICE_SEND permission), and leave it once recorded sent.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import crypto, ledger
from core.actors import Actor
from core.clock import as_utc
from core.errors import Erased, IntegrityViolation
from evidence import worklist
from evidence.items import EvidenceItem
from evidence.notice_tasks import record_notice_sent
from policies.notice import ChannelKind, NoticeRequest, NoticeRequestCreate, notice_contact, request_notice
from tests.evidence_support import EXAMINER, new_case, new_item

CONTACT = "contact-canary@example.org"
COORDINATOR = Actor(id="U00000000000000C1", role="coordinator")


def _request(session, case_id: str, value: str = CONTACT) -> NoticeRequest:
    request_notice(session, actor=EXAMINER, case_id=case_id,
                   data=NoticeRequestCreate(kind=ChannelKind.EMAIL, value=value))
    session.commit()
    return session.execute(select(NoticeRequest).where(NoticeRequest.case_id == case_id)
                           .order_by(NoticeRequest.id.desc())).scalars().first()


def test_the_contact_is_sealed_under_the_case_key_and_bound_to_its_row(session, clock):
    case_id = new_case(session)
    first = _request(session, case_id, "first@example.org")
    row = _request(session, case_id)
    assert crypto.is_sealed(row.contact_enc) and CONTACT.encode() not in bytes(row.contact_enc)
    assert session.get(crypto.CaseKey, case_id).wrapped is not None  # the case key now exists
    assert crypto.open_text(session, case_id=case_id, table="notice_request", column="contact_enc", row_id=row.id,
                            token=row.contact_enc) == CONTACT
    with pytest.raises(IntegrityViolation):  # moved onto another row, it does not open
        crypto.open_text(session, case_id=case_id, table="notice_request", column="contact_enc", row_id=first.id,
                         token=row.contact_enc)
    assert notice_contact(session, case_id=case_id).value == CONTACT


def test_a_legacy_row_still_reads_and_after_erasure_the_contact_reads_erased(session, clock):
    case_id = new_case(session)
    session.add(NoticeRequest(case_id=case_id, channel_kind="email", contact_enc=crypto.encrypt_text(CONTACT),
                              source="staff", made_by=EXAMINER.id, made_at=clock.now()))  # the centre-wide format
    session.commit()
    assert notice_contact(session, case_id=case_id).value == CONTACT

    crypto.destroy_case_key(session, case_id=case_id, now=clock.now())
    session.commit()
    with pytest.raises(Erased, match="erased"):
        notice_contact(session, case_id=case_id)
    rows, entries = session.execute(select(func.count()).select_from(NoticeRequest)).scalar_one(), ledger.count(session)
    with pytest.raises(Erased):  # nothing new can be stored for an erased case, and nothing is recorded
        request_notice(session, actor=EXAMINER, case_id=case_id,
                       data=NoticeRequestCreate(kind=ChannelKind.EMAIL, value="new@example.org"))
    session.rollback()
    assert session.execute(select(func.count()).select_from(NoticeRequest)).scalar_one() == rows
    assert ledger.count(session) == entries


def test_notices_due_are_on_the_queue_of_whoever_may_send_them(session, clock):
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    _request(session, case_id)
    until = as_utc(session.get(EvidenceItem, item_id).retention_until)
    due = until - timedelta(days=60)
    assert worklist.work_queue(session, actor=COORDINATOR, now=due - timedelta(seconds=1)) == []

    [task] = worklist.work_queue(session, actor=COORDINATOR, now=due)
    assert (task.kind, task.case_id, task.ref, task.due_at) == ("notice-due", case_id, item_id, due)
    assert task.verb == f"coc notice sent {case_id} --item {item_id}" and CONTACT not in task.model_dump_json()
    assert worklist.work_queue(session, actor=EXAMINER, now=due) == []  # may not send notices: not theirs

    clock.advance(due - clock.now())
    record_notice_sent(session, actor=COORDINATOR, case_id=case_id, now=due)
    session.commit()
    assert worklist.work_queue(session, actor=COORDINATOR, now=due + timedelta(days=1)) == []
