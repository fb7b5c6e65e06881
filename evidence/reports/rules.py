"""The funder report's PURE rules: federal fiscal years, the period, and the aggregation of plain facts into
suppressed tables (no Session, no SQLAlchemy; the facts come from evidence.reports.queries).

Nothing here outputs a case: facts carry an opaque case key only so a case is counted once where it must be,
and every table holds counts by jurisdiction, age band, month or service type.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.clock import as_utc
from core.errors import ValidationFailed
from evidence.reports.suppression import SuppressedTable, suppress

FIRST_FISCAL_YEAR = 2000
MAX_PERIOD = timedelta(days=366)

KIT_RELEASED = "released"
KIT_AT_LAB = "submitted-to-lab"
KIT_ANALYSED = "analysed"


def fiscal_year_bounds(fy: int) -> tuple[datetime, datetime]:
    """Federal fiscal year `fy`: 1 October of fy - 1 (inclusive) to 1 October of fy (exclusive), UTC."""
    return datetime(fy - 1, 10, 1, tzinfo=UTC), datetime(fy, 10, 1, tzinfo=UTC)


def fiscal_year_of(when: datetime) -> int:
    """The federal fiscal year a moment falls in (October onwards belongs to the next calendar year's)."""
    when = as_utc(when)
    return when.year + 1 if when.month >= 10 else when.year


@dataclass(frozen=True)
class Period:
    """The report's period [start, end) inside one federal fiscal year; `end` is at most `now`."""

    fiscal_year: int
    start: datetime
    end: datetime
    in_progress: bool


def report_period(*, fy: int | None, start: datetime | None, end: datetime | None, now: datetime) -> Period:
    """Check and settle the period: a fiscal year, or a from/to range inside one fiscal year (422 otherwise)."""
    now = as_utc(now)
    current = fiscal_year_of(now)
    if fy is not None:
        if not FIRST_FISCAL_YEAR <= fy <= current:
            raise ValidationFailed(f"fiscal year {fy} is not reportable: give a federal fiscal year from "
                                   f"{FIRST_FISCAL_YEAR} to {current} (FY {current} runs "
                                   f"{fiscal_year_bounds(current)[0]:%Y-%m-%d} to "
                                   f"{fiscal_year_bounds(current)[1] - timedelta(days=1):%Y-%m-%d})")
        fy_start, fy_end = fiscal_year_bounds(fy)
        start = max(as_utc(start), fy_start) if start else fy_start
        end = min(as_utc(end), fy_end) if end else fy_end
    elif start is None:
        raise ValidationFailed("give a fiscal year (fy=2026) or a range (from, and optionally to)")
    else:
        start = as_utc(start)
        end = as_utc(end) if end else min(fiscal_year_bounds(fiscal_year_of(start))[1], now)
    if start >= now:
        raise ValidationFailed(f"the period starts in the future ({start:%Y-%m-%d %H:%M} UTC): nothing to report")
    if end <= start:
        raise ValidationFailed(f"the period is empty: 'to' ({end:%Y-%m-%d %H:%M} UTC) must be after 'from' "
                               f"({start:%Y-%m-%d %H:%M} UTC), inside the fiscal year asked for")
    fy_start, fy_end = fiscal_year_bounds(fiscal_year_of(start))
    if end > fy_end or end - start > MAX_PERIOD:
        raise ValidationFailed(f"a range lies inside one federal fiscal year (1 October - 30 September): "
                               f"{start:%Y-%m-%d} to {end:%Y-%m-%d} crosses {fy_end:%Y-%m-%d}; ask for each year")
    return Period(fiscal_year=fiscal_year_of(start), start=start, end=min(end, now), in_progress=end > now)


def months_of(start: datetime, end: datetime) -> list[str]:
    """The calendar months ("2025-10") that [start, end) touches, in order."""
    out, y, m = [], start.year, start.month
    while datetime(y, m, 1, tzinfo=UTC) < end:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# -- plain facts (from evidence.reports.queries) ---------------------------------------------------------------
@dataclass(frozen=True)
class CaseFact:
    """A case opened in the period: its survivor is a new survivor of the fiscal year."""

    case_key: str
    jurisdiction: str
    age_band: str
    opened_at: datetime


@dataclass(frozen=True)
class ServiceFact:
    """An advocacy service accepted or completed."""

    case_key: str
    jurisdiction: str
    service: str
    at: datetime


@dataclass(frozen=True)
class ExamFact:
    """A forensic examination started."""

    jurisdiction: str
    age_band: str
    at: datetime


@dataclass(frozen=True)
class KitEvent:
    """A kit's custody event of interest (released, received by a lab, analysed)."""

    item_key: str
    jurisdiction: str
    age_band: str
    kind: str
    at: datetime
    collected_at: datetime


@dataclass(frozen=True)
class Facts:
    """Everything the report counts, as plain values."""

    cases: Sequence[CaseFact] = ()
    services: Sequence[ServiceFact] = ()
    exams: Sequence[ExamFact] = ()
    kit_events: Sequence[KitEvent] = ()


@dataclass(frozen=True)
class Section:
    """One table of the report with its title and what it counts."""

    id: str
    title: str
    rows_label: str
    cols_label: str
    counts: str
    table: SuppressedTable


@dataclass(frozen=True)
class Turnaround:
    """Median days from exam (kit collection) to the lab's receipt, per jurisdiction and overall."""

    rows: tuple[str, ...]
    table: SuppressedTable  # kits received by a lab per jurisdiction: suppressed like any count
    medians: tuple[float | None, ...]  # hidden when fewer than the threshold kits
    overall_median: float | None
    hidden_medians: int


@dataclass(frozen=True)
class FunderReport:
    """The whole report: period, sections, turnaround, why cells were hidden, and notes."""

    period: Period
    jurisdiction: str | None
    threshold: int
    generated_at: datetime
    sections: tuple[Section, ...]
    turnaround: Turnaround
    notes: tuple[str, ...] = field(default=())

    @property
    def hidden(self) -> int:
        """Entries hidden over every table, for either reason (what the report publishes: never split by reason,
        which would let an attacker pin small counts)."""
        return self.hidden_small + self.hidden_complementary

    @property
    def hidden_small(self) -> int:
        """Entries hidden because they were small, over every table (turnaround counts included)."""
        return sum(s.table.hidden_small for s in self.sections) + self.turnaround.table.hidden_small

    @property
    def hidden_complementary(self) -> int:
        """Entries hidden so that small ones cannot be worked out from totals."""
        return sum(s.table.hidden_complementary for s in self.sections) + self.turnaround.table.hidden_complementary


def _in(at: datetime, period: Period) -> bool:
    return period.start <= at.astimezone(UTC) < period.end


def _matrix(rows: Sequence[str], cols: Sequence[str], pairs: Iterable[tuple[str, str]]) -> list[list[int]]:
    ri, ci = {r: i for i, r in enumerate(rows)}, {c: j for j, c in enumerate(cols)}
    body = [[0] * len(cols) for _ in rows]
    for r, c in pairs:
        body[ri[r]][ci[c]] += 1
    return body


def median_days(spans: Sequence[timedelta], threshold: int) -> float | None:
    """The median in days (one decimal) of `spans`, or None (hidden) over fewer than `threshold` of them."""
    if len(spans) < threshold or not spans:
        return None
    return round(statistics.median(s.total_seconds() / 86400 for s in spans), 1)


def first_kit_events(events: Iterable[KitEvent], kind: str) -> dict[str, KitEvent]:
    """Per kit, its earliest event of `kind` (a kit sent back to the lab counts from its first receipt)."""
    first: dict[str, KitEvent] = {}
    for e in sorted((e for e in events if e.kind == kind), key=lambda e: e.at):
        first.setdefault(e.item_key, e)
    return first


def build_report(facts: Facts, *, period: Period, jurisdictions: Sequence[str], age_bands: Sequence[str],
                 services: Sequence[str], threshold: int, jurisdiction: str | None,
                 generated_at: datetime) -> FunderReport:
    """Aggregate the facts of the period into suppressed tables (see the module docstring)."""
    rows = [jurisdiction] if jurisdiction else list(jurisdictions)
    keep = set(rows)
    new = [c for c in facts.cases if _in(c.opened_at, period) and c.jurisdiction in keep]
    survivors = suppress(rows, age_bands, _matrix(rows, age_bands, ((c.jurisdiction, c.age_band) for c in new)),
                         threshold)
    months = months_of(period.start, period.end)
    provided = {(s.case_key, s.service, f"{s.at.astimezone(UTC):%Y-%m}") for s in facts.services
                if _in(s.at, period) and s.service in services and s.jurisdiction in keep}
    services_t = suppress(months, services, _matrix(months, services, ((m, sv) for _, sv, m in provided)),
                          threshold)
    exams = [e for e in facts.exams if _in(e.at, period) and e.jurisdiction in keep]
    exams_t = suppress(rows, age_bands, _matrix(rows, age_bands, ((e.jurisdiction, e.age_band) for e in exams)),
                       threshold)
    kit_events = [e for e in facts.kit_events if e.jurisdiction in keep]

    def distinct_in(kind: str) -> list[KitEvent]:
        seen: dict[str, KitEvent] = {}
        for e in kit_events:
            if e.kind == kind and _in(e.at, period):
                seen.setdefault(e.item_key, e)
        return list(seen.values())

    released = suppress(rows, age_bands, _matrix(rows, age_bands, ((e.jurisdiction, e.age_band)
                                                                   for e in distinct_in(KIT_RELEASED))), threshold)
    tested = suppress(rows, age_bands, _matrix(rows, age_bands, ((e.jurisdiction, e.age_band)
                                                                 for e in distinct_in(KIT_ANALYSED))), threshold)
    at_lab = [e for e in first_kit_events(kit_events, KIT_AT_LAB).values() if _in(e.at, period)]
    lab_counts = suppress(rows, ["kits"], [[sum(e.jurisdiction == r for e in at_lab)] for r in rows], threshold)
    medians = tuple(median_days([e.at - e.collected_at for e in at_lab if e.jurisdiction == r], threshold)
                    for r in rows)
    overall = median_days([e.at - e.collected_at for e in at_lab], threshold)
    turnaround = Turnaround(rows=tuple(rows), table=lab_counts, medians=medians, overall_median=overall,
                            hidden_medians=sum(m is None for m in (*medians, overall)))
    sections = (
        Section("new-survivors", "New survivors", "jurisdiction", "age band",
                "survivors of cases opened in the period (one per case)", survivors),
        Section("services", "Advocacy services provided", "month", "service",
                "services accepted or completed, once per case, service and month", services_t),
        Section("exams", "Forensic examinations", "jurisdiction", "age band", "examinations started", exams_t),
        Section("kits-released", "Kits released to law enforcement", "jurisdiction", "age band",
                "kits whose release to law enforcement was accepted in the period", released),
        Section("kits-tested", "Kits tested", "jurisdiction", "age band", "kits analysed by a lab in the period",
                tested),
    )
    return FunderReport(period=period, jurisdiction=jurisdiction, threshold=threshold, generated_at=generated_at,
                        sections=sections, turnaround=turnaround,
                        notes=_notes(period, threshold, sections, turnaround))


def _notes(period: Period, threshold: int, sections: Sequence[Section], turn: Turnaround) -> tuple[str, ...]:
    tables = [s.table for s in sections] + [turn.table]
    small = sum(t.hidden_small for t in tables)
    comp = sum(t.hidden_complementary for t in tables)
    nonzero = sum(v is None or v > 0 for t in tables
                  for v in (*(x for r in t.cells for x in r), *t.row_totals, *t.col_totals, t.total))
    notes = [
        f"Suppression: counts from 1 to {threshold - 1} are hidden, with complementary suppression (more entries "
        f"hidden so that no hidden count can be worked out from the row and column totals): {small + comp} "
        f"entries in all (how many of them are small is not told: that too would let some be worked out). A "
        f"median over fewer than {threshold} kits is hidden ({turn.hidden_medians}). Zero is shown.",
        "A survivor is counted once per federal fiscal year as the survivor of a case opened in it. The records "
        "cannot tell whether two cases belong to the same person, so a survivor with several cases is counted "
        "once per case.",
        "Services are advocacy services accepted or completed, counted once per case, service type and month. "
        "Kits are items of kind 'kit'; released = accepted by law enforcement; tested = analysed by a lab; days "
        "to lab run from the kit's collection at the exam to its first receipt by a lab (custody events).",
        "Times are UTC. Reports for different periods or jurisdictions are suppressed independently: do not "
        "publish overlapping reports side by side.",
    ]
    if nonzero and 2 * (small + comp) > nonzero:
        notes.insert(0, f"Too little data in this period for most cells: {small + comp} of {nonzero} non-zero "
                        f"entries are hidden (fewer than {threshold} in a cell points toward a person).")
    if not nonzero:
        notes.insert(0, "No activity recorded in this period: every count is zero.")
    if period.in_progress:
        notes.append(f"The fiscal year is in progress: counted up to {period.end:%Y-%m-%d %H:%M} UTC.")
    return tuple(notes)
