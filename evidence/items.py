"""Evidence items: the physical or digital things collected for a case, and who holds each one right now.

An item's history lives in the ledger and the append-only `custody_event` table (evidence.custody.models); the
`item_custody` row is the single "current state" (custodian, location, status) and is only changed under a
row lock (`lock_item`) with its version bumped, so an item has exactly one custodian at a time.

`photo_consent_withdrawn` marks a photograph whose photography consent was withdrawn (nothing more is stored
or shown, and it never leaves the centre); it is not the case's restricted report (core.cases.Reporting).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ConfigDict, field_validator
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, select
from sqlalchemy import false as sa_false
from sqlmodel import Field, Session, SQLModel

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, require_offset, utcnow
from core.db_types import StrEnumText
from core.errors import NotFound, ValidationFailed
from core.ids import is_reference_code, is_valid_id, new_id
from core.ledger import EventKind
from evidence.custody.models import CustodyEventKind, add_event
from evidence.custody.rules import ItemStatus as ItemStatus  # defined with the custody rules; re-exported
from policies import checkpoint
from policies.handoffs import ConsentScope, Handoff, ItemKind
from policies.jurisdictions import OffenceClass, get_pack
from policies.retention import RetentionRule, effective_retention, minimum_retention, period_text
from policies.windows import ITEM_WINDOW, check_window, clean_justification

COLLECTION_LOCATION = "examination-room"


# ItemKind (what was collected) is a closed set shared with policies: defined in policies.handoffs.


# Which consent checkpoint guards collecting each kind (kits, documents, files: the exam consent covers them).
COLLECTION_HANDOFF: dict[ItemKind, Handoff] = {
    ItemKind.SWAB: Handoff.COLLECT_SWABS,
    ItemKind.CLOTHING: Handoff.COLLECT_CLOTHING,
    ItemKind.TOXICOLOGY_BLOOD: Handoff.COLLECT_TOXICOLOGY,
    ItemKind.TOXICOLOGY_URINE: Handoff.COLLECT_TOXICOLOGY,
    ItemKind.PHOTOGRAPH: Handoff.PHOTO_TAKE,
}


# RELEASABLE_KINDS (kinds handed to law enforcement as items) is defined once, in policies.handoffs.


class EvidenceItemBase(SQLModel):
    """Fields a caller gives when recording a collected item."""

    kind: ItemKind = Field(sa_type=StrEnumText(ItemKind, 24))  # rows load the member, not a str
    description: str = Field(max_length=500)  # what it is ("left sleeve swab"), never who it came from
    quantity: int = Field(default=1, ge=1)
    toxicology: bool = False
    # the offence class the pack's statute of limitations is read for (policies.retention); None: not classified
    offence_class: OffenceClass | None = Field(default=None, sa_type=StrEnumText(OffenceClass, 32))


class EvidenceItemCreate(EvidenceItemBase):
    """Request body for recording a collected item."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    @field_validator("collected_at", "retention_until")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    collected_at: datetime | None = None  # defaults to now; may be earlier (recorded after the exam)
    location: str | None = Field(default=None, max_length=64)
    # None: the jurisdiction pack's date (policies.retention); a later date extends it, an earlier one is refused
    retention_until: datetime | None = None
    # staff's clinical reason for collecting past the pack's window (required then; policies.windows)
    late_justification: str | None = Field(default=None, max_length=500)

    @field_validator("late_justification")
    @classmethod
    def _justification(cls, v: str | None) -> str | None:
        return clean_justification(v)

    @field_validator("description")
    @classmethod
    def _description(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("describe the item (what it is, not whose it is)")
        return v.strip()

    @field_validator("location")
    @classmethod
    def _location(cls, v: str | None) -> str | None:
        return check_location(v) if v is not None else v


class EvidenceItem(EvidenceItemBase, table=True):
    """One collected item; its id is printed on the label."""

    __tablename__ = "evidence_item"

    id: str = Field(primary_key=True, max_length=32)
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("case_record.id"), index=True, nullable=False))
    collected_at: datetime = Field(sa_type=DateTime(timezone=True))
    collected_by: str = Field(max_length=64)
    retention_until: datetime = Field(sa_type=DateTime(timezone=True))
    # photography consent withdrawn (photographs only): nothing more is stored, shown or handed over
    photo_consent_withdrawn: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    late_justification: str | None = Field(default=None, max_length=500)  # collected past its window: why


class ItemCustody(SQLModel, table=True):
    """Current state of one item: exactly one custodian (a staff id) and where the item is."""

    __tablename__ = "item_custody"

    item_id: str = Field(sa_column=Column(String(32), ForeignKey("evidence_item.id"), primary_key=True))
    custodian: str = Field(max_length=64)  # staff id of whoever answers for the item now
    location: str | None = Field(default=None, max_length=64)
    status: ItemStatus = Field(sa_type=String(16))
    seal_number: str | None = Field(default=None, max_length=64)
    pending_transfer_id: str | None = Field(default=None, max_length=32)
    lab_submitted: bool = False
    analysed: bool = False
    # released to law enforcement with consent, not returned since (server default as migration 0003)
    released: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    version: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class EvidenceItemPublic(EvidenceItemBase):
    """An item as shown through the API, with its current custody state."""

    id: str
    case_id: str
    collected_at: datetime
    collected_by: str
    retention_until: datetime
    photo_consent_withdrawn: bool
    late_justification: str | None = None
    custodian: str | None = None
    location: str | None = None
    status: ItemStatus | None = None
    seal_number: str | None = None
    pending_transfer_id: str | None = None
    version: int | None = None
    # open integrity incidents (evidence.incidents): while any is open the item is quarantined
    quarantined: bool = False
    quarantined_by: list[int] = []


def check_location(value: str) -> str:
    """A location is a short code ('evidence-store-2', 'lab-A'), not free text that could carry identity."""
    if not is_reference_code(value):
        raise ValidationFailed("location must be a short code (letters, digits, . _ : / -), e.g. 'evidence-store-1'")
    return value


def get_item(session: Session, item_id: str) -> EvidenceItem:
    """Return the item or raise NotFound (junk ids are refused the same way)."""
    item = session.get(EvidenceItem, item_id) if is_valid_id(item_id, "item") else None
    if item is None:
        raise NotFound(f"no evidence item {item_id!r}: check the id on the label")
    return item


def lock_item(session: Session, item_id: str) -> tuple[EvidenceItem, ItemCustody]:
    """Load the item and its current-state row, locking the row for the rest of the transaction.

    One statement: the item joined to its custody row (`FOR UPDATE OF item_custody` on PostgreSQL, so only
    the current-state row is locked; on SQLite every writing transaction already began with BEGIN IMMEDIATE).
    """
    if not is_valid_id(item_id, "item"):
        get_item(session, item_id)  # raises NotFound without a query
    stmt = (select(EvidenceItem, ItemCustody).join(ItemCustody, ItemCustody.item_id == EvidenceItem.id)
            .where(EvidenceItem.id == item_id).execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=ItemCustody)
    row = session.execute(stmt).first()
    if row is None:
        item = get_item(session, item_id)  # NotFound for an unknown item
        raise NotFound(f"no custody record for item {item.id!r}")
    return row[0], row[1]


def get_custody(session: Session, item_id: str) -> ItemCustody:
    """The current custody row of an item (no lock; for display)."""
    row = session.get(ItemCustody, item_id)
    if row is None:
        raise NotFound(f"no evidence item {item_id!r}: check the id on the label")
    return row


def to_public(item: EvidenceItem, custody: ItemCustody | None,
              quarantined_by: list[int] | None = None) -> EvidenceItemPublic:
    """Merge an item and its custody row (and its open integrity incidents) for the API."""
    extra: dict = {"quarantined": bool(quarantined_by), "quarantined_by": list(quarantined_by or [])}
    if custody is not None:
        extra |= {"custodian": custody.custodian, "location": custody.location, "status": custody.status,
                 "seal_number": custody.seal_number, "pending_transfer_id": custody.pending_transfer_id,
                 "version": custody.version}
    return EvidenceItemPublic(**item.model_dump(), **extra)


def collect_item(
    session: Session,
    *,
    actor: Actor,
    case_id: str,
    data: EvidenceItemCreate,
    now: datetime | None = None,
    retention_days: int | None = None,
) -> EvidenceItem:
    """Record a collected item, held by the collecting actor; consent-guarded kinds pass the checkpoint first.

    Retention is the jurisdiction pack's (policies.retention); `retention_days` (the centre's setting) and the
    request's `retention_until` may only extend it. A sample collected past its clinical window
    (policies.windows) needs `late_justification`.
    """
    now = now or utcnow()
    data = EvidenceItemCreate.model_validate(data.model_dump())
    case = get_case(session, case_id)
    handoff = COLLECTION_HANDOFF.get(ItemKind(data.kind))
    if handoff is not None:
        checkpoint.enforce(session, case_id=case.id, handoff=handoff, actor=actor, now=now,
                           subject={"item_kind": str(data.kind)})
    collected_at = as_utc(data.collected_at) if data.collected_at else now
    if collected_at > now:
        raise ValidationFailed("collected_at is in the future: give the time the item was collected")
    pack = get_pack(case.jurisdiction)
    required = minimum_retention(pack, reporting=case.reporting, kind=str(data.kind), collected_at=collected_at,
                                 offence_class=data.offence_class)
    if retention_days is not None and collected_at + timedelta(days=retention_days) > required.until:
        required = RetentionRule(collected_at + timedelta(days=retention_days),  # the centre keeps items longer
                                 f"{required.rule}, extended to {period_text(retention_days)} by the centre")
    retention_until = effective_retention(required, data.retention_until)
    late = check_window(pack, ITEM_WINDOW.get(str(data.kind)), assault_at=case.assault_at, at=collected_at,
                        what=f"{data.kind} evidence", verb="collected", justification=data.late_justification)
    toxicology = data.toxicology or data.kind in (ItemKind.TOXICOLOGY_BLOOD, ItemKind.TOXICOLOGY_URINE)
    description = crypto.keep_text(session, case_id=case.id, purpose=crypto.TextPurpose.DESCRIPTION,
                                   text=data.description, now=now)  # sealed; the row holds its commitment
    justification = crypto.keep_text(session, case_id=case.id, purpose=crypto.TextPurpose.JUSTIFICATION,
                                     text=data.late_justification, now=now)  # likewise
    item = EvidenceItem(id=new_id("item"), case_id=case.id, kind=data.kind, description=description,
                        quantity=data.quantity, toxicology=toxicology, collected_at=collected_at,
                        collected_by=actor.id, retention_until=retention_until,
                        late_justification=justification, offence_class=data.offence_class)
    location = data.location or COLLECTION_LOCATION
    session.add(item)
    session.flush()
    session.add(ItemCustody(item_id=item.id, custodian=actor.id, location=location, status=ItemStatus.HELD,
                            version=1, updated_at=now))
    session.flush()
    entry = ledger.append(
        session, kind=EventKind.ITEM_COLLECTED, actor=actor, case_id=case.id, item_id=item.id, at=now,
        data={"item_kind": str(item.kind), "quantity": item.quantity, "toxicology": item.toxicology,
              "custodian": actor.id, "location": location, "collected_at": collected_at,
              "retention_until": retention_until, "retention_rule": required.rule,
              **({"offence_class": str(data.offence_class)} if data.offence_class else {}),
              **_late_data(late, justification)},
    )
    add_event(session, item_id=item.id, kind=CustodyEventKind.COLLECTED, actor=actor, at=now, entry=entry,
              to_user=actor.id, location=location)
    return item


def keep_until(session: Session, item: EvidenceItem) -> tuple[datetime, str | None]:
    """The earliest instant `item` may be destroyed: its recorded retention date, or the pack's date for the case
    as it is now (from its collection) if later — so an item recorded with a short date before the pack rule
    was enforced at collection is still kept. Returns (date, the pack's rule when that is what holds it)."""
    case = get_case(session, item.case_id)
    required = minimum_retention(get_pack(case.jurisdiction), reporting=case.reporting, kind=str(item.kind),
                                 collected_at=as_utc(item.collected_at), offence_class=item.offence_class)
    recorded = as_utc(item.retention_until)
    return (recorded, None) if recorded >= required.until else (required.until, required.rule)


def _late_data(late, justification: str | None) -> dict:
    """Ledger data of a record past its window: how late (whole seconds) and the staff's justification."""
    out: dict = {}
    if late is not None and late.late is not None:
        out["late_by_seconds"] = int(late.late.total_seconds())
        out["window_hours"] = late.hours
    if justification:
        out["late_justification"] = justification  # the commitment of the staff's text (core.crypto.texts)
    return out


def list_items(session: Session, case_id: str) -> list[EvidenceItem]:
    """Items of a case, oldest first."""
    get_case(session, case_id)
    return list(session.execute(
        select(EvidenceItem).where(EvidenceItem.case_id == case_id).order_by(EvidenceItem.collected_at,
                                                                                EvidenceItem.id)
    ).scalars())


def restrict_photographs(session: Session, case_id: str, scope: ConsentScope, actor: Actor, now: datetime) -> None:
    """Withdrawal hook: when photography consent is withdrawn, flag the case's photographs
    (`photo_consent_withdrawn`; the ledger entry keeps its name, item:restricted)."""
    if ConsentScope(scope) is not ConsentScope.PHOTO_RECORD:
        return
    photos = session.execute(
        select(EvidenceItem).where(EvidenceItem.case_id == case_id, EvidenceItem.kind == str(ItemKind.PHOTOGRAPH),
                                   EvidenceItem.photo_consent_withdrawn.is_(False))  # type: ignore[union-attr]
    ).scalars().all()
    for item in photos:
        # A flag on the item, not history: the withdrawal itself is in the ledger; this records its effect.
        item.photo_consent_withdrawn = True
        session.add(item)
        ledger.append(session, kind=EventKind.ITEM_RESTRICTED, actor=actor, case_id=case_id, item_id=item.id,
                      at=now, data={"reason": "photography-consent-withdrawn"})
    session.flush()

