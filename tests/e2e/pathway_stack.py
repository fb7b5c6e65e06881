"""Helpers for the pathway end-to-end tests and the consent-to-handoff benchmark: a served flow runner,
a case brought to the release checkpoint through the services, and bounded polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.stack.prefect_server import start_flow_runner, stop_process_group
from core import outbox
from core.actors import Actor, system_actor
from core.cases import CaseCreate, Reporting
from core.clock import utcnow
from core.ledger import LedgerEntry, decode
from core.settings import get_settings
from evidence.items import EvidenceItemCreate, ItemKind, collect_item
from flows.steps import PathwayStep
from policies.authz import UserCreate, assign, create_user
from policies.cases import open_case
from policies.consent import ConsentDecisionCreate, Decision, Method, record_decision
from policies.handoffs import ConsentScope
from policies.permissions import Role

T = TypeVar("T")
ADMIN = system_actor("test-setup")


def wait_for(predicate: Callable[[], T], *, timeout: float = 120.0, interval: float = 0.1,
             what: str | Callable[[], str] = "") -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds (a bound, not a check)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {said or predicate}")
        time.sleep(interval)


class Runner:
    """A `python -m flows.serve` process for a test or benchmark."""

    def __init__(self, api_url: str, home: Path, db_url: str, data_dir: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.log_path = home / "flows.log"
        # The runner seals and opens case texts with the centre key: the same one as this process, which made the
        # case keys (in a deployment every process of the centre has the same COC_IDENTITY_KEY).
        self.process = start_flow_runner(api_url, home, log_path=self.log_path, coc_env={
            "COC_DATABASE_URL": db_url, "COC_DATA_DIR": str(data_dir), "COC_PREFECT_API_URL": api_url,
            "COC_IDENTITY_KEY": get_settings().secret("identity_key"), **(extra_env or {})})

    def log_tail(self, lines: int = 60) -> str:
        """The end of the runner's log (for assertion messages)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the runner and the flow-run processes it started."""
        stop_process_group(self.process, timeout=20)


@dataclass
class Staff:
    """The staff a pathway case needs: an examiner (custodian) and a law-enforcement liaison."""

    examiner: Actor
    officer: Actor


def make_staff(engine: Engine, suffix: str) -> Staff:
    """Create an examiner and a law-enforcement user (external-IdP style, no password)."""
    with Session(engine, expire_on_commit=False) as s:
        ex = create_user(s, actor=ADMIN, data=UserCreate(username=f"examiner-{suffix}", role=Role.EXAMINER,
                                                         subject=f"sub-ex-{suffix}"))
        from tests.evidence_support import ensure_agency

        police = ensure_agency(s, "police")  # law enforcement belongs to a police force, not the centre
        le = create_user(s, actor=ADMIN, data=UserCreate(username=f"officer-{suffix}", role=Role.LAW_ENFORCEMENT,
                                                         subject=f"sub-le-{suffix}", agency=police))
        s.commit()
        return Staff(Actor(ex.id, "examiner"), Actor(le.id, "law_enforcement"))


def decide(scope: ConsentScope, decision: Decision = Decision.GRANTED) -> ConsentDecisionCreate:
    """A consent decision body; grants are written (signed form), advocacy grants expire in 90 days."""
    expires = utcnow() + timedelta(days=90) if decision is Decision.GRANTED and scope is ConsentScope.SHARE_ADVOCATE \
        else None
    return ConsentDecisionCreate(scope=scope, decision=decision, method=Method.WRITTEN, form_ref="FORM-1",
                                 expires_at=expires)


def record(engine: Engine, actor: Actor, case_id: str, scope: ConsentScope,
           decision: Decision = Decision.GRANTED) -> None:
    """Record a decision through the consent service (it enqueues the wake) and commit."""
    with Session(engine, expire_on_commit=False) as s:
        record_decision(s, actor=actor, case_id=case_id, data=decide(scope, decision))
        s.commit()


def case_at_release_checkpoint(engine: Engine, staff: Staff) -> tuple[str, str]:
    """Open a case with its examination consents, a collected kit and an assigned officer; return (case, item).

    Everything except the release decision is on record, so the pathway's only open checkpoint is the release.
    """
    with Session(engine, expire_on_commit=False) as s:
        case = open_case(s, actor=staff.examiner, data=CaseCreate(reporting=Reporting.UNRESTRICTED))
        assign(s, actor=ADMIN, case_id=case.id, user_id=staff.officer.id)
        for scope in (ConsentScope.MEDICAL_CARE, ConsentScope.FORENSIC_EXAM, ConsentScope.SHARE_ADVOCATE):
            record_decision(s, actor=staff.examiner, case_id=case.id, data=decide(scope))
        item = collect_item(s, actor=staff.examiner, case_id=case.id,
                            data=EvidenceItemCreate(kind=ItemKind.KIT, description="sexual assault kit"))
        outbox.enqueue(s, case_id=case.id, kind=outbox.OutboxKind.START_PATHWAY)
        s.commit()
        return case.id, item.id


def steps(engine: Engine, case_id: str) -> list[str]:
    """The case's completed pathway steps."""
    with Session(engine) as s:
        return list(s.scalars(select(PathwayStep.step).where(PathwayStep.case_id == case_id)
                              .order_by(PathwayStep.id)))


def waits(engine: Engine, case_id: str) -> list[str]:
    """The checkpoint keys the case's runs wait at."""
    with Session(engine) as s:
        return [w.key for w in outbox.waits_for(s, case_id)]


def at_retention(engine: Engine, case_id: str) -> bool:
    """The pathway is past its handoffs: waiting at its retention stage (flows.retention_stage), or ended."""
    return "retention" in steps(engine, case_id) or any(k.startswith("retention-") for k in waits(engine, case_id))


def other_waits(engine: Engine, case_id: str) -> list[str]:
    """The case's wait keys other than the retention stage's (which lasts the kit's retention period)."""
    return [k for k in waits(engine, case_id) if not k.startswith("retention-")]


def ledger_kinds(engine: Engine, case_id: str) -> list[tuple[str, dict]]:
    """The case's ledger entries as (kind, data), in sequence order."""
    with Session(engine) as s:
        rows = s.scalars(select(LedgerEntry).where(LedgerEntry.case_id == case_id).order_by(LedgerEntry.seq))
        return [(r.kind, decode(r)["data"]) for r in rows]


def drain(engine: Engine, api_url: str) -> tuple[int, int]:
    """Deliver the outbox now (what the API's after-commit drain does)."""
    return outbox.drain(lambda: Session(engine, expire_on_commit=False), outbox.PrefectWaker(api_url))
