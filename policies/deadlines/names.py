"""Clock names, statuses and the state of one clock at an instant (the vocabulary of clocks and alerts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from policies.windows import CARE_WINDOW, ITEM_WINDOW


class ClockName(StrEnum):
    """Every clock the system tracks."""

    HIV_PEP = "hiv-pep"
    EMERGENCY_CONTRACEPTION = "emergency-contraception"
    HEPATITIS_B = "hepatitis-b"
    EVIDENCE_COLLECTION = "evidence-collection"
    TOXICOLOGY_BLOOD = "toxicology-blood"
    TOXICOLOGY_URINE = "toxicology-urine"
    FACILITY_NOTIFY_POLICE = "facility-notify-police"
    POLICE_PICKUP = "police-pickup"
    LAB_SUBMISSION = "lab-submission"
    LAB_ANALYSIS = "lab-analysis"
    DESTRUCTION_NOTICE = "destruction-notice"
    MANDATORY_REPORT = "mandatory-report"
    INTEGRITY_INCIDENT = "integrity-incident"  # an alert kind, not a clock: raised at once (evidence.incidents)
    LEDGER_NOT_INTACT = "ledger-not-intact"  # centre-wide (no case): raised by evidence.verification


class ClockStatus(StrEnum):
    """Where a clock stands at an instant."""

    RUNNING = "running"
    MET = "met"  # the step happened (or care was decided) before or after the deadline
    LATE = "late"  # the sample was collected / the treatment given, but after its window (policies.windows)
    EXPIRED = "expired"  # the deadline passed and the step did not happen


@dataclass(frozen=True)
class ClockState:
    """One clock at an instant."""

    name: ClockName
    starts_at: datetime
    deadline: datetime
    status: ClockStatus
    item_id: str | None = None
    met_at: datetime | None = None
    detail: str | None = None  # readable note, e.g. "collected 16 h after its 24 h window" for a LATE clock

    def remaining(self, now: datetime) -> timedelta:
        """Time left before the deadline (negative once passed)."""
        return self.deadline - now


# Clinical clocks: (clock, pack field) — the window runs from the assault (or last contact).
CLINICAL = (
    (ClockName.HIV_PEP, "hiv_pep_hours"),
    (ClockName.EMERGENCY_CONTRACEPTION, "emergency_contraception_hours"),
    (ClockName.HEPATITIS_B, "hepatitis_b_hours"),
    (ClockName.EVIDENCE_COLLECTION, "evidence_collection_hours"),
    (ClockName.TOXICOLOGY_BLOOD, "toxicology_blood_hours"),
    (ClockName.TOXICOLOGY_URINE, "toxicology_urine_hours"),
)

CLINICAL_LABEL = {
    ClockName.HIV_PEP: "PEP window",
    ClockName.EMERGENCY_CONTRACEPTION: "emergency contraception window",
    ClockName.HEPATITIS_B: "hepatitis B prophylaxis window",
    ClockName.EVIDENCE_COLLECTION: "evidence collection window",
    ClockName.TOXICOLOGY_BLOOD: "toxicology (blood) window",
    ClockName.TOXICOLOGY_URINE: "toxicology (urine) window",
}

# CARE_RECORDED data["care"] values that stop each clinical clock (a decision either way stops the alarm).
CARE_FOR_CLOCK = {ClockName.HIV_PEP: "hiv-pep", ClockName.EMERGENCY_CONTRACEPTION: "emergency-contraception",
                   ClockName.HEPATITIS_B: "hepatitis-b"}


# The clock a care kind given, or an item kind collected, answers to (the windows of policies.windows).
_CLOCK_OF_FIELD = {f: clock for clock, f in CLINICAL}
CLOCK_FOR_CARE = {care: _CLOCK_OF_FIELD[f] for care, f in CARE_WINDOW.items()}
CLOCK_FOR_ITEM = {kind: _CLOCK_OF_FIELD[f] for kind, f in ITEM_WINDOW.items()}

# Clocks whose state tells medical care (PEP / emergency contraception offered, given or declined).
MEDICAL_CLOCKS = frozenset({ClockName.HIV_PEP, ClockName.EMERGENCY_CONTRACEPTION, ClockName.HEPATITIS_B})
