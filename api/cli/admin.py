"""`coc admin user ...` and `coc admin agency ...`: staff accounts and partner agencies (coordinators)."""

from __future__ import annotations

import typer

from api.cli import erasure
from api.cli.common import JsonOpt, SetOpt, api_errors, client, emit, fail, parse_fields

admin_app = typer.Typer(help="Administration (coordinators).", no_args_is_help=True)
user_app = typer.Typer(help="Staff user accounts.", no_args_is_help=True)
admin_app.add_typer(user_app, name="user")
agency_app = typer.Typer(help="Agencies: the centre and its partners (police, crime lab, ...).",
                         no_args_is_help=True)
admin_app.add_typer(agency_app, name="agency")
admin_app.command("rotate-key")(api_errors(erasure.rotate_key))
admin_app.command("reencrypt")(api_errors(erasure.reencrypt))

USER_COLUMNS = ["id", "username", "role", "agency", "agency_kind", "active", "created_at"]
AGENCY_COLUMNS = ["id", "name", "kind", "created_at"]
AgencyOpt = typer.Option(None, "--agency", help="The user's agency by name (see `coc admin agency list`); "
                                                "centre roles default to the centre, law_enforcement must name one.")


@user_app.command("add")
@api_errors
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., help="examiner | advocate | lab | law_enforcement | auditor | coordinator."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="COC_NEW_USER_PASSWORD", help="Initial password (prompted if omitted)."),
    subject: str = typer.Option(None, help="The user's subject at an external identity provider, if any."),
    agency: str = AgencyOpt,
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a staff user (in the centre unless --agency names a partner agency)."""
    body = {"username": username, "role": role, "password": password, "subject": subject,
            **({"agency": agency} if agency else {}), **parse_fields(fields)}
    with client() as api:
        user = api.create_user(**body)
    emit(user, as_json, title="User created")


@user_app.command("list")
@api_errors
def user_list(as_json: bool = JsonOpt) -> None:
    """List staff users (review them: former employees must not keep access)."""
    with client() as api:
        users = api.list_users()
    keys = {k for u in users if isinstance(u, dict) for k in u}
    emit(users, as_json, title="Users", columns=[c for c in USER_COLUMNS if c in keys] or None)


@user_app.command("deactivate")
@api_errors
def user_deactivate(user_id: str = typer.Argument(..., help="User id."), as_json: bool = JsonOpt) -> None:
    """Deactivate a staff user (their tokens stop working)."""
    with client() as api:
        user = api.update_user(user_id, active=False)
    emit(user, as_json, title="User deactivated")


@user_app.command("set-role")
@api_errors
def user_set_role(
    user_id: str = typer.Argument(..., help="User id."),
    role: str = typer.Argument(..., help="New role."),
    as_json: bool = JsonOpt,
) -> None:
    """Change a staff user's role."""
    with client() as api:
        user = api.update_user(user_id, role=role)
    emit(user, as_json, title="User updated")


def _user_id(api, user: str) -> str:
    """The id of the staff user named `user` (a username; an id is accepted as is)."""
    offset = 0
    while True:
        page = api.list_users(limit=500, offset=offset)
        for u in page:
            if user in (u.get("username"), u.get("id")):
                return str(u["id"])
        if len(page) < 500:
            fail(f"no staff user {user!r}: check `coc admin user list`")
        offset += 500


@user_app.command("update")
@api_errors
def user_update(
    user: str = typer.Argument(..., help="Username (or user id)."),
    role: str = typer.Option(None, help="New role."),
    agency: str = AgencyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Change a staff user's role and/or agency (the role must fit the agency's kind)."""
    with client() as api:
        updated = api.update_user(_user_id(api, user), role=role, agency=agency)
    emit(updated, as_json, title="User updated")


@agency_app.command("add")
@api_errors
def agency_add(
    name: str = typer.Argument(..., help="The agency's name, e.g. \"County Police\"."),
    kind: str = typer.Option(..., help="police | crime-lab | prosecution | advocacy-org."),
    as_json: bool = JsonOpt,
) -> None:
    """Register a partner agency; then create its staff with `coc admin user add ... --agency NAME`."""
    with client() as api:
        agency = api.create_agency(name, kind)
    emit(agency, as_json, title="Agency registered")


@agency_app.command("list")
@api_errors
def agency_list(as_json: bool = JsonOpt) -> None:
    """List agencies (the centre's own and its partners)."""
    with client() as api:
        agencies = api.list_agencies()
    emit(agencies, as_json, title="Agencies", columns=AGENCY_COLUMNS)
