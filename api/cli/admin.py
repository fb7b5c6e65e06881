"""`coc admin user ...`: staff accounts (coordinators)."""

from __future__ import annotations

import typer

from api.cli.common import JsonOpt, SetOpt, api_errors, client, emit, parse_fields

admin_app = typer.Typer(help="Administration (coordinators).", no_args_is_help=True)
user_app = typer.Typer(help="Staff user accounts.", no_args_is_help=True)
admin_app.add_typer(user_app, name="user")

USER_COLUMNS = ["id", "username", "role", "active", "created_at"]


@user_app.command("add")
@api_errors
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., help="examiner | advocate | lab | law_enforcement | auditor | coordinator."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 envvar="COC_NEW_USER_PASSWORD", help="Initial password (prompted if omitted)."),
    subject: str = typer.Option(None, help="The user's subject at an external identity provider, if any."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create a staff user."""
    body = {"username": username, "role": role, "password": password, "subject": subject,
            **parse_fields(fields)}
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
