"""Two-person destruction: one authorised person proposes, a DIFFERENT one approves, and the approval destroys.

Both steps check, under the item's row lock, everything that forbids destruction: the item already destroyed or
quarantined, its retention date not reached (`evidence.items.keep_until`: the item's date, never earlier than
the pack's), a legal hold on one of its files, and — when the survivor asked for notice — the notice period
(a notice announcing the current date, sent at least the pack's `notice_days` before). A refusal raises a
domain error before anything is written. The proposal row is append-only; the approval is the custody
`destroyed` event (evidence.custody.record_destruction) naming both people, in the same transaction.
A proposal LAPSES (`lapsed`: not approvable, a new one may be made) when its proposer is deactivated or may no
longer propose, or when after it the item's retention was extended, a legal hold set or lifted, or the item
released or submitted to a lab (read from the item's ledger and custody events after the proposal's entry): the
proposer decided on facts that are no longer the item's.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, String, select
from sqlmodel import Field, Session, SQLModel

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import as_utc, utcnow
from core.errors import Conflict, PermissionDenied
from core.ledger import EventKind, LedgerEntry
from evidence.custody import rules as custody_rules
from evidence.custody.models import CustodyEvent, CustodyEventKind
from evidence.custody.schemas import DestroyCreate
from evidence.custody.service import record_destruction, state_of
from evidence.files import has_legal_hold
from evidence.items import EvidenceItem, ItemCustody, get_custody, get_item, keep_until, lock_item
from policies import notice
from policies.authz import User, one_person
from policies.jurisdictions import get_pack
from policies.permissions import Permission, role_allows


class DestructionProposal(SQLModel, table=True):
    """The first person's proposal to destroy an item (append-only; the approval is the custody event)."""

    __tablename__ = "destruction_proposal"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    item_id: str = Field(sa_column=Column(String(32), index=True, nullable=False))
    case_id: str = Field(sa_column=Column(String(32), nullable=False))
    proposed_by: str = Field(sa_column=Column(String(64), nullable=False))
    proposed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    reason: str = Field(sa_column=Column(String(200), nullable=False))
    authority_ref: str = Field(sa_column=Column(String(64), nullable=False))


class DestructionProposalPublic(BaseModel):
    """A proposal as the API shows it."""

    id: int
    item_id: str
    proposed_by: str
    proposed_at: datetime
    reason: str
    authority_ref: str
    status: str = "awaiting-approval"


def to_public(row: DestructionProposal, session: Session | None = None) -> DestructionProposalPublic:
    """The proposal as shown; given the session, its reason and authority reference as text (the row holds their
    commitments: core.crypto.texts; "[erased]" after a lawful erasure; clear values from before as they are)."""
    reason, ref = row.reason, row.authority_ref
    if session is not None:
        reason = crypto.show_text(session, row.case_id, reason) or ""
        ref = crypto.show_text(session, row.case_id, ref) or ""
    return DestructionProposalPublic(id=row.id or 0, item_id=row.item_id, proposed_by=row.proposed_by,
                                     proposed_at=row.proposed_at, reason=reason, authority_ref=ref)


def destruction_date(session: Session, item: EvidenceItem) -> tuple[datetime, str | None]:
    """The earliest instant the item may be destroyed, read now (so an extension moves it)."""
    until, rule = keep_until(session, item)
    return as_utc(until), rule


def check_destruction_allowed(session: Session, item: EvidenceItem, state: ItemCustody, *, custodian: str,
                              now: datetime) -> None:
    """Everything that forbids destroying the item now (the caller holds the item's lock); raises, writes nothing."""
    facts = state_of(session, state)
    custody_rules.check_destroy(facts, actor_id=custodian)
    until, rule = destruction_date(session, item)
    if until > now:
        raise Conflict(f"item must be kept until {until.date().isoformat()}{f' ({rule})' if rule else ''}: it "
                       "cannot be destroyed before its retention date")
    if has_legal_hold(session, item.id):
        raise Conflict("a file of this item is under legal hold: lift the hold before destruction")
    case = get_case(session, item.case_id)
    notice.check_notice_period(now, requested=notice.notice_requested(session, item.case_id), destruction_from=until,
                               days=notice.notice_days(get_pack(case.jurisdiction)),
                               sent=notice.sent_notices(session, item_id=item.id))


def _newest_proposal(session: Session, item_id: str) -> DestructionProposal | None:
    return session.execute(select(DestructionProposal).where(DestructionProposal.item_id == item_id)
                           .order_by(DestructionProposal.id.desc()).limit(1)).scalars().first()  # type: ignore[union-attr]


# What, recorded on the item after a proposal, makes it lapse: the proposer decided on facts that changed.
_LAPSES = {EventKind.PRESERVATION_EXTENDED.value: "the item's retention was extended since (its date moved)",
           EventKind.LEGAL_HOLD_SET.value: "a legal hold was set on the item or lifted since"}


def lapsed(session: Session, proposal: DestructionProposal) -> str | None:
    """Why a proposal no longer stands, or None: its proposer is deactivated, or moved since to a role that may
    not propose (two AUTHORISED people), or after it the item's retention was extended, a legal hold set or
    lifted, or the item released to law enforcement or submitted to a lab (an investigation)."""
    entry = session.execute(select(LedgerEntry).where(
        LedgerEntry.item_id == proposal.item_id, LedgerEntry.kind == EventKind.DESTRUCTION_PROPOSED.value)
        .order_by(LedgerEntry.seq.desc()).limit(1)).scalars().first()  # type: ignore[attr-defined]
    proposer = session.get(User, proposal.proposed_by)
    if proposer is not None and not proposer.active:
        return f"its proposer's account ({proposer.username}) was deactivated since"
    role_then = ledger.decode(entry).get("actor", {}).get("role") if entry is not None else None
    if (proposer is not None and str(proposer.role) != role_then
            and not role_allows(str(proposer.role), Permission.DESTRUCTION_PROPOSE)):
        return f"its proposer ({proposer.username}, now {proposer.role}) may no longer propose destruction"
    if entry is None:
        return None
    later = session.execute(select(LedgerEntry.kind).where(
        LedgerEntry.item_id == proposal.item_id, LedgerEntry.seq > entry.seq, LedgerEntry.kind.in_(list(_LAPSES)))
        .order_by(LedgerEntry.seq).limit(1)).scalars().first()  # type: ignore[attr-defined]
    if later is not None:
        return _LAPSES[later]
    left = session.execute(select(CustodyEvent.kind).where(
        CustodyEvent.item_id == proposal.item_id, CustodyEvent.ledger_seq > entry.seq,
        CustodyEvent.kind.in_([CustodyEventKind.RELEASED.value, CustodyEventKind.SUBMITTED_TO_LAB.value]))
        .limit(1)).scalars().first()  # type: ignore[attr-defined]
    return None if left is None else ("the item was released to law enforcement since" if left == "released"
                                      else "the item was submitted to a lab since")


def open_proposal(session: Session, item_id: str) -> DestructionProposal | None:
    """The item's proposal awaiting approval: its newest, unless it lapsed (`lapsed`); the callers check that
    the item is not destroyed."""
    row = _newest_proposal(session, item_id)
    return row if row is not None and lapsed(session, row) is None else None


def propose_destruction(session: Session, *, actor: Actor, item_id: str, data: DestroyCreate,
                        now: datetime | None = None) -> DestructionProposal:
    """First person: propose the item's destruction (its custodian, or anyone authorised for a stored item)."""
    now = now or utcnow()
    data = DestroyCreate.model_validate(data.model_dump())
    item, state = lock_item(session, item_id)
    check_destruction_allowed(session, item, state, custodian=actor.id, now=now)
    pending = open_proposal(session, item.id)
    if pending is not None:
        raise Conflict(f"destruction of this item was already proposed by {pending.proposed_by}: a second, "
                       "different authorised person approves it (coc custody approve-destruction)")
    # Staff-typed reason and reference: sealed under the case key; the row and the ledger hold their commitments.
    reason = crypto.keep_text(session, case_id=item.case_id, purpose=crypto.TextPurpose.REASON, text=data.reason,
                              now=now) or ""
    authority_ref = crypto.keep_text(session, case_id=item.case_id, purpose=crypto.TextPurpose.REFERENCE,
                                     text=data.authority_ref, now=now) or ""
    row = DestructionProposal(item_id=item.id, case_id=item.case_id, proposed_by=actor.id, proposed_at=now,
                              reason=reason, authority_ref=authority_ref)
    session.add(row)
    session.flush()
    ledger.append(session, kind=EventKind.DESTRUCTION_PROPOSED, actor=actor, case_id=item.case_id, item_id=item.id,
                  at=now, data={"proposal": row.id, "custodian": state.custodian, "reason": reason,
                                "authority_ref": authority_ref})
    return row


def approve_destruction(session: Session, *, actor: Actor, item_id: str,
                        now: datetime | None = None) -> CustodyEvent:
    """Second, different person: approve the open proposal; the item is destroyed in the same transaction."""
    now = now or utcnow()
    item, state = lock_item(session, item_id)
    if str(state.status) == custody_rules.ItemStatus.DESTROYED.value:
        raise Conflict("item was destroyed already: there is nothing to approve")
    proposal = _newest_proposal(session, item.id)
    if proposal is None:
        raise Conflict("no destruction of this item was proposed: one authorised person proposes it "
                       "(coc custody destroy), a different one approves it")
    if proposal.proposed_by == actor.id:
        raise PermissionDenied("you proposed this destruction: a different authorised person must approve it")
    if one_person(session, proposal.proposed_by, actor.id):
        raise PermissionDenied("you created the proposer's account (a local login whose password you chose) and its "
                               "holder has not chosen their own yet (coc password): for two-person destruction a "
                               "person who did not create it must approve")
    if (why := lapsed(session, proposal)) is not None:
        raise Conflict(f"the destruction proposed on {as_utc(proposal.proposed_at).date().isoformat()} no longer "
                       f"stands: {why}. An authorised person proposes it again (coc custody destroy), a different "
                       "one approves it")
    custodian = actor.id if state.custodian == actor.id else proposal.proposed_by
    check_destruction_allowed(session, item, state, custodian=custodian, now=now)
    return record_destruction(session, actor=actor, item=item, state=state, acting_custodian=custodian,
                              proposal_id=proposal.id or 0, proposed_by=proposal.proposed_by,
                              reason=proposal.reason, authority_ref=proposal.authority_ref, now=now)


def pending_proposal(session: Session, *, item_id: str) -> DestructionProposalPublic | None:
    """The item's proposal awaiting approval, or None (none, or the item is destroyed)."""
    item, state = get_item(session, item_id), get_custody(session, item_id)
    if str(state.status) == custody_rules.ItemStatus.DESTROYED.value:
        return None
    row = open_proposal(session, item.id)
    return to_public(row, session) if row is not None else None
