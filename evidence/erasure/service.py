"""Lawful erasure by crypto-shredding: propose (legal basis), approve by a different person (destroys the case key
in the same transaction as its ledger entry), withdraw an open proposal, and the case's erasure state.

The ledger keeps every entry of the case (opaque ids, enums, staff ids): proofs and exported bundles still
verify; identity, exam narratives, advocacy notes and safety plans can never be decrypted again (reads answer
core.errors.Erased, 410). Legacy values of the case (Fernet under the centre key) are first rewritten under the
case key so that destroying it shreds them too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from core import crypto, ledger
from core.actors import Actor
from core.cases import get_case
from core.clock import utcnow
from core.ledger import EventKind
from evidence.erasure import rules
from evidence.erasure.models import (
    ErasureBasis,
    ErasureProposal,
    ErasurePublic,
    ErasureRequest,
    ErasureState,
    ErasureStatus,
)
from evidence.files import has_legal_hold
from evidence.items import EvidenceItem
from policies.authz import User, one_person
from policies.permissions import Permission, role_allows
from policies.reencrypt import reencrypt_legacy


def held_item_ids(session: Session, case_id: str) -> list[str]:
    """Items of the case under legal hold (the item's own hold, e.g. a kit with no file, or a held file)."""
    ids = session.execute(select(EvidenceItem.id).where(EvidenceItem.case_id == case_id)
                          .order_by(EvidenceItem.id)).scalars()
    return [item_id for item_id in ids if has_legal_hold(session, item_id)]


def _open_request(session: Session, case_id: str, *, lock: bool = False) -> ErasureRequest | None:
    query = select(ErasureRequest).where(ErasureRequest.case_id == case_id,
                                         ErasureRequest.status == ErasureStatus.PROPOSED)
    return session.execute(query.with_for_update() if lock else query).scalars().first()


def propose_erasure(session: Session, *, actor: Actor, case_id: str, data: ErasureProposal,
                    now: datetime | None = None) -> ErasureRequest:
    """Record a proposal with its legal basis; refused when erased, already proposed or under legal hold."""
    now = now or utcnow()
    data = ErasureProposal.model_validate(data.model_dump())
    case = get_case(session, case_id)
    rules.check_can_propose(erased_at=crypto.erased_at(session, case.id),
                            open_proposal=_open_request(session, case.id) is not None,
                            held_item_ids=held_item_ids(session, case.id))
    row = ErasureRequest(case_id=case.id, basis=data.basis, reference=data.reference,
                         status=ErasureStatus.PROPOSED, proposed_by=actor.id, proposed_at=now)
    session.add(row)
    session.flush()
    ledger.append(session, kind=EventKind.CASE_ERASURE_PROPOSED, actor=actor, case_id=case.id, at=now,
                  data={"request": row.id, "basis": ErasureBasis(data.basis),
                        "reference_given": data.reference is not None})
    return row


def approve_erasure(session: Session, *, actor: Actor, case_id: str, keyring: crypto.KeyringLike = None,
                    now: datetime | None = None) -> ErasureRequest:
    """A second person approves: legacy values re-sealed, the case key destroyed, CASE_ERASED ledgered."""
    now = now or utcnow()
    case = get_case(session, case_id)
    request = _open_request(session, case.id, lock=True)
    rules.check_can_approve(erased_at=crypto.erased_at(session, case.id),
                            proposer=request.proposed_by if request else None, approver=actor.id,
                            held_item_ids=held_item_ids(session, case.id),
                            proposer_lapsed=_proposer_lapsed(session, request.proposed_by) if request else None,
                            one_person=request is not None and one_person(session, request.proposed_by, actor.id))
    assert request is not None
    rewritten = reencrypt_legacy(session, actor=actor, case_id=case.id, keyring=keyring, now=now).rewritten
    crypto.destroy_case_key(session, case_id=case.id, now=now)
    request.status, request.approved_by, request.approved_at = ErasureStatus.APPROVED, actor.id, now
    session.add(request)
    session.flush()
    ledger.append(session, kind=EventKind.CASE_ERASED, actor=actor, case_id=case.id, at=now,
                  data={"request": request.id, "basis": ErasureBasis(request.basis),
                        "proposed_by": request.proposed_by, "legacy_values_resealed": rewritten})
    return request


def withdraw_erasure(session: Session, *, actor: Actor, case_id: str,
                     now: datetime | None = None) -> ErasureRequest:
    """Withdraw the case's open erasure proposal (its proposer or another person allowed to propose one): the
    request becomes `withdrawn` (who, when) with its ledger entry, and can no longer be approved."""
    now = now or utcnow()
    case = get_case(session, case_id)
    request = _open_request(session, case.id, lock=True)
    last = session.execute(select(ErasureRequest).where(ErasureRequest.case_id == case.id)
                           .order_by(ErasureRequest.id.desc()).limit(1)).scalars().first()  # type: ignore[union-attr]
    rules.check_can_withdraw(erased_at=crypto.erased_at(session, case.id), open_proposal=request is not None,
                             last_status=last.status if last else None,
                             last_by=_username(session, last.withdrawn_by) or last.withdrawn_by if last else None)
    assert request is not None
    request.status, request.withdrawn_by, request.withdrawn_at = ErasureStatus.WITHDRAWN, actor.id, now
    session.add(request)
    session.flush()
    ledger.append(session, kind=EventKind.CASE_ERASURE_WITHDRAWN, actor=actor, case_id=case.id, at=now,
                  data={"request": request.id, "basis": ErasureBasis(request.basis),
                        "proposed_by": request.proposed_by})
    return request


def _proposer_lapsed(session: Session, user_id: str) -> str | None:
    """Why the proposer no longer counts as the first of two authorised people (deactivated, or a role that may
    not propose erasure), or None."""
    user = session.get(User, user_id)
    if user is None:
        return None
    if not user.active:
        return f"its proposer's account ({user.username}) was deactivated since"
    if not role_allows(str(user.role), Permission.ERASURE_PROPOSE):
        return f"its proposer ({user.username}, now {user.role}) may no longer propose erasure"
    return None


def _username(session: Session, user_id: str | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.username if user is not None else None


def to_public(session: Session, row: ErasureRequest) -> ErasurePublic:
    """The request with the staff usernames."""
    return ErasurePublic(
        id=row.id, case_id=row.case_id, basis=ErasureBasis(row.basis), reference=row.reference,
        status=ErasureStatus(row.status), proposed_by=row.proposed_by,
        proposed_by_username=_username(session, row.proposed_by), proposed_at=row.proposed_at,
        approved_by=row.approved_by, approved_by_username=_username(session, row.approved_by),
        approved_at=row.approved_at, withdrawn_by=row.withdrawn_by,
        withdrawn_by_username=_username(session, row.withdrawn_by), withdrawn_at=row.withdrawn_at,
    )


def erasure_state(session: Session, case_id: str) -> ErasureState:
    """Whether the case was erased (and when) and its erasure requests, oldest first."""
    case = get_case(session, case_id)
    when = crypto.erased_at(session, case.id)
    rows = session.execute(select(ErasureRequest).where(ErasureRequest.case_id == case.id)
                           .order_by(ErasureRequest.id)).scalars()
    return ErasureState(case_id=case.id, erased=when is not None, erased_at=when,
                        requests=[to_public(session, r) for r in rows])
