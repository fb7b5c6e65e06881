"""The `coc` command line: one client for every audience (examiner, advocate, lab, auditor, survivor, admin)."""

from __future__ import annotations

import typer

from api.cli import common
from api.cli.admin import admin_app
from api.cli.advocacy import advocacy_app
from api.cli.audit import audit_app
from api.cli.cases import care_app, case_app, consent_app, exam_app
from api.cli.common import JsonOpt, api_errors, client, emit, fail, print_json
from api.cli.custody import custody_app, inbox
from api.cli.evidence import evidence_app
from api.cli.lab import lab_app
from api.cli.notice import notice_app
from api.cli.report import report_app
from api.cli.retention import retention_app
from api.cli.review import review_app
from api.cli.tasks import tasks
from api.client import ApiError, CocClient

app = typer.Typer(
    name="coc",
    help="Chain of Care: consent checkpoints, an unbroken chain of custody, and the survivor's pathway.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold tokens and passwords: never print them
)

# The function in api/cli/up.py that implements `coc up` (named by the stack engineer).
UP_FUNCTION = "up"

app.add_typer(case_app, name="case")
app.add_typer(consent_app, name="consent")
app.add_typer(exam_app, name="exam")
app.add_typer(care_app, name="care")
app.add_typer(evidence_app, name="evidence")
app.add_typer(custody_app, name="custody")
app.add_typer(lab_app, name="lab")
app.add_typer(audit_app, name="audit")
app.add_typer(admin_app, name="admin")
app.add_typer(report_app, name="report")
app.add_typer(review_app, name="review")
app.add_typer(retention_app, name="retention")
app.add_typer(notice_app, name="notice")
app.command("inbox")(inbox)
app.add_typer(advocacy_app, name="advocacy")
app.command("tasks")(tasks)


@app.callback()
def main(
    api_url: str = typer.Option(None, "--api-url", envvar="COC_API_URL",
                                help="API base URL (default: the one saved at login, else http://127.0.0.1:8000)."),
) -> None:
    """Chain of Care command line."""
    common.state.api_url = api_url  # reset on every invocation (CliRunner reuses the module)


@app.command("login")
@api_errors
def login(
    username: str = typer.Option(..., prompt=True, help="Your staff login name."),
    password: str = typer.Option(..., prompt=True, hide_input=True, envvar="COC_PASSWORD",
                                 help="Your password (prompted without echo if omitted)."),
    api_url: str = typer.Option(None, "--api-url", "--api", envvar="COC_API_URL",
                                help="API base URL (kept for later commands)."),
    as_json: bool = JsonOpt,
) -> None:
    """Log in and store the access token (0600) in $COC_CONFIG_DIR or ~/.config/coc."""
    url = common.api_url(api_url)
    with client(auth=False, url=url) as api:
        token = api.login(username, password)
    path = common.save_token(token.access_token)
    common.save_refresh_token(token.refresh_token)
    common.save_config(api_url=url)
    info = {"api_url": url, "username": username, "token_file": str(path), "expires_in": token.expires_in}
    if as_json:
        print_json(info)  # the token itself is never printed
    else:
        typer.echo(f"logged in to {url} as {username}; token stored in {path}")


@app.command("logout")
def logout(as_json: bool = JsonOpt) -> None:
    """End the session on the server (its refresh token is revoked) and forget the stored tokens."""
    refresh = common.load_refresh_token()
    confirmed = None
    if refresh is not None:
        try:
            with CocClient(common.api_url(), None, refresh_token=refresh) as api:
                api.logout()
            confirmed = True
        except ApiError as exc:  # still forget the tokens here; say the server did not confirm
            confirmed = False
            common.err_console().print(f"server did not confirm the logout ({exc.status}): tokens forgotten anyway",
                                       markup=False, highlight=False)
    was_logged_in = common.clear_token()
    if as_json:
        print_json({"logged_out": was_logged_in, "server_confirmed": confirmed})
    else:
        typer.echo("logged out" if was_logged_in else "not logged in")


@app.command("password")
@api_errors
def password(
    current: str = typer.Option(..., "--current", prompt="Current password", hide_input=True,
                                help="Your current password (prompted without echo)."),
    new: str = typer.Option(..., "--new", prompt="New password (12 characters or more)", hide_input=True,
                            confirmation_prompt=True, help="Your new password (prompted twice without echo)."),
    as_json: bool = JsonOpt,
) -> None:
    """Choose your own password (do it first after a coordinator creates your account: until you do, they count
    as the same person as you for two-person destruction and erasure). Your other logins end; this one goes on."""
    with client() as api:
        username = api.me()["username"]
        api.change_password(current, new)
        token = api.login(username, new)
    common.save_token(token.access_token)
    common.save_refresh_token(token.refresh_token)
    if as_json:
        print_json({"username": username, "password_changed": True})
    else:
        typer.echo(f"password changed for {username}; your other logins have ended")


@app.command("whoami")
@api_errors
def whoami(as_json: bool = JsonOpt) -> None:
    """Show the logged-in staff user."""
    with client() as api:
        emit(api.me(), as_json, title="Me")


@app.command("status")
@api_errors
def status(
    code: str = typer.Argument(..., help="The kit's tracking code (from the card you were given)."),
    password: str = typer.Option(..., prompt="Temporary password", hide_input=True,
                                 help="The temporary password from the card (prompted without echo)."),
    as_json: bool = JsonOpt,
) -> None:
    """Look up where your evidence kit is, anonymously (no login needed)."""
    with client(auth=False) as api:
        result = api.status_lookup(code, password)
    emit(result, as_json, title="Kit status")


@app.command("alerts")
@api_errors
def alerts(as_json: bool = JsonOpt) -> None:
    """List deadline alerts (evidence to lab, lab results, destruction notices)."""
    with client() as api:
        rows = api.alerts()
    emit(rows, as_json, title="Alerts")


@app.command("health")
@api_errors
def health(as_json: bool = JsonOpt) -> None:
    """Check that the API answers and every part is ready; exits 1 naming each part that is not (the ledger
    part says when the last ledger verification failed)."""
    with client(auth=False) as api:
        try:
            report = api.health()
        except ApiError as exc:  # 503: the report itself says which part is not ready
            if exc.status != 503 or "parts" not in exc.body:
                raise
            report = exc.body
    emit(report, as_json, title="Health")
    if isinstance(report, dict) and report.get("status") != "ready":
        if not as_json:
            from rich.markup import escape

            for name, part in (report.get("parts") or {}).items():
                if isinstance(part, dict) and not part.get("ok"):
                    common.console().print(f"[bold red]{escape(name)} not ready[/]: {escape(str(part.get('detail')))}")
        raise typer.Exit(1)


@app.command("up", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def up(ctx: typer.Context) -> None:
    """Start the embedded stack (database, object store, Prefect, API) on this machine."""
    try:
        # Lazy: up.py (by the stack engineer) pulls in the process launchers, which other commands never need.
        from api.cli import up as up_module
    except ImportError as exc:
        fail(f"`coc up` is not available in this build: {exc}")
    runner = getattr(up_module, UP_FUNCTION, None)
    if runner is None:
        fail(f"`coc up` is not available in this build: api/cli/up.py defines no `{UP_FUNCTION}`")
    inner = typer.Typer(add_completion=False)
    inner.command(name="up")(runner)
    # A one-command Typer becomes that command; it parses the arguments (and --help) itself.
    typer.main.get_command(inner).main(args=ctx.args, prog_name="coc up", standalone_mode=True)


if __name__ == "__main__":
    app()
