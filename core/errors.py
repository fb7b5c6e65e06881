"""Domain errors: services raise these; only api/ maps them to HTTP status codes."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service may raise; `detail` must be readable and free of survivor identity."""

    code = "domain-error"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ConfigError(DomainError):
    """A setting is missing or malformed; the message names the setting."""

    code = "config-error"


class ValidationFailed(DomainError):
    """The input is well-formed JSON but not acceptable (bad value, bad file name, too large)."""

    code = "validation-failed"


class NotFound(DomainError):
    """The case, item or record does not exist (or the caller may not know it exists)."""

    code = "not-found"


class Conflict(DomainError):
    """The state changed under the caller (item already checked out, transfer already accepted)."""

    code = "conflict"


class PermissionDenied(DomainError):
    """The actor's role or case assignment does not allow this action."""

    code = "permission-denied"


class ConsentRequired(PermissionDenied):
    """The consent checkpoint denied a handoff; `detail` says which consent is missing."""

    code = "consent-required"


class AuthenticationFailed(DomainError):
    """The caller's credentials are missing, expired or invalid."""

    code = "authentication-failed"


class RateLimited(DomainError):
    """Too many attempts; the caller should wait."""

    code = "rate-limited"


class PayloadTooLarge(ValidationFailed):
    """An upload or body exceeds the configured size limit."""

    code = "payload-too-large"


class InsufficientStorage(DomainError):
    """The evidence store has no room for this upload (its disk is full or nearly so)."""

    code = "insufficient-storage"


class IntegrityViolation(DomainError):
    """Stored evidence or the ledger no longer matches its recorded hash."""

    code = "integrity-violation"


class DependencyUnavailable(DomainError):
    """A service we depend on (database, object store, Prefect) is not reachable."""

    code = "dependency-unavailable"


class Erased(DomainError):
    """The case's personal data was lawfully erased (its key destroyed): nothing can be read or written any more."""

    code = "erased"
