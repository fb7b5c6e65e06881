"""How long an evidence item must be kept: the jurisdiction pack's rule, as a pure function (no Session).

From the item's collection:
- a reported (unrestricted) case's item: `kit.reported_retention_days`, or, where the pack gives
  `retention.cap_days`, the federal-style rule of 18 USC 3772 — the offence class's statute of limitations or
  the cap, whichever is shorter (no class given, a class the pack does not list, or a class with no limitation:
  the cap);
- an anonymous report's item: `retention.anonymous_retention_days` where the pack has it (Idaho: 55 years),
  else the unreported period;
- restricted and undecided cases (an unreported kit): `kit.unreported_retention_days` (Scotland: 26 months);
- never shorter than the pack's floor for the item kind (`retention.minimum_days`).
A request may keep an item LONGER (preservation extended), never shorter: files are locked in the object store
until the item's retention date and destruction is refused before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.cases import Reporting
from core.clock import as_utc
from core.errors import ValidationFailed
from policies.jurisdictions import OffenceClass, RulePack


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


def _reported_period(pack: RulePack, kind: str, offence_class: OffenceClass | str | None) -> tuple[int, str]:
    """Days and text of a reported item's period."""
    cap = pack.retention.cap_days
    if cap is None:
        days = pack.kit.reported_retention_days
        assert days is not None  # the pack's validator requires one of the two
        return days, f"reported {kind}, {period_text(days)} from collection (kit.reported_retention_days)"
    limit = pack.retention.offence_classes.get(OffenceClass(offence_class)) if offence_class else None
    if limit is not None and limit < cap:
        return limit, (f"reported {kind}, statute of limitations for {offence_class} ({period_text(limit)}), "
                       f"shorter than {period_text(cap)}, from collection "
                       f"(retention.offence_classes.{offence_class})")
    listed = bool(offence_class) and OffenceClass(offence_class) in pack.retention.offence_classes
    why = ("no offence class given" if not offence_class
           else f"no limitation period listed for {offence_class}" if not listed
           else f"no statute of limitations for {offence_class}" if limit is None
           else f"limitation for {offence_class} not shorter")
    return cap, (f"reported {kind}, statute of limitations or {period_text(cap)}, whichever is shorter: "
                 f"{period_text(cap)} ({why}) from collection (retention.cap_days)")


def minimum_retention(pack: RulePack, *, reporting: Reporting | str, kind: str, collected_at: datetime,
                      offence_class: OffenceClass | str | None = None) -> RetentionRule:
    """The pack's minimum retention of an item of `kind` collected at `collected_at` in a case with `reporting`.

    Only an unrestricted case is a reported one; restricted, anonymous and undecided cases keep the
    unreported rule (the survivor may still report, and an unreported kit must wait for that choice); an
    anonymous one keeps the pack's anonymous period where it has one.
    """
    choice = Reporting(str(reporting))
    if choice is Reporting.UNRESTRICTED:
        days, text = _reported_period(pack, kind, offence_class)
    elif choice is Reporting.ANONYMOUS and pack.retention.anonymous_retention_days is not None:
        days = pack.retention.anonymous_retention_days
        text = f"anonymous {kind}, {period_text(days)} from collection (retention.anonymous_retention_days)"
    else:
        days = pack.kit.unreported_retention_days
        text = f"unreported {kind}, {period_text(days)} from collection (kit.unreported_retention_days)"
    floor = pack.retention.minimum_days.get(kind)  # type: ignore[call-overload]  # ItemKind is a StrEnum
    if floor is not None and floor > days:
        days, text = floor, f"{text}; raised to the {kind} floor of {period_text(floor)} (retention.minimum_days)"
    return RetentionRule(until=as_utc(collected_at) + timedelta(days=days), rule=f"{pack.name}: {text}")


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


def extended_until(current: datetime, *, until: datetime | None, default_days: int | None,
                   now: datetime) -> datetime:
    """The new retention date of an extension of preservation: `until`, or the pack's default extension
    counted from the later of now and the current date; refused (ValidationFailed) when it is not later than the
    current date, or when no date is given and the pack sets no default."""
    current = as_utc(current)
    if until is None:
        if default_days is None:
            raise ValidationFailed("give the date to preserve the item until (--until): this jurisdiction sets no "
                                   "default extension")
        return max(current, as_utc(now)) + timedelta(days=default_days)
    until = as_utc(until)
    if until <= current:
        raise ValidationFailed(
            f"preservation can only be extended: the item is kept until {current.date().isoformat()} already; give "
            f"a later date than that (an extension never shortens retention)")
    return until
