"""Random interleavings of grant, decline, withdraw, expiry, override and handoff attempts (SQLite, fast).

Invariant: a handoff is allowed iff, at that instant, every scope it needs had a valid consent (granted, not
expired, written where required) or a recorded override that may stand in for it — and the ledger entry of
the decision cites exactly the consent/override entries relied on. The expectation is computed from an
independent model written from the domain rules, not from policies.checkpoint's table.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.cases import CaseCreate, Reporting
from core.clock import ManualClock
from core.db import make_engine
from policies import cases, checkpoint, consent
from policies.consent import ConsentDecisionCreate, ConsentOverrideCreate, Decision, Method, OverrideBasis
from policies.handoffs import ConsentScope as S
from policies.handoffs import Handoff as H

ACTOR = Actor(id="U-examiner-sm", role="examiner")

# The domain rules, restated: scopes each handoff needs, which must be written, which may be court-ordered.
NEEDS = {
    H.MEDICAL_CARE: [S.MEDICAL_CARE], H.FORENSIC_EXAM: [S.FORENSIC_EXAM],
    H.COLLECT_SWABS: [S.FORENSIC_EXAM, S.EVIDENCE_SWABS], H.COLLECT_CLOTHING: [S.FORENSIC_EXAM, S.EVIDENCE_CLOTHING],
    H.COLLECT_TOXICOLOGY: [S.FORENSIC_EXAM, S.EVIDENCE_TOXICOLOGY],
    H.PHOTO_TAKE: [S.PHOTO_RECORD], H.PHOTO_VIEW: [S.PHOTO_RECORD],
    H.PHOTO_SHARE_TEACHING: [S.PHOTO_RECORD, S.PHOTO_TEACHING],
    H.PHOTO_SHARE_PUBLICATION: [S.PHOTO_RECORD, S.PHOTO_PUBLICATION],
    H.ADVOCATE_SHARE: [S.SHARE_ADVOCATE], H.RELEASE_LAW_ENFORCEMENT: [S.RELEASE_LAW_ENFORCEMENT],
    H.LAB_TESTING: [S.RELEASE_LAW_ENFORCEMENT, S.LAB_TESTING], H.DISCLOSE_IDENTITY_POLICE: [S.REPORT_POLICE],
    H.STATUS_LOOKUP_ENROL: [S.STATUS_LOOKUP],
}
WRITTEN = {S.SHARE_ADVOCATE, S.RELEASE_LAW_ENFORCEMENT}  # default pack: release needs written consent
COURT_ORDERABLE = {H.RELEASE_LAW_ENFORCEMENT, H.LAB_TESTING, H.DISCLOSE_IDENTITY_POLICE}
OVERRIDE_SCOPES = [S.RELEASE_LAW_ENFORCEMENT, S.LAB_TESTING, S.REPORT_POLICE]


class ConsentMachine(RuleBasedStateMachine):
    """One case per example; the model holds the latest decision and override per scope."""

    engine = None  # set by the test (one migrated SQLite database for the whole run)

    @initialize()
    def open(self):
        """A fresh case on an unrestricted report, adult, default jurisdiction."""
        self.clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
        self.session = Session(self.engine, expire_on_commit=False)
        self.case = cases.open_case(self.session, actor=ACTOR, now=self.clock.now(),
                                    data=CaseCreate(reporting=Reporting.UNRESTRICTED))
        self.consents: dict[S, tuple[Decision, bool, datetime | None, str]] = {}
        self.overrides: dict[S, list[tuple[datetime | None, str]]] = {}
        self.attempts = 0

    def teardown(self):
        """Keep the database small: every example rolls back."""
        if hasattr(self, "session"):
            self.session.rollback()
            self.session.close()

    @rule(scope=st.sampled_from(list(S)), written=st.booleans(), days=st.none() | st.integers(1, 20))
    def grant(self, scope, written, days):
        """Grant a scope, verbally or in writing, with or without an expiry."""
        if scope is S.SHARE_ADVOCATE and days is None:
            days = 7  # an information-sharing release is always time-limited
        expires = self.clock.now() + timedelta(days=days) if days else None
        row = consent.record_decision(self.session, actor=ACTOR, case_id=self.case.id, now=self.clock.now(),
                                      data=ConsentDecisionCreate(
                                          scope=scope, decision=Decision.GRANTED,
                                          method=Method.WRITTEN if written else Method.VERBAL,
                                          form_ref="F-1" if written else None, expires_at=expires))
        self.consents[scope] = (Decision.GRANTED, written, expires, row.ledger_hash)

    @rule(scope=st.sampled_from(list(S)), decision=st.sampled_from([Decision.DECLINED, Decision.WITHDRAWN]))
    def refuse(self, scope, decision):
        """Decline or withdraw a scope."""
        row = consent.record_decision(self.session, actor=ACTOR, case_id=self.case.id, now=self.clock.now(),
                                      data=ConsentDecisionCreate(scope=scope, decision=decision,
                                                                 method=Method.VERBAL))
        self.consents[scope] = (decision, False, None, row.ledger_hash)

    @rule(scope=st.sampled_from(OVERRIDE_SCOPES), days=st.none() | st.integers(1, 20))
    def court_order(self, scope, days):
        """Record a court-order override for a scope, perhaps time-limited."""
        expires = self.clock.now() + timedelta(days=days) if days else None
        row = consent.record_override(self.session, actor=ACTOR, case_id=self.case.id, now=self.clock.now(),
                                      data=ConsentOverrideCreate(scope=scope, basis=OverrideBasis.COURT_ORDER,
                                                                 legal_basis="court order", reference="ORD-1",
                                                                 expires_at=expires))
        self.overrides.setdefault(scope, []).append((expires, row.ledger_hash))  # orders coexist

    @rule(hours=st.integers(0, 24 * 12))
    def advance(self, hours):
        """Let time pass (expiries happen on their own)."""
        self.clock.advance(timedelta(hours=hours))

    def _expected(self, handoff) -> tuple[bool, list[str]]:
        now, relied = self.clock.now(), []
        for scope in NEEDS[handoff]:
            decision, written, expires, h = self.consents.get(scope, (None, False, None, ""))
            if decision is Decision.GRANTED and (expires is None or expires > now) and \
                    (written or scope not in WRITTEN):
                relied.append(h)
                continue
            # the most recent order still in force stands in (an older open-ended order outlives a later one)
            live = [h for exp, h in self.overrides.get(scope, []) if exp is None or exp > now]
            if handoff in COURT_ORDERABLE and live:
                relied.append(live[-1])
                continue
            return False, []
        return True, relied

    @rule(handoff=st.sampled_from(list(H)))
    def attempt(self, handoff):
        """Try a handoff: the checkpoint must agree with the model, and the ledger must say why."""
        expected, relied = self._expected(handoff)
        d = checkpoint.decide(self.session, case_id=self.case.id, handoff=handoff, actor=ACTOR, now=self.clock.now())
        assert d.allowed == expected, (handoff, d.reason, self.consents, self.overrides)
        body = ledger.decode(self.session.get(ledger.LedgerEntry, d.ledger_seq))
        assert body["kind"] == (ledger.EventKind.CHECKPOINT_ALLOWED if expected else ledger.EventKind.CHECKPOINT_DENIED)
        assert body["data"]["relied_on"] == relied and list(d.relied_on) == relied
        self.attempts += 1

    @invariant()
    def every_scope_state_matches_the_model(self):
        """consent_state at this instant agrees with the model for every scope."""
        if not hasattr(self, "case"):
            return
        state = consent.consent_state(self.session, self.case.id, self.clock.now())
        for scope in S:
            decision, _, expires, h = self.consents.get(scope, (None, False, None, None))
            assert state[scope].granted == (decision is Decision.GRANTED and (expires is None or
                                                                             expires > self.clock.now()))
            assert state[scope].ledger_hash == h


def test_checkpoint_agrees_with_the_consent_model(tmp_path, _sqlite_template):
    path = tmp_path / "sm.db"
    shutil.copy(_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    ConsentMachine.engine = engine
    try:
        run_state_machine_as_test(ConsentMachine, settings=settings(
            max_examples=60, stateful_step_count=25, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        engine.dispose()
