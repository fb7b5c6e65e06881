"""Clinical and legal clocks of a case, computed from its jurisdiction pack and its ledger entries.

Every number comes from the rule pack. Progress is read from the ledger only (policies may not import
evidence), so the clocks work for whatever the evidence package records, as long as its entries follow:
  * release of a kit to law enforcement: kind custody:item:released, or a custody:* entry whose data has
    to_role/custodian_role == "law_enforcement";
  * submission to a lab: an accepted transfer (custody:transfer:accepted) with data purpose == "lab"
    (what evidence.custody writes), a custody:* entry whose data has to_role/custodian_role == "lab" or
    lab_submission == true, or a kind ending in "lab-submitted";
  * analysis done: custody:item:analysed; destroyed: custody:item:destroyed;
  * police notified (the start of a pickup deadline): the checkpoint allowing release-to-law-enforcement
    for that item (checkpoint:handoff:allowed with item_id), written when the release is offered;
  * the facility's duty to notify the police (packs with consent.facility_notifies_police_hours, Michigan):
    starts at the written release-to-law-enforcement grant (consent:decision:recorded) of a reported case,
    met by the first release offer (custody:transfer:offered, purpose "release") or release of the item;
    a withdrawal (or refusal, or expiry) of the release consent stops it, and stops a pickup clock whose
    notice came before it;
  * mandatory report for a minor (when policies.consent.mandatory_report_applies): runs from the case's
    opening, met by an override with basis mandatory-report-minor (consent:override:recorded) or a
    report-to-police grant.
Care and exam progress come from exam:care:recorded (data care, status) and exam:exam:recorded entries.

`scan_deadlines` raises each alert once: a unique key per (case, item, alert kind) in the alert table,
with its ALERT_RAISED ledger entry in the same savepoint.

Modules, one concern each (import the package, `from policies.deadlines import X`):
- `names`: ClockName, ClockStatus, ClockState and the clinical clocks' labels;
- `progress`: the case's progress read from its ledger entries up to an instant;
- `clocks`: the clocks of a case (case_clocks, clocks_for: the medical clocks behind the checkpoint);
- `alerts`: the Alert table, scan_deadlines (raising each alert once), raise_alert, list_alerts,
  list_agency_alerts (police and crime-lab staff: the agency deadlines of items they hold or were offered);
- `hands`: whose hands each item passed through (offers, acceptances, custodian) read from the ledger;
- `compliance`: agency accountability: per receiving agency and period, handoffs and overdue deadlines.
"""

from policies.deadlines.alerts import (
    AGENCY_CLOCKS,
    Alert,
    AlertBase,
    AlertPublic,
    list_agency_alerts,
    list_alerts,
    raise_alert,
    scan_deadlines,
)
from policies.deadlines.clocks import MANDATORY_REPORT_FALLBACK_HOURS, case_clocks, clocks_for, compute_clocks
from policies.deadlines.names import MEDICAL_CLOCKS, ClockName, ClockState, ClockStatus

__all__ = [
    "AGENCY_CLOCKS",
    "MANDATORY_REPORT_FALLBACK_HOURS",
    "MEDICAL_CLOCKS",
    "Alert",
    "AlertBase",
    "AlertPublic",
    "ClockName",
    "ClockState",
    "ClockStatus",
    "case_clocks",
    "clocks_for",
    "compute_clocks",
    "list_agency_alerts",
    "list_alerts",
    "raise_alert",
    "scan_deadlines",
]
