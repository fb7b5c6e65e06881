"""Clinical windows: is a sample or a treatment late, by how much, and may it be recorded? Pure rules, no Session.

Each window runs from the assault for the number of hours the jurisdiction pack gives. A sample collected or
a treatment given past its window is still recorded (care comes first), but as LATE, and only with a clinical
justification written by the staff member: protocols ask for the reason on record.

Which window each record answers to (the same mapping the deadline clocks use):
  * evidence items: toxicology-blood → clinical.toxicology_blood_hours, toxicology-urine →
    clinical.toxicology_urine_hours, kit / swab / clothing → clinical.evidence_collection_hours; other kinds
    (photographs, documents, files) have no window;
  * care given: hiv-pep → clinical.hiv_pep_hours, emergency-contraception → clinical.emergency_contraception_hours,
    hepatitis-b → clinical.hepatitis_b_hours (sti-prophylaxis has none). Offers and declines are never late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.clock import as_utc
from core.errors import ValidationFailed
from policies.jurisdictions import RulePack

MAX_JUSTIFICATION = 500

ITEM_WINDOW = {
    "toxicology-blood": "toxicology_blood_hours",
    "toxicology-urine": "toxicology_urine_hours",
    "kit": "evidence_collection_hours",
    "swab": "evidence_collection_hours",
    "clothing": "evidence_collection_hours",
}
CARE_WINDOW = {
    "hiv-pep": "hiv_pep_hours",
    "emergency-contraception": "emergency_contraception_hours",
    "hepatitis-b": "hepatitis_b_hours",
}


def duration_text(delta: timedelta) -> str:
    """A duration as staff read it: '1 d 18 h', '16 h', '2 h 5 min', '40 min' (two largest units, rounded down)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "min")) if n]
    return " ".join(parts[:2]) or "0 min"


@dataclass(frozen=True)
class Lateness:
    """How a record stands against its window: `late` is None inside it."""

    hours: int  # the window, from the pack
    deadline: datetime
    late: timedelta | None

    def text(self, verb: str) -> str | None:
        """'collected 16 h after its 24 h window', or None when in time."""
        if self.late is None:
            return None
        return f"{verb} {duration_text(self.late)} after its {self.hours} h window"


def lateness(pack: RulePack, field: str, *, assault_at: datetime, at: datetime) -> Lateness:
    """How late `at` is against the pack window `field` (hours from the assault); exactly at the deadline is in time."""
    hours = getattr(pack.clinical, field)
    deadline = as_utc(assault_at) + timedelta(hours=hours)
    over = as_utc(at) - deadline
    return Lateness(hours, deadline, over if over > timedelta(0) else None)


def clean_justification(value: str | None) -> str | None:
    """Validator for `late_justification`: trimmed, not blank, at most 500 characters."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("late_justification must not be blank: write the clinical reason, or leave it out")
    if len(value) > MAX_JUSTIFICATION:
        raise ValueError(f"late_justification is limited to {MAX_JUSTIFICATION} characters")
    return value


def check_window(pack: RulePack, field: str | None, *, assault_at: datetime | None, at: datetime, what: str,
                 verb: str, justification: str | None) -> Lateness | None:
    """The lateness of a record (None: no window applies); past the window without a justification → 422.

    `what` names the record ("toxicology-blood sample", "hiv-pep"), `verb` what happened ("collected", "given").
    """
    if field is None or assault_at is None:
        return None
    result = lateness(pack, field, assault_at=assault_at, at=at)
    if result.late is not None and not justification:
        raise ValidationFailed(
            f"{what} {result.text(verb)} (counted from the assault): record the clinical justification in "
            "late_justification to record it past the window")
    return result
