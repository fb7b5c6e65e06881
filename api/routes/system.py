"""System routes: GET /health (each dependency's readiness) and GET /me."""

from __future__ import annotations

import time
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SerializeAsAny
from sqlalchemy import text

from api.deps import CommitRoute, CurrentUser, SessionDep, get_app_engine
from core import migrate
from core.clock import as_utc
from core.db import transaction
from core.dbhealth import describe_failure, probe_write
from policies.authz import assigned_case_ids, get_user

router = APIRouter(tags=["system"], route_class=CommitRoute)

OBJECT_LOCK_CACHE_S = 60.0  # the canary writes a locked object: not on every probe
PREFECT_TIMEOUT_S = 2.0


class PartState(BaseModel):
    """One dependency's readiness."""

    ok: bool
    detail: str


class LedgerState(PartState):
    """The last recorded whole-ledger verification (evidence.verification)."""

    last_verified_at: str | None = None
    first_bad_seq: int | None = None
    entries_checked: int | None = None
    trigger: str | None = None


class HealthReport(BaseModel):
    """Overall readiness and each part's state.

    status "ledger-not-intact" (HTTP 503): every service is up but the last ledger verification failed. The
    stack still runs (auditors need it to investigate), but nothing it reports should be relied on.
    """

    status: Literal["ready", "unavailable", "ledger-not-intact"]
    parts: dict[str, SerializeAsAny[PartState]]


class Me(BaseModel):
    """The authenticated staff user."""

    id: str
    username: str
    role: str
    active: bool
    assigned_cases: list[str]


def _database(request: Request) -> PartState:
    try:
        engine = get_app_engine(request)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if not migrate.is_migrated(engine):
            return PartState(ok=False, detail="reachable but not migrated to the newest revision: run coc migrate")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; only a classified reason is shown
        return PartState(ok=False, detail=f"unreachable: {describe_failure(exc)}")
    try:
        probe_write(engine)  # readable is not enough: every consent, custody step and ledger entry is a write
    except Exception as exc:  # noqa: BLE001 - same: a classified reason, never the driver's text
        return PartState(ok=False, detail=f"reachable but cannot write: {describe_failure(exc)}")
    return PartState(ok=True, detail="reachable, migrated, and a write commits")


def _object_store(request: Request) -> PartState:
    cache: dict[str, Any] = request.app.state.health_cache
    cached = cache.get("s3")
    if cached and time.monotonic() - cached[0] < OBJECT_LOCK_CACHE_S:
        return cached[1]
    try:
        from evidence.storage import get_object_store  # evidence owns the store; imported lazily (no import cost)

        store = get_object_store(request.app.state.settings)
        store.check_object_lock()
        store.check_encryption()
        at_rest = ("evidence is encrypted at rest by the store" if store.sse_mode == "sse-s3"
                   else "server-side encryption is off (COC_S3_SSE=off)")
        state = PartState(ok=True, detail=f"reachable; Object Lock refuses deletion of a locked version; {at_rest}")
    except Exception as exc:  # noqa: BLE001 - unreachable, misconfigured or lock not enforced: all "not ready"
        detail = getattr(exc, "detail", None) or type(exc).__name__
        state = PartState(ok=False, detail=f"not ready: {detail}"[:300])
    cache["s3"] = (time.monotonic(), state)
    return state


def _prefect(request: Request) -> PartState:
    url = request.app.state.settings.prefect_api_url
    if not url:
        return PartState(ok=False, detail="COC_PREFECT_API_URL is not set")
    try:
        resp = httpx.get(url.rstrip("/") + "/health", timeout=PREFECT_TIMEOUT_S)
        if resp.status_code == 200:
            return PartState(ok=True, detail="reachable")
        return PartState(ok=False, detail=f"answered HTTP {resp.status_code}")
    except httpx.HTTPError as exc:
        return PartState(ok=False, detail=f"unreachable ({type(exc).__name__})")


def _ledger(request: Request) -> LedgerState:
    from evidence.verification import last_verification  # evidence owns the runs; imported lazily as above

    try:
        with transaction(get_app_engine(request)) as session:
            run = last_verification(session)
    except Exception as exc:  # noqa: BLE001 - the database part says why; here only "unknown"
        return LedgerState(ok=False, detail=f"last verification unknown ({type(exc).__name__})")
    if run is None:
        return LedgerState(ok=True, detail="not verified yet (the scheduled ledger check runs hourly; "
                                           "or run coc audit verify)")
    common = {"last_verified_at": as_utc(run.finished_at).isoformat(), "first_bad_seq": run.first_bad_seq,
              "entries_checked": run.entries_checked, "trigger": run.trigger}
    if run.ok:
        return LedgerState(ok=True, detail=f"verified {run.entries_checked} entries at {common['last_verified_at']}",
                           **common)
    return LedgerState(ok=False, detail=(
        f"LEDGER NOT INTACT: the last verification ({common['last_verified_at']}, {run.trigger}) found entry "
        f"{run.first_bad_seq} bad ({run.reason}). Do not rely on exports; run `coc audit verify`, see `coc alerts` "
        "and contact the auditor (restore the database from a backup that verifies)")[:400], **common)


@router.get("/health", response_model=HealthReport, openapi_extra={"x-coc-public": True},
            responses={503: {"model": HealthReport, "description": "a dependency is not ready"}})
def health(request: Request) -> JSONResponse:
    """Readiness: database reachable and migrated, S3 reachable with Object Lock enforced, Prefect reachable, and
    the last ledger verification passed (or none ran yet)."""
    parts: dict[str, PartState] = {"database": _database(request), "object_store": _object_store(request),
                                   "prefect": _prefect(request)}
    parts["ledger"] = _ledger(request) if parts["database"].ok else LedgerState(
        ok=False, detail="last verification unknown: the database is not ready")
    bad = [name for name, part in parts.items() if not part.ok]
    status = "ready" if not bad else "ledger-not-intact" if bad == ["ledger"] else "unavailable"
    report = HealthReport(status=status, parts=parts)
    return JSONResponse(report.model_dump(), status_code=200 if not bad else 503)


@router.get("/me", response_model=Me, openapi_extra={"x-coc-authenticated": True})
def me(user: CurrentUser, session: SessionDep) -> Me:
    """The authenticated staff user and the cases they are assigned to (any active staff user)."""
    row = get_user(session, user.id)
    return Me(id=row.id, username=row.username, role=str(row.role), active=row.active,
              assigned_cases=assigned_case_ids(session, row.id))
