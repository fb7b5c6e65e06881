"""Who may see an item: examiners and advocates by case assignment, other agencies' staff only the items offered
or handed to them, the centre's evidence-store staff and auditors every item by role (no identity is on one)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from core.actors import Actor
from core.errors import PermissionDenied
from evidence.custody.models import Transfer
from evidence.items import EvidenceItem, ItemCustody, get_item, list_items
from policies.agencies import AgencyKind
from policies.authz import authorize, user_agency_kind
from policies.permissions import CASE_SCOPED_FOR, Permission, Role


def _items_of_party(user_id: str):
    """Ids of items offered or released to `user_id`, or that they hold now (a subquery)."""
    offered = select(Transfer.item_id).where(Transfer.to_user == user_id)
    held = select(ItemCustody.item_id).where(ItemCustody.custodian == user_id)
    return offered.union(held)


# Roles that see items only of cases they are assigned to (or break glass for): an item's description is exam
# detail (policies.permissions.CASE_SCOPED_FOR). Lab, law enforcement and auditors: by role and custody instead.
_CASE_BOUND_ROLES = CASE_SCOPED_FOR[Permission.ITEM_READ] | CASE_SCOPED_FOR[Permission.CUSTODY_READ]


def _require_case_access(session: Session, actor: Actor, case_id: str) -> None:
    authorize(session, actor, Permission.CASE_READ, case_id)  # assignment or break-glass, else PermissionDenied


def _sees_only_own_items(session: Session, actor: Actor) -> bool:
    """Staff of another agency (law enforcement; lab staff of a crime lab) see only items offered to them or that
    they hold. The centre's own lab (evidence-store) staff see items by role; an unknown account sees nothing."""
    if actor.role == Role.LAW_ENFORCEMENT:
        return True
    if actor.role != Role.LAB:
        return False
    return user_agency_kind(session, actor.id) is not AgencyKind.CENTRE


def require_item_visible(session: Session, *, actor: Actor, item_id: str) -> None:
    """Law enforcement and crime-lab staff see only items offered or released to them (or that they hold): the
    centre's other evidence, and whether a case exists at all (restricted reports), is not theirs to see.
    Examiners (and advocates) see the items of cases they are assigned to. The centre's evidence-store staff and
    auditors see every item by role (no identity is on an item)."""
    if actor.role in _CASE_BOUND_ROLES:
        _require_case_access(session, actor, get_item(session, item_id).case_id)
        return
    if not _sees_only_own_items(session, actor):
        return
    state = session.get(ItemCustody, item_id)
    if state is not None and state.custodian == actor.id:
        return
    offered = session.execute(select(Transfer.id).where(Transfer.item_id == item_id, Transfer.to_user == actor.id)
                              .limit(1)).first()
    if offered is None:
        raise PermissionDenied("this item was not released or offered to you")


def visible_items(session: Session, *, actor: Actor, case_id: str) -> list[EvidenceItem]:
    """The case's items `actor` may see (see require_item_visible), oldest first."""
    if actor.role in _CASE_BOUND_ROLES:
        _require_case_access(session, actor, case_id)
    found = list_items(session, case_id)
    if not _sees_only_own_items(session, actor):
        return found
    mine = set(session.execute(_items_of_party(actor.id)).scalars())
    return [i for i in found if i.id in mine]
