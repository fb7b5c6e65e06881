"""Map domain errors (core.errors) and framework errors to RFC 9457 application/problem+json responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import refusals
from core import errors
from core.db import OUTCOME_UNKNOWN
from core.dbhealth import describe_failure, is_unavailable

log = logging.getLogger("coc.api")

PROBLEM_TYPE_BASE = "https://chain-of-care.org/problems/"
MEDIA_TYPE = "application/problem+json"

# Most specific first: isinstance() picks the first match (ConsentRequired before PermissionDenied, …).
STATUS: tuple[tuple[type[errors.DomainError], int, str], ...] = (
    (errors.PayloadTooLarge, 413, "Payload too large"),
    (errors.InsufficientStorage, 507, "Insufficient storage"),
    (errors.ValidationFailed, 422, "Validation failed"),
    (errors.NotFound, 404, "Not found"),
    (errors.Conflict, 409, "Conflict"),
    (errors.Erased, 410, "Erased"),  # the case's personal data was lawfully erased (crypto-shredded)
    (errors.ConsentRequired, 403, "Consent required"),
    (errors.PermissionDenied, 403, "Permission denied"),
    (errors.AuthenticationFailed, 401, "Authentication failed"),
    (errors.RateLimited, 429, "Too many requests"),
    (errors.DependencyUnavailable, 503, "Dependency unavailable"),
    (errors.IntegrityViolation, 500, "Integrity violation"),
    (errors.ConfigError, 500, "Configuration error"),
)

# Why: details of these may name internals (hashes, settings); the client gets a fixed sentence, the log the rest.
SAFE_DETAIL = {
    errors.IntegrityViolation: "stored data failed an integrity check; the incident was logged for the auditor",
    errors.ConfigError: "the server is misconfigured; the administrator has been told in the server log",
}

# The OpenAPI description of a problem response, for routes' `responses=`.
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def _problem_response(description: str) -> dict[str, object]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}


# Documented on every route (create_app passes it to include_router), so clients and schemathesis know them.
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    400: _problem_response("The request body could not be read (e.g. not UTF-8): FastAPI's own answer"),
    401: _problem_response("Missing, invalid or expired access token, or a deactivated account"),
    403: _problem_response("The role or case assignment does not allow this, or consent is missing"),
    404: _problem_response("Not found (or not visible to the caller)"),
    409: _problem_response("Conflict with the current state"),
    410: _problem_response("The case's personal data was lawfully erased (the date is in the detail)"),
    413: _problem_response("Request body too large"),
    422: _problem_response("Invalid request"),
    429: _problem_response("Too many attempts"),
    500: _problem_response("Internal error (no details are disclosed)"),
    503: _problem_response("A dependency is unavailable"),
}


def problem(status: int, title: str, detail: str | None = None, *, code: str = "about:blank",
            headers: dict[str, str] | None = None, **extra: object) -> JSONResponse:
    """Build one problem+json response."""
    body: dict[str, object] = {
        "type": code if code == "about:blank" else PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def status_for(exc: errors.DomainError) -> tuple[int, str]:
    """HTTP status and title for a domain error (unknown subclasses → 500)."""
    for cls, status, title in STATUS:
        if isinstance(exc, cls):
            return status, title
    return 500, "Internal server error"


def domain_error_response(exc: errors.DomainError) -> JSONResponse:
    """The problem+json response for a domain error."""
    status, title = status_for(exc)
    headers: dict[str, str] = {}
    detail = exc.detail
    for cls, safe in SAFE_DETAIL.items():
        if isinstance(exc, cls):
            log.error("%s: %s", exc.code, exc.detail)
            detail = safe
    if isinstance(exc, errors.AuthenticationFailed):
        # RFC 6750 §3: tell the client which scheme to use; error description kept generic.
        headers["WWW-Authenticate"] = 'Bearer realm="chain-of-care", error="invalid_token"'
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.extra.get("retry_after", 60))
    return problem(status, title, detail, code=exc.code, headers=headers or None)


async def _domain_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    # Every route's refused attempts are recorded here, once (api.refusals; it never raises): by now the
    # request's own transaction has been rolled back, so the record gets a transaction of its own.
    await refusals.record_if_refused(request, exc)
    return domain_error_response(exc)


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Why: pydantic echoes the rejected input; for identity fields that could be survivor data. Keep loc/msg only.
    errs = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()]
    return problem(422, "Validation failed", "the request does not match the expected shape; see errors",
                   code="validation-failed", errors=errs)


async def _http_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    title = {404: "Not found", 405: "Method not allowed", 401: "Authentication failed"}.get(exc.status_code,
                                                                                           "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(exc.status_code, title, detail, headers=headers or None)


async def _db_integrity_handler(_request: Request, exc: Exception) -> JSONResponse:
    # A unique/foreign-key race lost to a concurrent request: the client may retry after re-reading.
    log.warning("database integrity error: %s", type(exc).__name__)
    return problem(409, "Conflict", "the change conflicts with the current state (a concurrent change?); "
                   "reload and try again", code="conflict")


async def _db_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    # The database cannot answer or cannot write (down, full, read-only, locked): not a bug of the request.
    # The reason is classified; the driver's text (it may hold the statement and its values) is never shown.
    if not is_unavailable(exc):
        return await _unhandled(request, exc)  # a programming error, not an outage
    reason = describe_failure(exc)
    if getattr(exc, OUTCOME_UNKNOWN, False):  # lost while committing: the server may have stored the change
        log.error("database lost during commit: %s (%s)", reason, type(exc).__name__)
        return problem(503, "Database unavailable", "the connection to the database was lost while the change was "
                       "being saved, so it may or may not have been recorded: look it up before trying again",
                       code="database-outcome-unknown", headers={"Retry-After": "5"})
    log.error("database unavailable: %s (%s)", reason, type(exc).__name__)
    return problem(503, "Database unavailable", f"nothing was recorded: {reason}", code="database-unavailable",
                   headers={"Retry-After": "5"})


async def _unhandled(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "Internal server error", "an unexpected error occurred; it was logged", code="internal")


def install(app: FastAPI) -> None:
    """Register every problem+json handler on `app`."""
    app.add_exception_handler(errors.DomainError, _domain_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(DBIntegrityError, _db_integrity_handler)
    app.add_exception_handler(DBAPIError, _db_unavailable_handler)  # IntegrityError keeps its own (above)
    app.add_exception_handler(Exception, _unhandled)
