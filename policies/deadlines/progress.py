"""A case's progress, read from its ledger entries up to an instant (policies may not import evidence).

What counts as what (the entries evidence and the clinical services write) is described in
policies.deadlines; `read_progress` turns the entries into care/exam/toxicology times, each item's custody
progress, and the case's release-consent and mandatory-report progress, for policies.deadlines.clocks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core.cases import Reporting
from core.clock import as_utc
from core.ledger import EventKind, LedgerEntry
from policies.deadlines.names import CLOCK_FOR_CARE, CLOCK_FOR_ITEM, ClockName
from policies.jurisdictions import RulePack


def _data_time(data: dict, key: str, default: datetime) -> datetime:
    """A time in ledger data (ISO text), or `default` when absent or unreadable."""
    value = data.get(key)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00"))) if value else default
    except ValueError:
        return default


def _role(data: dict) -> str | None:
    return data.get("to_role") or data.get("custodian_role")


_RELEASE_SCOPE = "release-to-law-enforcement"
_REPORT_SCOPE = "report-to-police"
_MANDATORY_BASIS = "mandatory-report-minor"

# A position in the ledger: (recorded_at, seq). Orders entries made at the same instant by their sequence.
Pos = tuple[datetime, int]

_TOX_SAMPLES = ("toxicology-blood", "toxicology-urine")


@dataclass
class ItemProgress:
    retention_until: datetime | None = None  # the item's own retention date, as recorded at collection
    collected_at: datetime | None = None
    notified_at: datetime | None = None
    le_at: datetime | None = None
    lab_at: datetime | None = None
    analysed_at: datetime | None = None
    destroyed_at: datetime | None = None
    first_at: datetime | None = None  # the item's first ledger entry (it exists from then on)
    kind: str | None = None  # item kind as recorded at collection
    release_checks: list[Pos] = field(default_factory=list)  # checkpoints allowing its release (notices)
    release_offers: list[Pos] = field(default_factory=list)  # release offers to law enforcement, releases


@dataclass
class CaseProgress:
    reported_at: datetime | None = None  # since when the report is unrestricted (a release is possible)
    release_grant: Pos | None = None  # start of the release grant in force (written, where the pack says)
    release_expires: datetime | None = None  # the expiry of the latest release grant
    release_stop: Pos | None = None  # the latest withdrawal/refusal (or expiry) of the release consent
    mandatory_report_at: datetime | None = None  # mandatory-report override or report-to-police grant


def _first(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at < current else current


def _release_decision(cp: CaseProgress, data: dict, pos: Pos, written_required: bool) -> None:
    """Replay one release-to-law-enforcement decision: the latest decision is the one in force."""
    written = bool(data.get("form_ref")) and data.get("method") in ("written", "guardian")
    if data.get("decision") == "granted" and (written or not written_required):
        if cp.release_grant is None:  # a repeated grant keeps the run's start
            cp.release_grant = pos
        expires = data.get("expires_at")
        cp.release_expires = as_utc(datetime.fromisoformat(str(expires).replace("Z", "+00:00"))) if expires else None
    else:  # withdrawn, declined, or a grant that cannot support a release (not written where required)
        cp.release_grant, cp.release_expires, cp.release_stop = None, None, pos


def read_progress(session: Session, case_id: str, now: datetime, pack: RulePack | None = None):
    """Scan the case's ledger entries up to `now` into care/exam/tox times, per-item custody progress and the
    case's release-consent and mandatory-report progress."""
    entries = session.execute(
        select(LedgerEntry.seq, LedgerEntry.kind, LedgerEntry.item_id, LedgerEntry.recorded_at, LedgerEntry.body)
        .where(LedgerEntry.case_id == case_id).order_by(LedgerEntry.seq)
    ).all()
    written_required = pack.consent.release_requires_written if pack is not None else True
    care: dict[str, datetime] = {}
    # first delivery per clinical clock, at the time it happened (data's occurred_at / collected_at /
    # started_at): care given, sample collected, exam or evidence collected — judged against the window
    delivered: dict[ClockName, datetime] = {}
    exam_at: datetime | None = None
    tox_at: dict[str, datetime] = {}  # "toxicology-blood" / "toxicology-urine" → first collected (or declined)
    items: dict[str, ItemProgress] = {}
    cp = CaseProgress()
    for seq, kind, item_id, recorded_at, body in entries:
        at = as_utc(recorded_at)
        if at > now:
            continue
        pos = (at, seq)
        data = json.loads(bytes(body)).get("data") or {}
        reported = ((kind == EventKind.CASE_OPENED and data.get("reporting") == Reporting.UNRESTRICTED.value)
                    or (kind == EventKind.CASE_UPDATED and data.get("field") == "reporting"
                        and data.get("to") == Reporting.UNRESTRICTED.value))
        if reported:
            cp.reported_at = _first(cp.reported_at, at)
        elif kind == EventKind.CONSENT_RECORDED and data.get("scope") == _RELEASE_SCOPE:
            _release_decision(cp, data, pos, written_required)
        elif kind == EventKind.CONSENT_RECORDED and data.get("scope") == _REPORT_SCOPE:
            if data.get("decision") == "granted":
                cp.mandatory_report_at = _first(cp.mandatory_report_at, at)
        elif kind == EventKind.CONSENT_OVERRIDE and data.get("basis") == _MANDATORY_BASIS:
            cp.mandatory_report_at = _first(cp.mandatory_report_at, at)
        # A clinical clock stops when the survivor decided either way (given or declined, consent declined);
        # an offer still being considered keeps its alarm running.
        if kind == EventKind.CARE_RECORDED and data.get("care") and data.get("status") in ("given", "declined"):
            care[data["care"]] = _first(care.get(data["care"]), at)
            clock = CLOCK_FOR_CARE.get(data["care"])
            if data.get("status") == "given" and clock is not None:
                delivered[clock] = _first(delivered.get(clock), _data_time(data, "occurred_at", at))
        elif kind == EventKind.EXAM_RECORDED:
            exam_at = _first(exam_at, at)
            delivered[ClockName.EVIDENCE_COLLECTION] = _first(delivered.get(ClockName.EVIDENCE_COLLECTION),
                                                              _data_time(data, "started_at", at))
        elif kind == EventKind.CONSENT_RECORDED and data.get("decision") == "declined":
            if data.get("scope") == "forensic-exam":
                exam_at = _first(exam_at, at)
                for sample in _TOX_SAMPLES:  # no exam: no samples either
                    tox_at[sample] = _first(tox_at.get(sample), at)
            elif data.get("scope") == "evidence-toxicology":
                for sample in _TOX_SAMPLES:
                    tox_at[sample] = _first(tox_at.get(sample), at)
        if item_id is None:
            continue
        p = items.setdefault(item_id, ItemProgress())
        p.first_at = _first(p.first_at, at)
        if kind == EventKind.ITEM_COLLECTED:
            p.collected_at = _first(p.collected_at, at)
            p.kind = data.get("item_kind")
            if data.get("item_kind") in _TOX_SAMPLES:  # each sample meets its own window
                tox_at[data["item_kind"]] = _first(tox_at.get(data["item_kind"]), at)
            clock = CLOCK_FOR_ITEM.get(data.get("item_kind"))
            if clock is not None:
                delivered[clock] = _first(delivered.get(clock), _data_time(data, "collected_at", at))
            if data.get("retention_until"):
                p.retention_until = as_utc(datetime.fromisoformat(str(data["retention_until"]).replace("Z", "+00:00")))
        elif kind == EventKind.PRESERVATION_EXTENDED and data.get("retention_until"):  # evidence.preservation
            p.retention_until = as_utc(datetime.fromisoformat(str(data["retention_until"]).replace("Z", "+00:00")))
        elif kind == EventKind.CHECKPOINT_ALLOWED and data.get("handoff") == _RELEASE_SCOPE:
            p.notified_at = _first(p.notified_at, at)
            p.release_checks.append(pos)
        if not kind.startswith("custody:"):
            continue
        if kind == EventKind.RELEASED or (kind == EventKind.TRANSFER_OFFERED and data.get("purpose") == "release"):
            p.release_offers.append(pos)
        # evidence.custody records an accepted transfer with data["purpose"] ("release" / "lab")
        accepted = kind in (EventKind.TRANSFER_ACCEPTED, EventKind.RELEASED)
        purpose = data.get("purpose") if accepted else None
        if kind == EventKind.RELEASED or _role(data) == "law_enforcement" or purpose == "release":
            p.le_at = _first(p.le_at, at)
        if (_role(data) == "lab" or data.get("lab_submission") is True or kind.endswith("lab-submitted")
                or purpose == "lab"):
            p.lab_at = _first(p.lab_at, at)
        if kind == EventKind.ANALYSED:
            p.analysed_at = _first(p.analysed_at, at)
        if kind == EventKind.DESTROYED:
            p.destroyed_at = _first(p.destroyed_at, at)
    if cp.release_grant is not None and cp.release_expires is not None and cp.release_expires <= now:
        # An expired release consent no longer allows the release: as if withdrawn when it expired (a
        # checkpoint at that very instant already saw it expired, hence seq -1).
        cp.release_grant, cp.release_stop = None, max(cp.release_stop or (cp.release_expires, -1),
                                                      (cp.release_expires, -1))
    return care, exam_at, tox_at, items, cp, delivered
