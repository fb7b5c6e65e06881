"""Staff users, case assignments, break-glass grants and the one authorize() every route goes through.

Security assumptions: authorization comes from OUR database (role, active flag, assignments), never from
claims in a token; anything unknown (role, permission, user, case) is denied (fail closed).

Modules, one concern each (import the package, `from policies.authz import X`):
- `users`: the staff account table and shapes, lookups, create/update, `active_actor` (authentication);
- `decisions`: assignments, break-glass grants, `authorize()`;
- `accounts`: who may act as whom (a creator until the holder's own password), the holder's password change;
- `passwords`: PURE staff password hashes (argon2id; earlier scrypt hashes verified and rehashed at login).
"""

from policies.authz.accounts import (
    PasswordChange,
    change_own_password,
    created_local_account,
    one_person,
)
from policies.authz.decisions import (
    BREAK_GLASS_TTL,
    AssignmentCreate,
    AssignmentPublic,
    AuthDecision,
    BreakGlassCreate,
    BreakGlassGrant,
    BreakGlassPublic,
    CaseAssignment,
    active_assignment,
    active_break_glass,
    assign,
    assigned_case_ids,
    authorize,
    break_glass,
    list_assignments,
    list_break_glass,
    show_break_glass,
    unassign,
)
from policies.authz.passwords import hash_password, needs_rehash, verify_password
from policies.authz.users import (
    User,
    UserBase,
    UserCreate,
    UserPublic,
    UserUpdate,
    active_actor,
    create_user,
    get_user,
    resolve_user,
    update_user,
    user_agency_kind,
    user_by_subject,
    user_by_username,
    user_public,
    users_public,
)

__all__ = [
    "BREAK_GLASS_TTL", "AssignmentCreate", "AssignmentPublic", "AuthDecision", "BreakGlassCreate",
    "BreakGlassGrant", "BreakGlassPublic", "CaseAssignment", "User", "UserBase", "UserCreate", "UserPublic",
    "UserUpdate", "active_actor", "active_assignment", "active_break_glass", "assign", "assigned_case_ids",
    "authorize", "break_glass", "create_user", "get_user", "list_assignments", "list_break_glass", "resolve_user",
    "show_break_glass", "unassign", "update_user", "user_agency_kind", "user_by_subject", "user_by_username",
    "user_public", "users_public", "created_local_account", "one_person", "PasswordChange", "change_own_password",
    "hash_password", "needs_rehash", "verify_password",
]
