"""Record refused attempts: the one place every route's refusals go through (called by api.problems' handler).

A request refused by a domain error on a route whose permission guards evidence, consent-protected data or a
survivor's file (policies.refusals decides) leaves a trace: an access-log row with outcome "refused" and, for a
custody action on an existing item, an ACCESS_REFUSED ledger entry on the item. Nothing here is per route: the
permission comes from the matched route's Authorized dependency, the caller from what api.deps noted while
authenticating (the Actor, or the verified token's subject when the account is unknown or deactivated), the
object from the path's opaque ids (and, for an object named by a number, e.g. a contact request's seq, the case
its concealing NotFound carries in `extra["case_id"]`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from api.deps import NOTED_ACTOR, NOTED_SUBJECT, get_app_clock, get_app_engine, route_authorizer
from core.actors import Actor
from core.db import transaction
from core.errors import DomainError
from evidence.custody import Transfer
from evidence.items import EvidenceItem
from policies.access import log_refusal
from policies.authz import User
from policies.refusals import is_ledgered, is_refusal, object_of, path_objects, reason_text

log = logging.getLogger("coc.api")

UNKNOWN_ROLE = "unknown"  # a token subject with no staff account behind it


def _permission(request: Request) -> str | None:
    authorizer = route_authorizer(request.scope.get("route"))
    return str(authorizer.permission) if authorizer is not None else None


async def record_if_refused(request: Request, exc: DomainError) -> None:
    """Record `exc` as a refused attempt if policies.refusals says it is one; never raises."""
    try:
        permission = _permission(request)
        actor: Actor | None = getattr(request.state, NOTED_ACTOR, None)
        subject: str | None = getattr(request.state, NOTED_SUBJECT, None)
        concealed = bool(exc.extra.get("concealed"))
        if not is_refusal(permission, type(exc), identified=actor is not None or subject is not None,
                          concealed=concealed):
            return
        assert permission is not None
        route = request.scope.get("route")
        attempt: dict[str, Any] = {
            "actor": actor, "subject": subject, "permission": permission,
            "resource": f"{request.method} {getattr(route, 'path', '')}",  # the template: no ids, no free text
            # a NotFound concealing a refusal (api.visibility) is recorded with the refusal's own reason
            "objects": path_objects(dict(request.path_params)), "reason": reason_text(exc.extra.get("refusal", exc)),
            "ledgered": is_ledgered(permission, type(exc)), "now": get_app_clock().now(),
            # the case of an object named by another number (a contact request's seq), when the service said it
            "case_id": exc.extra.get("case_id") if concealed else None,
        }
        await run_in_threadpool(_write, get_app_engine(request), attempt)
    except Exception as failure:  # noqa: BLE001 - recording must never turn the answer into a 500
        # No request data in the log line: only what failed, so an operator can look at the database.
        log.error("could not record a refused attempt (%s): the refusal itself was answered",
                  type(failure).__name__)


def _write(engine: Any, attempt: dict[str, Any]) -> None:
    """Write the refusal in its OWN short transaction, committed here: the request's transaction was rolled back
    by its error (api.deps.get_session), which would otherwise take the record of the attempt with it."""
    objects: dict[str, str] = attempt["objects"]
    with transaction(engine) as session:
        actor: Actor | None = attempt["actor"]
        if actor is None:  # a verified token whose account is unknown or deactivated: its subject is the actor
            subject = str(attempt["subject"])
            role = session.execute(select(User.role).where(User.subject == subject)).scalars().first()
            actor = Actor(id=subject[:64], role=str(role) if role else UNKNOWN_ROLE)
        item_id = objects.get("item_id")
        if "transfer_id" in objects:
            item_id = session.execute(select(Transfer.item_id).where(Transfer.id == objects["transfer_id"])
                                      ).scalars().first()
        item = session.get(EvidenceItem, item_id) if item_id else None
        case_id = (objects.get("case_id") or (item.case_id if item is not None else None)
                   or attempt["case_id"])
        log_refusal(session, actor=actor, case_id=case_id, object_id=object_of(objects),
                    resource=attempt["resource"], permission=attempt["permission"], reason=attempt["reason"],
                    item_id=item.id if item is not None and attempt["ledgered"] else None, now=attempt["now"])
