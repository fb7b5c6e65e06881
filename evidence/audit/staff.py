"""The staff directory of an audit bundle (needs the database): who each staff id named in its entries is.

Staff are not survivors: a custody record must show who held the evidence, so the bundle carries each staff
member's username, role and agency (name and kind). Only the staff and agency tables are read — never a
survivor's identity. The directory is covered by the bundle's signed scope head (core.ledger.bundle).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from policies.agencies import Agency
from policies.authz import User


def staff_directory(session: Session, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{staff id: {username, role, agency, agency_kind}} of the given ids that have a staff account."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.username, User.role, Agency.name, Agency.kind)
        .join(Agency, Agency.id == User.agency_id, isouter=True)
        .where(User.id.in_(wanted))  # type: ignore[attr-defined]
    ).all()
    return {uid: {"username": username, "role": str(role), "agency": name, "agency_kind": None if kind is None
                  else str(kind)} for uid, username, role, name, kind in rows}
