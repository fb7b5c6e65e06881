"""Which refused requests are "refused attempts" that must themselves be recorded (pure rules, no Session).

An attempt to take evidence, or to read consent-protected data or a survivor's file, without the right is itself
evidence: the API writes it to the access log (outcome "refused") and, for custody actions on an item, to the
item's ledger record. This module only decides; api/refusals.py records.

The rule, by the route's one permission (scope:resource:action) and the domain error's class:
  * Protected routes: evidence (scopes `evidence`, `custody`: items, files, labels, custody actions and
    history), consent-protected data (scopes `consent`, `exam`, `advocacy`: consents, overrides, exam, care,
    advocacy, safety plans) and the survivor's file (scope `case`: the case, its clocks, identity and
    assignments, and `access:case:break-glass`). Scopes are matched, not a list of permissions, so a permission
    added later to one of these scopes is covered without touching this file. Opening or listing cases is not
    an attempt on any one survivor's file; audit, admin, alerts and jurisdictions are not protected here.
  * Refused: PermissionDenied and its subclass ConsentRequired (wrong role, not assigned, not the custodian,
    not released to the caller, withdrawn consent / restricted photograph); AuthenticationFailed once the
    token was verified (a deactivated or unknown account: the caller is identified by the token's subject);
    Conflict on a custody action (quarantined, not checked in, held by someone else, …); NotFound only when
    the service marks it as concealing a refusal (`extra["concealed"]`: the caller may not learn that the
    object exists). A plain NotFound for an unknown id, ValidationFailed (422), RateLimited and server-side
    errors are not refusals.
  * Requests that carry no verified identity (no token, a bad or expired token) are never attributed: there
    is nobody to record, and they reached no data.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import AuthenticationFailed, Conflict, ConsentRequired, DomainError, NotFound, PermissionDenied
from core.ids import is_valid_id
from policies.permissions import Permission

REASON_MAX = 300  # the recorded reason ("ErrorClass: message"), capped
ACTION_MAX = 200  # "METHOD /route/template", as in the access log's resource column

EVIDENCE_SCOPES = frozenset({"evidence", "custody"})
CONSENT_SCOPES = frozenset({"consent", "exam", "advocacy"})
SURVIVOR_FILE_SCOPES = frozenset({"case"})
# In a protected scope but not about one survivor's file: opening a case, listing one's own cases.
UNPROTECTED = frozenset({Permission.CASE_CREATE, Permission.CASE_LIST})
# Outside the protected scopes but an attempt to get at one case's file.
ALSO_PROTECTED = frozenset({Permission.BREAK_GLASS,
                            # a case review's view holds consent-protected data; scheduling one names a case
                            Permission.REVIEW_READ, Permission.REVIEW_SCHEDULE})
# Evidence permissions that move, change or copy the evidence itself (the "attempt to take evidence"):
# every non-read custody permission, and storing or downloading an evidence file.
FILE_ACTIONS = frozenset({Permission.FILE_UPLOAD, Permission.FILE_DOWNLOAD,
                          Permission.DESTRUCTION_PROPOSE, Permission.DESTRUCTION_APPROVE})  # + destruction


class Outcome(StrEnum):
    """What an access-log row records."""

    READ = "read"  # a sensitive read that succeeded (or a break-glass access)
    REFUSED = "refused"  # a refused attempt on evidence, consent-protected data or a survivor's file


def _parts(permission: str) -> tuple[str, str, str]:
    scope, _, rest = str(permission).partition(":")
    resource, _, action = rest.partition(":")
    return scope, resource, action


def is_protected(permission: Permission | str | None) -> bool:
    """True when refusals on a route with this permission are recorded (see the module docstring)."""
    if not permission:
        return False
    if permission in UNPROTECTED:
        return False
    if permission in ALSO_PROTECTED:
        return True
    scope = _parts(permission)[0]
    return scope in EVIDENCE_SCOPES | CONSENT_SCOPES | SURVIVOR_FILE_SCOPES


def is_custody_action(permission: Permission | str | None) -> bool:
    """True for permissions that act on the evidence itself; their refusals also go on the item's ledger."""
    if not permission:
        return False
    if permission in FILE_ACTIONS:
        return True
    scope, _resource, action = _parts(permission)
    return scope == "custody" and action != "read"


def is_refusal(permission: Permission | str | None, error: type[BaseException], *, identified: bool,
               concealed: bool = False) -> bool:
    """Should a request to a route declaring `permission` that failed with `error` be recorded as refused?

    `identified`: the caller's token was verified (so the request can be attributed to someone).
    `concealed`: the error is a NotFound that hides a refusal (the service set `extra["concealed"]`).
    """
    if not identified or not is_protected(permission) or not issubclass(error, DomainError):
        return False
    if issubclass(error, (PermissionDenied, AuthenticationFailed)):  # ConsentRequired is a PermissionDenied
        return True
    if issubclass(error, Conflict):
        return is_custody_action(permission)
    if issubclass(error, NotFound):
        return concealed
    return False


def is_ledgered(permission: Permission | str | None, error: type[BaseException]) -> bool:
    """Does a recorded refusal also go on the item's ledger record? Custody actions on an item do (an attempt to
    take evidence is itself part of its chain of custody), except consent refusals, which the checkpoint has
    already ledgered (CHECKPOINT_DENIED)."""
    return is_custody_action(permission) and not issubclass(error, ConsentRequired)


# Path parameters that name an object, most specific first, and the id kind each must have.
OBJECT_PARAMS: tuple[tuple[str, str], ...] = (("transfer_id", "transfer"), ("item_id", "item"), ("review_id", "review"),
                                              ("case_id", "case"))


def path_objects(params: dict[str, object]) -> dict[str, str]:
    """The opaque ids a request's path named ({"transfer_id"|"item_id"|"case_id": id}). Anything that is not an
    id of the right kind is left out: a path segment is free text a caller typed, and could be anything."""
    found: dict[str, str] = {}
    for name, kind in OBJECT_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and is_valid_id(value, kind):
            found[name] = value
    return found


def object_of(objects: dict[str, str]) -> str | None:
    """The object a refusal is recorded against: the most specific id the path named."""
    return next((objects[name] for name, _kind in OBJECT_PARAMS if name in objects), None)


def reason_text(error: BaseException) -> str:
    """The recorded reason: the domain error's class and message, capped (messages carry no survivor identity,
    by rule; the cap keeps a long one from filling the log)."""
    detail = getattr(error, "detail", None) or str(error)
    text = " ".join(f"{type(error).__name__}: {detail}".split())  # one line: no newlines in the log
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"
