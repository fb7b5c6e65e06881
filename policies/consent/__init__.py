"""Consent, one concern per module; import the package (`from policies.consent import X`).

- `models`: tables (ConsentDecision, ConsentOverride) and enums (Decision, Method, OverrideBasis, Status);
- `shapes`: request/response bodies (…Create validates, …Public is shown);
- `rules`: pure rules, no Session — methods per age band and pack, self-consent, mandatory reporting, and the
  replay of decisions/overrides into each scope's state at an instant (`replay_decisions`,
  `overrides_in_force`);
- `hooks`: the withdrawal hook registry (wired by evidence.bootstrap) and `wake_pathway`;
- `service`: record_decision, record_override, consent_state, active_overrides, list_decisions/overrides.
"""

from policies.consent.hooks import (
    WithdrawalHook,
    register_withdrawal_hook,
    unregister_withdrawal_hook,
    wake_pathway,
    withdrawal_hooks,
)
from policies.consent.models import (
    ConsentDecision,
    ConsentDecisionBase,
    ConsentOverride,
    ConsentOverrideBase,
    Decision,
    Method,
    OverrideBasis,
    Status,
)
from policies.consent.rules import (
    EXPIRY_REQUIRED,
    OVERRIDABLE,
    DecisionRecord,
    OverrideRecord,
    ScopeState,
    allowed_methods,
    band_mandatory_report,
    band_min_age,
    band_self_consents,
    can_self_consent,
    in_recorded_order,
    is_written,
    mandatory_report_applies,
    method_problem,
    overrides_in_force,
    replay_decisions,
)
from policies.consent.service import (
    active_overrides,
    consent_state,
    list_decisions,
    list_overrides,
    record_decision,
    record_override,
)
from policies.consent.shapes import (
    ConsentDecisionCreate,
    ConsentDecisionPublic,
    ConsentOverrideCreate,
    ConsentOverridePublic,
)
from policies.handoffs import ConsentScope

__all__ = [
    "EXPIRY_REQUIRED", "OVERRIDABLE", "ConsentDecision", "ConsentDecisionBase", "ConsentDecisionCreate",
    "ConsentDecisionPublic", "ConsentOverride", "ConsentOverrideBase", "ConsentOverrideCreate",
    "ConsentOverridePublic", "ConsentScope", "Decision", "DecisionRecord", "Method", "OverrideBasis",
    "OverrideRecord", "ScopeState", "Status", "WithdrawalHook", "active_overrides", "allowed_methods",
    "band_mandatory_report", "band_min_age", "band_self_consents", "can_self_consent", "consent_state",
    "in_recorded_order", "is_written", "list_decisions", "list_overrides", "mandatory_report_applies", "method_problem",
    "overrides_in_force", "record_decision", "record_override", "register_withdrawal_hook", "replay_decisions",
    "unregister_withdrawal_hook", "wake_pathway", "withdrawal_hooks",
]
