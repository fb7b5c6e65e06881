"""A GENERATED authorization matrix over every route of create_app() (routers added later are covered too).

Each route must declare exactly one permission (api.deps.Authorized) unless it is explicitly public or
authenticated-only. For every route × principal (each role assigned to the case, a right-role user NOT assigned,
deactivated users, no token) the expected allow/deny is computed from ROLE_PERMISSIONS and CASE_SCOPED;
a request "is denied" when it is answered 401 or 403. Any unexpected allow fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from api.app import iter_api_routes
from api.deps import route_authorizer, route_permissions
from core.ids import new_id
from policies.permissions import CASE_SCOPED, CASE_SCOPED_FOR, Role, role_allows
from tests.api_helpers import ApiHarness, StaffUser, api_harness

# Reachable without a token (the contract's list). Nothing else may be public.
PUBLIC = {("GET", "/health"), ("POST", "/auth/token"), ("GET", "/auth/jwks.json"), ("POST", "/status/lookup"),
          ("POST", "/auth/refresh"), ("POST", "/auth/logout"),  # the refresh token is the credential
          # The survivor's status page (api.web): the card's code + password, or the signed form token, is the
          # credential; no staff account.
          ("GET", "/status"), ("POST", "/status"), ("POST", "/status/view"), ("POST", "/status/contact"),
          ("GET", "/status/status.css")}
          ("POST", "/status/requests")}  # the survivor's notice request: the lookup code + password are the credential
# Any active staff user, whatever the role (no permission to check).
AUTHENTICATED_ONLY = {("GET", "/me")}
DENIED = {401, 403}


@dataclass(frozen=True)
class Principal:
    """Who calls: a label, headers, and what the matrix expects of them."""

    label: str
    headers: dict[str, str]
    role: Role | None
    active: bool
    assigned: bool


def api_routes(app) -> list[tuple[str, object]]:
    """(method, route) for every API route of the app."""
    out = []
    for route in iter_api_routes(app):
        for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"}):
            out.append((method, route))
    assert out, "no API routes found: introspection is broken"
    return out


def fill_path(path: str, case_id: str, victim_id: str) -> str:
    """Substitute path parameters: the real case, a bystander user, or fresh ids of the right kind."""
    fakes = {"case_id": case_id, "user_id": victim_id, "item_id": new_id("item"), "transfer_id": new_id("transfer"),
             "alert_id": new_id("alert")}
    for name, value in fakes.items():
        path = path.replace("{" + name + "}", value)
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + new_id("lookup") + path[end + 1:]
    return path


@pytest.fixture
def harness(db_url, tmp_path, clock):
    """The app on a fresh database."""
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def principals(h: ApiHarness, case_id: str) -> list[Principal]:
    """Every role assigned to the case, every role unassigned, every role deactivated, and no token."""
    out = []
    for role in Role:
        u: StaffUser = h.user(role, assign_to=case_id)
        out.append(Principal(f"{role}-assigned", u.headers, role, True, True))
        u = h.user(role)
        out.append(Principal(f"{role}-unassigned", u.headers, role, True, False))
        u = h.user(role, assign_to=case_id, active=False)
        out.append(Principal(f"{role}-deactivated", u.headers, role, False, True))
    out.append(Principal("anonymous", {}, None, False, False))
    return out


def test_every_route_declares_one_permission_or_is_explicitly_public(harness):
    """No route slips through without an authorization decision."""
    problems = []
    for method, route in api_routes(harness.app):
        key = (method, route.path)
        perms = route_permissions(route)
        if key in PUBLIC or key in AUTHENTICATED_ONLY:
            if perms:
                problems.append(f"{method} {route.path}: listed as public/authenticated-only but declares {perms}")
            continue
        if len(perms) != 1:
            problems.append(f"{method} {route.path}: declares {len(perms)} permissions (exactly one required)")
    assert not problems, "\n".join(problems)


def test_generated_authorization_matrix(harness):
    """For every route × principal, 401/403 exactly where ROLE_PERMISSIONS/CASE_SCOPED say deny; no unexpected allow."""
    h = harness
    opener = h.user(Role.EXAMINER)
    case_id = h.client.post("/cases", json={}, headers=opener.headers).json()["id"]
    victim = h.user(Role.ADVOCATE)
    people = principals(h, case_id)
    unexpected_allow, unexpected_deny, checked = [], [], 0
    for method, route in api_routes(h.app):
        key = (method, route.path)
        if key in PUBLIC:
            continue
        authorizer = route_authorizer(route)
        case_in_path = authorizer is not None and authorizer.case_from is None and \
            "{" + authorizer.case_param + "}" in route.path
        for who in people:
            if key in AUTHENTICATED_ONLY:
                expect_allow = who.active
            else:
                assert authorizer is not None, f"{method} {route.path} declares no permission"
                perm = authorizer.permission
                expect_allow = who.active and who.role is not None and role_allows(who.role, perm)
                scoped_for_role = who.role is not None and who.role in CASE_SCOPED_FOR.get(perm, ())
                if expect_allow and scoped_for_role and perm not in CASE_SCOPED:
                    # case-scoped for this role in the service (the item's case): the case in the path decides
                    if case_in_path:
                        expect_allow = who.assigned
                    elif not who.assigned:
                        continue  # item routes: covered by test_api_evidence (unassigned examiner → 403)
                if expect_allow and perm in CASE_SCOPED:
                    if case_in_path:
                        expect_allow = who.assigned
                    elif authorizer.case_from is None:
                        expect_allow = False  # case-scoped without any way to find the case: fail closed
                    elif not who.assigned:
                        continue  # resolver routes address other objects: covered by their owners' tests
            url = fill_path(route.path, case_id, victim.id)
            resp = h.client.request(method, url, headers=who.headers, json={})
            checked += 1
            # A consent-checkpoint refusal (403 consent-required) comes AFTER authorization passed: it is an
            # allow as far as this matrix is concerned (and an unexpected allow if the role should not get there).
            consent_refusal = resp.status_code == 403 and "consent-required" in resp.json().get("type", "")
            denied = resp.status_code in DENIED and not consent_refusal
            if not expect_allow and not denied:
                unexpected_allow.append(f"{method} {route.path} as {who.label}: {resp.status_code}")
            if expect_allow and denied:
                unexpected_deny.append(f"{method} {route.path} as {who.label}: {resp.status_code} {resp.text[:120]}")
    assert checked > 0
    assert not unexpected_allow, "UNEXPECTED ALLOW:\n" + "\n".join(unexpected_allow)
    assert not unexpected_deny, "unexpected deny:\n" + "\n".join(unexpected_deny)
