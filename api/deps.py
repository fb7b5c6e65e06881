"""Request dependencies, declared once: SessionDep, CurrentUser, SettingsDep, ClockDep and Authorized/require.

Authorization happens in exactly one place, policies.authz.authorize(); this module only feeds it the caller
(from a verified Bearer token) and the case id, and writes the access log for sensitive reads (once the
handler has succeeded) so route authors cannot forget it. It also notes on request.state who the caller is
(NOTED_SUBJECT, NOTED_ACTOR), so that api.refusals can record a refused attempt after the request's rollback.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.visibility import require_visible
from core import outbox
from core.actors import Actor
from core.clock import Clock, get_clock
from core.db import commit_early, get_engine, start_writing, transaction
from core.errors import AuthenticationFailed, PermissionDenied
from core.settings import Settings
from evidence.storage import ObjectStore, get_object_store
from policies.access import log_access
from policies.authz import AuthDecision, active_actor, authorize
from policies.permissions import CASE_SCOPED, SENSITIVE, Permission, role_allows
from policies.refusals import object_of, path_objects


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_app_clock() -> Clock:
    """The process clock (tests install a ManualClock with core.clock.set_clock)."""
    return get_clock()


def get_app_store(request: Request) -> ObjectStore:
    """The app's object store, created and checked on first use (never at import or app creation); one per app,
    shared by every route that stores or reads evidence files."""
    store = getattr(request.app.state, "object_store", None)
    if store is None:
        store = get_object_store(request.app.state.settings)
        store.ensure_bucket()
        request.app.state.object_store = store
    return store


def get_app_engine(request: Request) -> Engine:
    """The app's engine, created on first use (never at import or app creation)."""
    engine = request.app.state.engine
    if engine is None:
        engine = request.app.state.engine = get_engine(request.app.state.settings.database_url)
    return engine


PENDING_ACCESS = "coc_pending_access"
# What authentication learned about the caller, kept on request.state for api.refusals (a refused request's
# session is rolled back, so the refusal is recorded after it, from these): the verified token's subject (set
# before the account is looked up, so an unknown or deactivated account is still attributable) and the Actor.
NOTED_SUBJECT = "coc_token_subject"
NOTED_ACTOR = "coc_actor"


def _path_object(request: Request) -> str | None:
    """The opaque id (transfer, item or case) the request's path names, for the access log."""
    return object_of(path_objects(dict(request.path_params)))


def _write_access_log(session: Session) -> None:
    """Write the access-log rows of this request's sensitive reads, now that the handler has succeeded.

    Why only now: a read that the consent checkpoint (or anything else) refuses raised before this point, so it
    leaves no row that would look like a disclosure; the refusal itself is recorded separately, as outcome
    "refused" (api.refusals, from the error handler; the checkpoint also ledgers CHECKPOINT_DENIED).
    The rows commit with the rest of the request, before its answer is sent: if they cannot be written, the
    request fails (503) and the data is not returned. On a read request's deferred SQLite session (get_session)
    they are written after `start_writing`: the read snapshot ends and they begin IMMEDIATE, since a record of a
    read does not depend on what else the database holds now (PostgreSQL: the request's own transaction).
    """
    pending = session.info.pop(PENDING_ACCESS, [])
    if pending:
        start_writing(session, "the access-log rows record the read that was made; they read nothing")
    for entry in pending:
        log_access(session, **entry)


def note_sensitive_read(session: Session, request: Request, *, actor: Actor, case_id: str | None,
                        permission: Permission) -> None:
    """Access-log a sensitive read a route decides on itself (e.g. medical clocks in a wider answer)."""
    route = request.scope.get("route")
    session.info.setdefault(PENDING_ACCESS, []).append(
        {"actor": actor, "case_id": case_id, "resource": f"{request.method} {getattr(route, 'path', '')}",
         "permission": permission, "break_glass": bool(actor.break_glass_reason), "now": None,
         "object_id": _path_object(request)})


READ_METHODS = frozenset({"GET", "HEAD"})


def get_session(request: Request) -> Iterator[Session]:
    """A session whose transaction commits after the route returns and rolls back if it raises.

    GET and HEAD requests read: on SQLite their session begins DEFERRED (core.db `transaction(deferred=True)`), so
    a read never queues for the write lock and never answers 503 "database is busy" because writers are busy
    (WAL: readers and the writer do not block each other). What such a request writes stays correct:
    - the access-log rows of its sensitive reads are written last, after `start_writing` (IMMEDIATE; they wait
      for the lock like any writer), and commit before the answer is sent: no row, no data (fail closed);
    - the services that write on a read call `start_writing` themselves, before the reads their write rests on:
      the consent checkpoint's decision (policies.checkpoint.decide: exam, care, advocacy, safety plans,
      downloads), a review view (policies.review.view), a verification run's record (evidence.verification);
    - any other write of a GET takes the write lock in place (core.db `_start_writing_in_place`): it goes on when
      nobody committed since the request's snapshot, and is refused (503 "busy, nothing was recorded") when
      somebody did, never written over stale reads (tests/integration/test_sqlite_reads.py: no GET route does).
    Every other method begins IMMEDIATE, as before. PostgreSQL: unchanged.
    """
    reads = request.method in READ_METHODS
    with transaction(get_app_engine(request), deferred=reads) as session:
        yield session
        _write_access_log(session)
    if session.info.pop(outbox.PENDING_FLAG, False):
        # The change is committed; now wake its pathway flow (best effort, in the background: if Prefect
        # is down the row stays and the scheduled drain delivers it later).
        settings = request.app.state.settings
        if settings.outbox_drain_after_commit:
            outbox.drain_soon(settings)


def _commit_when_done(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a sync handler so the request's session commits in the handler's own worker thread."""

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                _write_access_log(value)
                if value.in_transaction():
                    commit_early(value, "release the ledger's append lock in the handler's thread (CommitRoute)")
        return result

    return run


class CommitRoute(APIRoute):
    """A route whose sync handler commits its session as soon as it returns, in the same worker thread.

    Why: a handler that appended to the ledger holds the ledger's append lock until its transaction commits.
    Left to get_session's exit, the commit waits until the event loop schedules that exit on another worker
    thread, behind every request in flight, and every other appender waits with it (lab scans at 20 desks
    spent most of their time there). get_session still runs after: its commit is then a no-op, it rolls back
    when the handler raised (nothing was committed), and it wakes the outbox. Async handlers are left alone.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _commit_when_done(endpoint)
        super().__init__(path, endpoint, **kwargs)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ClockDep = Annotated[Clock, Depends(get_app_clock)]
# scope="function": commit happens before the response is sent, so a failed commit is an error response,
# never a 2xx for a change that was not stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/token or your identity provider")


def get_current_user(request: Request, session: SessionDep,
                     creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    """The authenticated, ACTIVE staff user (checked against the database on every request)."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise AuthenticationFailed("send an access token: Authorization: Bearer <token>")
    claims = request.app.state.verifier.verify(creds.credentials)
    setattr(request.state, NOTED_SUBJECT, claims["sub"])
    actor = active_actor(session, claims["sub"])
    setattr(request.state, NOTED_ACTOR, actor)
    return actor


CurrentUser = Annotated[Actor, Depends(get_current_user)]

CaseResolver = Callable[[Session, dict[str, Any]], str | None]


class Authorized:
    """Dependency: the caller must hold `permission` (and, for case-scoped ones, be assigned to the case).

    The case id comes from the path parameter `case_param`, or from `case_from(session, path_params)` for
    routes addressed by another id (e.g. an item). Reads of SENSITIVE data are written to the access log.
    The instance stays visible in the route's dependency tree, so tests can read every route's permission.
    """

    def __init__(self, permission: Permission, *, case_param: str = "case_id",
                 case_from: CaseResolver | None = None) -> None:
        self.permission = Permission(permission)
        self.case_param = case_param
        self.case_from = case_from

    def __repr__(self) -> str:
        return f"Authorized({self.permission.value!r})"

    def case_id_for(self, session: Session, request: Request) -> str | None:
        """The case id this request acts on (None when the permission is not case-scoped)."""
        if self.permission not in CASE_SCOPED:
            return None
        if self.case_from is not None:
            return self.case_from(session, dict(request.path_params))
        value = request.path_params.get(self.case_param)
        return str(value) if value is not None else None

    def __call__(self, request: Request, session: SessionDep, user: CurrentUser, clock: ClockDep) -> Actor:
        """Authorize the request and return the acting Actor."""
        now = clock.now()
        if not role_allows(user.role, self.permission):
            # Checked before resolving the case so that callers without the role learn nothing about ids.
            raise PermissionDenied(f"your role ({user.role}) does not allow {self.permission.value}")
        # Visibility before state: an item or transfer the caller may not see answers as a missing one (404),
        # before its case or custody state is looked at (api.visibility).
        require_visible(session, user, dict(request.path_params))
        case_id = self.case_id_for(session, request)
        actor, how = authorize(session, user, self.permission, case_id=case_id, now=now)
        setattr(request.state, NOTED_ACTOR, actor)
        if self.permission in SENSITIVE or how is AuthDecision.BREAK_GLASS:
            route = request.scope.get("route")
            resource = f"{request.method} {getattr(route, 'path', request.url.path)}"  # template: no ids
            # Written when the handler succeeds (_write_access_log): a refused read is not a read.
            session.info.setdefault(PENDING_ACCESS, []).append(
                {"actor": actor, "case_id": case_id, "resource": resource, "permission": self.permission,
                 "break_glass": how is AuthDecision.BREAK_GLASS, "now": now, "object_id": _path_object(request)})
        return actor


def require(permission: Permission, *, case_param: str = "case_id", case_from: CaseResolver | None = None) -> Any:
    """`actor: Actor = require(Permission.X)` — a route's one permission declaration."""
    return Depends(Authorized(permission, case_param=case_param, case_from=case_from))


def Allowed(permission: Permission, *, case_param: str = "case_id",  # noqa: N802 - reads like a type
            case_from: CaseResolver | None = None) -> Any:
    """`actor: Allowed(Permission.X)` — the same declaration as an Annotated type."""
    return Annotated[Actor, Depends(Authorized(permission, case_param=case_param, case_from=case_from))]


def route_permissions(route: Any) -> list[Permission]:
    """Every permission declared (via Authorized) anywhere in a route's dependency tree."""
    found: list[Permission] = []
    stack = [getattr(route, "dependant", None)]
    while stack:
        dep = stack.pop()
        if dep is None:
            continue
        if isinstance(dep.call, Authorized):
            found.append(dep.call.permission)
        stack.extend(dep.dependencies)
    return found


def route_authorizer(route: Any) -> Authorized | None:
    """The route's Authorized dependency, if it declares one."""
    stack = [getattr(route, "dependant", None)]
    while stack:
        dep = stack.pop()
        if dep is None:
            continue
        if isinstance(dep.call, Authorized):
            return dep.call
        stack.extend(dep.dependencies)
    return None
