"""The pathway's retention stage and the retention sweep, on SQLite and PostgreSQL, without Prefect.

run_pass of a case whose handoffs are all decided waits, through flows.pathway timers, for the notice date, then
for the destruction date; a notice that has come due raises its alert once (the stage and the sweep share
the dedupe key); an extension moves the timers; a legal hold past the date keeps the stage waiting for its lift.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core import outbox
from core.cases import Reporting
from core.clock import as_utc
from core.settings import reset_settings
from evidence.files import set_legal_hold, upload_file
from evidence.items import EvidenceItem, ItemKind
from flows.pathway import PassResult, run_pass
from flows.retention_stage import CP_LEGAL_HOLD, TIMER_DESTRUCTION, TIMER_NOTICE, retention_stage
from flows.retention_sweep import retention_sweep
from policies.consent import Decision
from policies.deadlines import Alert
from policies.handoffs import ConsentScope
from policies.notice import ChannelKind, NoticeRequestCreate, request_notice
from tests.evidence_support import ALL_SCOPES, EXAMINER, grant, new_case, new_item


@pytest.fixture
def configured(db_url, tmp_path, monkeypatch, clock):
    """flows use the configured database (core.db.get_engine): point it at this test's."""
    monkeypatch.setenv("COC_DATABASE_URL", db_url)
    monkeypatch.setenv("COC_DATA_DIR", str(tmp_path))
    reset_settings()
    yield
    reset_settings()


def _case_past_its_handoffs(session) -> str:
    """An unreported case whose every handoff is decided: examined, evidence collected, no advocacy, no release."""
    case_id = new_case(session, reporting=Reporting.RESTRICTED,
                       consents=tuple(s for s in ALL_SCOPES if s is not ConsentScope.RELEASE_LAW_ENFORCEMENT))
    grant(session, case_id, ConsentScope.SHARE_ADVOCATE, ConsentScope.RELEASE_LAW_ENFORCEMENT,
          decision=Decision.DECLINED)
    session.commit()
    return case_id


def _kit_with_notice(session, case_id) -> tuple[str, str]:
    item_id = new_item(session, case_id)
    request_notice(session, actor=EXAMINER, case_id=case_id,
                   data=NoticeRequestCreate(kind=ChannelKind.SMS, value="+1 206 555 0199"))
    session.commit()
    return case_id, item_id


def _timers(case_id) -> dict[str, object]:
    return dict(retention_stage(case_id, None, PassResult()))


def _wakes(session, case_id) -> list[outbox.OutboxMessage]:
    rows = list(session.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.case_id == case_id,
                                                                   outbox.OutboxMessage.kind == "wake")))
    session.commit()
    return rows


def _alerts(session, item_id) -> list[Alert]:
    session.expire_all()
    rows = list(session.scalars(select(Alert).where(Alert.item_id == item_id, Alert.clock == "destruction-notice")))
    session.commit()  # end the read (SQLite: every transaction holds the write lock) before a flow writes
    return rows


def test_the_stage_waits_for_the_notice_date_then_for_destruction(session, clock, configured):
    case_id, item_id = _kit_with_notice(session, _case_past_its_handoffs(session))
    until = as_utc(session.get(EvidenceItem, item_id).retention_until)
    session.commit()
    notice_at = until - timedelta(days=60)

    # after the last handoff (the pass has nothing open) the pathway waits for the notice date first
    result = run_pass(case_id, None)
    assert not result.open
    assert result.wake_at() == notice_at and result.wait_key(1) == f"{TIMER_NOTICE}-1"
    assert _timers(case_id) == {TIMER_NOTICE: notice_at, TIMER_DESTRUCTION: until}
    assert retention_stage(case_id, None, PassResult(open=["release-consent"])) == []  # handoffs still open

    clock.set(notice_at - timedelta(seconds=1))
    assert retention_sweep.fn() == 0 and _alerts(session, item_id) == []
    clock.set(notice_at)  # the notice date: the stage raises the alert once, then waits for destruction
    result = run_pass(case_id, None)
    assert result.wake_at() == until and result.wait_key(2) == f"{TIMER_DESTRUCTION}-2"
    [alert] = _alerts(session, item_id)
    assert as_utc(alert.due_at) == until
    run_pass(case_id, None)
    assert retention_sweep.fn() == 0 and len(_alerts(session, item_id)) == 1  # once, whoever sees it first

    # an extension (the retention helper's service moves retention_until) moves both timers
    later = until + timedelta(days=365)
    session.execute(update(EvidenceItem).where(EvidenceItem.id == item_id).values(retention_until=later))
    session.commit()
    assert _timers(case_id) == {TIMER_NOTICE: later - timedelta(days=60), TIMER_DESTRUCTION: later}
    clock.set(later - timedelta(days=60))
    assert retention_sweep.fn() == 1  # the backstop raises the new date's alert even with no run alive
    assert len(_alerts(session, item_id)) == 2

    clock.set(later + timedelta(seconds=1))  # destruction is due: nothing left to wait for, the run may end
    result = run_pass(case_id, None)
    assert not result.waiting


def test_a_legal_hold_past_the_date_keeps_the_stage_waiting(session, clock, configured, object_store):
    case_id = _case_past_its_handoffs(session)
    item_id = new_item(session, case_id, ItemKind.DOCUMENT)
    upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=iter([b"scanned form"]),
                max_bytes=1024)
    session.commit()
    set_legal_hold(session, object_store, actor=EXAMINER, item_id=item_id, on=True)
    session.commit()
    assert set(_timers(case_id)) == {TIMER_DESTRUCTION}  # no notice was asked for: no notice timer
    clock.advance(timedelta(days=7301))
    result = PassResult()
    assert retention_stage(case_id, None, result) == [] and result.open == [CP_LEGAL_HOLD]
    # lifting the hold wakes the run waiting at `legal-hold`; its next pass finds nothing left to wait for
    wakes = len(_wakes(session, case_id))
    set_legal_hold(session, object_store, actor=EXAMINER, item_id=item_id, on=False)
    session.commit()
    assert len(_wakes(session, case_id)) == wakes + 1
    result = PassResult()
    assert retention_stage(case_id, None, result) == [] and result.open == []


def test_a_notice_request_wakes_the_pathway(session, clock, configured):
    """A run already waiting for the destruction date must learn of a new, earlier notice date."""
    case_id = _case_past_its_handoffs(session)
    new_item(session, case_id)
    before = len(list(session.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.case_id == case_id,
                                                                          outbox.OutboxMessage.kind == "wake"))))
    session.commit()  # end the read before the stage opens its own transaction (SQLite)
    assert set(_timers(case_id)) == {TIMER_DESTRUCTION}
    request_notice(session, actor=EXAMINER, case_id=case_id, data=NoticeRequestCreate(no_contact=False,
                   kind=ChannelKind.POSTAL, value="1 Main St"))
    session.commit()
    wakes = list(session.scalars(select(outbox.OutboxMessage).where(outbox.OutboxMessage.case_id == case_id,
                                                                    outbox.OutboxMessage.kind == "wake")))
    session.commit()
    assert len(wakes) == before + 1
    assert set(_timers(case_id)) == {TIMER_NOTICE, TIMER_DESTRUCTION}
