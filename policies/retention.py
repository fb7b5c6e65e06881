"""How long an evidence item must be kept: the jurisdiction pack's rule, as a pure function (no Session).

The pack says how long an item is kept from its collection: `kit.reported_retention_days` once the case is an
unrestricted (reported) one, `kit.unreported_retention_days` otherwise (restricted, anonymous or undecided: an
unreported kit). A request may keep an item LONGER than the pack requires (preservation extended), never
shorter: files are locked in the object store until the item's retention date, and destruction is refused
before it, so a short date given at collection would let evidence be destroyed early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.cases import Reporting
from core.clock import as_utc
from core.errors import ValidationFailed
from policies.jurisdictions import RulePack


@dataclass(frozen=True)
class RetentionRule:
    """The earliest date an item may be destroyed, and the rule that says so (for people and the ledger)."""

    until: datetime
    rule: str  # e.g. "Michigan (US): unreported kit, 20 years from collection (kit.unreported_retention_days)"


def period_text(days: int) -> str:
    """A retention period as people say it: '20 years', '1 year', '400 days'."""
    if days % 365 == 0:
        years = days // 365
        return f"{years} year{'s' if years != 1 else ''}"
    return f"{days} day{'s' if days != 1 else ''}"


def minimum_retention(pack: RulePack, *, reporting: Reporting | str, kind: str,
                      collected_at: datetime) -> RetentionRule:
    """The pack's minimum retention of an item of `kind` collected at `collected_at` in a case with `reporting`.

    Only an unrestricted case is a reported one; restricted, anonymous and undecided cases keep the
    unreported rule (the survivor may still report, and an unreported kit must wait for that choice).
    """
    reported = str(reporting) == Reporting.UNRESTRICTED.value
    key = "reported_retention_days" if reported else "unreported_retention_days"
    days = getattr(pack.kit, key)
    what = f"{'reported' if reported else 'unreported'} {kind}"
    return RetentionRule(until=as_utc(collected_at) + timedelta(days=days),
                         rule=f"{pack.name}: {what}, {period_text(days)} from collection (kit.{key})")


def effective_retention(required: RetentionRule, requested: datetime | None) -> datetime:
    """The retention date to record: the pack's date, or a requested later one; a shorter request is refused."""
    if requested is None:
        return required.until
    requested = as_utc(requested)
    if requested < required.until:
        raise ValidationFailed(
            f"retention_until {requested.date().isoformat()} is shorter than the jurisdiction requires: keep the "
            f"item at least until {required.until.date().isoformat()} ({required.rule}); a later date may be given "
            "to extend retention, never an earlier one")
    return requested
