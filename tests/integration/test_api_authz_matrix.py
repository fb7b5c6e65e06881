"""A GENERATED authorization matrix over every route of create_app() (routers added later are covered too).

Each route must declare exactly one permission (api.deps.Authorized) unless it is explicitly public or
authenticated-only. The requests are aimed at REAL objects (tests.api_world: a case with an identity, an item with
a stored file, an open transfer and an integrity incident), so routes that find their case through an item or
transfer id are exercised with real ids. For every route × principal (each role assigned to the case, the same
role NOT assigned, deactivated, and no token) the expected allow/deny is computed from ROLE_PERMISSIONS,
CASE_SCOPED, CASE_SCOPED_FOR and item visibility (evidence.custody.require_item_visible's rule). A request "is
denied" when it is answered 401, 403 or 404 (a hidden object answers as a missing one); "allowed" means none of
those on the real object (a 409 or 422 is the route's own answer to a caller who got past authorization).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from api.app import iter_api_routes
from api.deps import route_authorizer, route_permissions
from policies.permissions import CASE_SCOPED, CASE_SCOPED_FOR, Permission, Role, role_allows
from tests.api_helpers import ApiHarness, StaffUser, api_harness
from tests.api_world import World, build_world

# Reachable without a token (the contract's list). Nothing else may be public.
PUBLIC = {("GET", "/health"), ("POST", "/auth/token"), ("GET", "/auth/jwks.json"), ("POST", "/status/lookup"),
          ("POST", "/auth/refresh"), ("POST", "/auth/logout"),  # the refresh token is the credential
          # The survivor's status page (api.web): the card's code + password, or the signed form token, is the
          # credential; no staff account.
          ("GET", "/status"), ("POST", "/status"), ("POST", "/status/view"), ("POST", "/status/contact"),
          ("GET", "/status/status.css"), ("POST", "/status/notice"), ("POST", "/status/extend"),
          ("POST", "/status/requests")}  # the survivor's notice request: the lookup code + password are the credential
# Any active staff user, whatever the role (no permission to check).
AUTHENTICATED_ONLY = {("GET", "/me"), ("POST", "/auth/password")}  # your own account
DENIED = {401, 403, 404}


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


def fill_path(path: str, world: World, victim_id: str) -> str:
    """Substitute path parameters with the world's real ids (user_id: a real staff user assigned to the case)."""
    values = {**world.path_values(), "user_id": victim_id}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"a path parameter has no real object in tests.api_world: {path}"
    return path


def sees_items_of_case(who: Principal) -> bool:
    """evidence.custody.require_item_visible for the world's item: examiners and advocates by assignment, law
    enforcement only items offered to them (none here), centre lab staff, auditors and coordinators by role."""
    if who.role in CASE_SCOPED_FOR[Permission.ITEM_READ]:
        return who.assigned
    return who.role != Role.LAW_ENFORCEMENT


def chairs_the_review(who: Principal) -> bool:
    """policies.review for the world's review, whose only participant is the opener: a participant sees it (and
    marks its own agency's action items done), its chair (a coordinator who may schedule reviews of the case:
    assigned) sees it, records decisions and action items and marks any action item done; anyone else is
    refused (403), whatever their role allows."""
    return who.assigned and who.role is not None and role_allows(who.role, Permission.REVIEW_SCHEDULE)


def expect_allowed(method: str, route, who: Principal) -> bool:
    """What the rules say this principal may do on this route, aimed at the world's real objects."""
    if (method, route.path) in AUTHENTICATED_ONLY:
        return who.active
    authorizer = route_authorizer(route)
    assert authorizer is not None, f"{method} {route.path} declares no permission"
    perm = authorizer.permission
    if not (who.active and who.role is not None and role_allows(who.role, perm)):
        return False
    if ("{item_id}" in route.path or "{transfer_id}" in route.path) and not sees_items_of_case(who):
        return False  # visibility before state: the object is hidden, answered as missing
    if "{request_seq}" in route.path:  # a contact request: staff assigned to its case and coordinators see it
        return who.assigned or who.role == Role.COORDINATOR
    if "{review_id}" in route.path or "{action_id}" in route.path:
        return chairs_the_review(who)  # policies.review decides; no principal here is a participant
    if perm in CASE_SCOPED:
        finds_case = authorizer.case_from is not None or "{" + authorizer.case_param + "}" in route.path
        return finds_case and who.assigned  # case-scoped without a way to find the case: fail closed
    if who.role in CASE_SCOPED_FOR.get(perm, ()) and "{case_id}" in route.path:
        return who.assigned
    return True


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    """The app on a fresh database and its own Object-Lock bucket (the world stores a file)."""
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-mx-{secrets.token_hex(5)}")
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


def test_generated_authorization_matrix(harness, capsys):
    """For every route × principal on real objects: denied (401/403/404) exactly where the rules say deny."""
    h = harness
    world = build_world(h)
    victim = h.user(Role.ADVOCATE, assign_to=world.case_id)
    people = principals(h, world.case_id)
    routes = [(m, r) for m, r in api_routes(h.app) if (m, r.path) not in PUBLIC]
    unexpected_allow, unexpected_deny = [], []
    checked = allowed = 0
    for method, route in routes:
        for who in people:
            expect_allow = expect_allowed(method, route, who)
            if method == "DELETE" and "{user_id}" in route.path:
                h.assign(world.case_id, victim)  # a previous allowed call revoked it: aim at a real assignment
            url = fill_path(route.path, world, victim.id)
            resp = h.client.request(method, url, headers=who.headers, json={})
            checked += 1
            # A consent-checkpoint refusal (403 consent-required) comes AFTER authorization passed: it is an
            # allow as far as this matrix is concerned (and an unexpected allow if the role should not get there).
            consent_refusal = resp.status_code == 403 and "consent-required" in resp.json().get("type", "")
            denied = resp.status_code in DENIED and not consent_refusal
            allowed += not denied
            if not expect_allow and not denied:
                unexpected_allow.append(f"{method} {route.path} as {who.label}: {resp.status_code}")
            if expect_allow and denied:
                unexpected_deny.append(f"{method} {route.path} as {who.label}: {resp.status_code} {resp.text[:160]}")
    states = len(people) - 1  # each role × {assigned, unassigned, deactivated}, plus anonymous
    size = f"{len(routes)} routes × ({len(Role)} roles × 3 assignment states + anonymous) = {checked} requests"
    with capsys.disabled():
        print(f"\nauthorization matrix: {size}; {allowed} allowed, {checked - allowed} denied")
    assert checked == len(routes) * (states + 1) and len(routes) > 60
    assert not unexpected_allow, "UNEXPECTED ALLOW:\n" + "\n".join(unexpected_allow)
    assert not unexpected_deny, "unexpected deny:\n" + "\n".join(unexpected_deny)


def test_unassigned_examiner_is_refused_the_item_routes_that_find_their_case_through_the_item(harness):
    """The holes the old matrix skipped: an unassigned examiner on a REAL item: download, upload, release and the
    status-lookup enrolment are refused (404: the item is not theirs to see); the assigned examiner gets past."""
    h = harness
    world = build_world(h)
    stranger = h.user(Role.EXAMINER)
    colleague = h.user(Role.EXAMINER, assign_to=world.case_id)
    item = world.item_id
    calls = [("GET", f"/items/{item}/file", {}), ("PUT", f"/items/{item}/file", {"content": b"x"}),
             ("POST", f"/items/{item}/release", {"json": {"to_user": stranger.id, "reason": "r", "condition": "c"}}),
             ("POST", f"/items/{item}/status-lookup", {})]
    for method, url, kwargs in calls:
        refused = h.client.request(method, url, headers=stranger.headers, **kwargs)
        assert refused.status_code == 404, (method, url, refused.text)
        assert item in refused.json()["detail"] and "custod" not in refused.text
        passed = h.client.request(method, url, headers=colleague.headers, **kwargs)
        assert passed.status_code not in DENIED, (method, url, passed.text)
