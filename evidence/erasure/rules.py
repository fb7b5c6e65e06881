"""PURE rules of a lawful erasure (no Session): who may propose and approve, and when it is refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.clock import as_utc
from core.errors import Conflict, PermissionDenied


def _when(at: datetime) -> str:
    return as_utc(at).strftime("%Y-%m-%d %H:%M UTC")


def check_not_erased(erased_at: datetime | None) -> None:
    """An erased case cannot be erased again."""
    if erased_at is not None:
        raise Conflict(f"this case was already erased on {_when(erased_at)}: there is nothing left to erase")


def check_no_hold(held_item_ids: Sequence[str]) -> None:
    """No erasure while any item of the case is under legal hold (the data may be needed by a court)."""
    if held_item_ids:
        raise Conflict(f"items of this case are under legal hold ({', '.join(sorted(held_item_ids))}): "
                       "erasure is refused until every hold is lifted")


def check_can_propose(*, erased_at: datetime | None, open_proposal: bool, held_item_ids: Sequence[str]) -> None:
    """A proposal needs a case not yet erased, no open proposal, and no legal hold."""
    check_not_erased(erased_at)
    if open_proposal:
        raise Conflict("an erasure of this case is already proposed: a second person approves it "
                       "(coc case erase approve)")
    check_no_hold(held_item_ids)


def check_can_approve(*, erased_at: datetime | None, proposer: str | None, approver: str,
                      held_item_ids: Sequence[str], proposer_lapsed: str | None = None,
                      one_person: bool = False) -> None:
    """An approval needs an open proposal by SOMEONE ELSE (two-person rule) who is still authorised to propose
    (`proposer_lapsed`: why not, e.g. deactivated) and not the same person under another account (`one_person`),
    no erasure yet, no legal hold."""
    check_not_erased(erased_at)
    if proposer is None:
        raise Conflict("no erasure of this case is proposed: one person proposes it with a legal basis "
                       "(coc case erase propose), a different person approves")
    if proposer == approver:
        raise PermissionDenied("you proposed this erasure: a different authorised person must approve it "
                               "(two-person rule)")
    if one_person:  # policies.authz.one_person: one of the two created the other's local account
        raise PermissionDenied("one of you created the other's account (a local login whose password the creator "
                               "chose) and its holder has not chosen their own yet (coc password): a person who "
                               "did not must approve this erasure (two-person rule)")
    if proposer_lapsed is not None:
        raise Conflict(f"this erasure proposal no longer stands: {proposer_lapsed}. Withdraw it (coc case erase "
                       "withdraw) and have an authorised person propose it again")
    check_no_hold(held_item_ids)


def check_can_withdraw(*, erased_at: datetime | None, open_proposal: bool, last_status: str | None,
                       last_by: str | None) -> None:
    """A withdrawal needs an open proposal: not one already approved (the case is erased) or withdrawn."""
    check_not_erased(erased_at)
    if open_proposal:
        return
    if last_status == "withdrawn":
        raise Conflict(f"the erasure proposal of this case was already withdrawn by {last_by}: there is no open "
                       "proposal to withdraw")
    raise Conflict("no erasure of this case is proposed: there is nothing to withdraw")
