"""Shared plumbing of the `coc` CLI: config and token store, the API client, output, errors, progress."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from api.client import DEFAULT_API_URL, ApiError, CocClient

TOKEN_FILE = "token"  # noqa: S105 - a file name, not a secret
REFRESH_FILE = "refresh-token"  # the login's refresh token (0600), rotated on every renewal
CONFIG_FILE = "config.json"

JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """Per-invocation options given before the command (reset by the main callback)."""

    api_url: str | None = None


state = State()


def console() -> Console:
    """The stdout console (created per call so CliRunner's captured streams are used)."""
    # emoji=False: data is never read as Rich emoji codes (":ledger:" in "audit:ledger:verify" stays text).
    return Console(file=sys.stdout, soft_wrap=False, emoji=False,
                   width=max(Console().width, 120) if sys.stdout.isatty() else 160)


def err_console() -> Console:
    """The stderr console for errors and progress."""
    return Console(file=sys.stderr, width=160, emoji=False)


# -- config and token --------------------------------------------------------------------------
def config_dir() -> Path:
    """$COC_CONFIG_DIR, else ~/.config/coc."""
    env = os.environ.get("COC_CONFIG_DIR")
    return Path(env).expanduser() if env else Path.home() / ".config" / "coc"


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)  # an existing tmp file keeps its old mode on open(): force it
    os.replace(tmp, path)


def save_token(token: str) -> Path:
    """Store the bearer token (0600) and return its path."""
    path = config_dir() / TOKEN_FILE
    _write_private(path, token)
    return path


def load_token() -> str | None:
    """The stored token ($COC_TOKEN overrides the file, for scripts), or None."""
    env = os.environ.get("COC_TOKEN")
    if env:
        return env
    path = config_dir() / TOKEN_FILE
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def clear_token() -> bool:
    """Delete the stored token (and refresh token); True if there was an access token."""
    with contextlib.suppress(FileNotFoundError):
        (config_dir() / REFRESH_FILE).unlink()
    path = config_dir() / TOKEN_FILE
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def save_refresh_token(token: str | None) -> None:
    """Store the login's refresh token (0600), or forget it when None."""
    path = config_dir() / REFRESH_FILE
    if token is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    _write_private(path, token)


def load_refresh_token() -> str | None:
    """The stored refresh token, or None ($COC_TOKEN scripts have none: their token is used as given)."""
    if os.environ.get("COC_TOKEN"):
        return None
    try:
        return (config_dir() / REFRESH_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def _store_tokens(token: Any) -> None:
    """Keep a renewed pair (called by the client after POST /auth/refresh)."""
    save_token(token.access_token)
    save_refresh_token(token.refresh_token)


def load_config() -> dict[str, Any]:
    """The saved CLI config (the API URL last logged in to)."""
    try:
        return json.loads((config_dir() / CONFIG_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def save_config(**values: Any) -> None:
    """Merge `values` into the saved config."""
    cfg = load_config()
    cfg.update(values)
    _write_private(config_dir() / CONFIG_FILE, json.dumps(cfg, indent=2))


def api_url(explicit: str | None = None) -> str:
    """The API URL: --api-url, else $COC_API_URL, else the one saved at login, else the default."""
    return (explicit or state.api_url or os.environ.get("COC_API_URL") or load_config().get("api_url")
            or DEFAULT_API_URL)


def client(*, auth: bool = True, url: str | None = None) -> CocClient:
    """A client for the configured API; with auth, the stored token (or a clear 'run coc login' error), renewed
    automatically with the stored refresh token when it has expired (once per request)."""
    token = None
    if auth:
        token = load_token()
        if token is None:
            fail("not logged in: run `coc login` first")
        return CocClient(api_url(url), token, refresh_token=load_refresh_token(), on_tokens=_store_tokens)
    return CocClient(api_url(url), token)


# -- errors ------------------------------------------------------------------------------------
def fail(message: str, code: int = 1) -> None:
    """Print `message` to stderr and exit with `code`."""
    # The message repeats text people typed (locations, reasons): never read it as Rich markup.
    err_console().print(f"[bold red]Error:[/] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


def api_errors(fn: F) -> F:
    """Turn ApiError into the API's detail on stderr and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            where = f"{exc.status} {exc.title}" if exc.status else exc.title
            if exc.status == 401:
                fail(f"{where}: {exc.detail} (run `coc login`)")
            if exc.outcome_unknown:
                fail(f"{where}: {exc.detail}\n{lookup_hint(exc.path)}")
            fail(f"{where}: {exc.detail}")

    return wrapper  # type: ignore[return-value]


def lookup_hint(path: str) -> str:
    """What to run to see whether a change whose outcome is unknown was recorded, from the request's path."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    check = "see whether it was recorded before you repeat it"
    if len(parts) >= 2 and parts[0] == "items":
        return f"The change may or may not have been recorded: {check} with `coc evidence show {parts[1]}`."
    if len(parts) >= 2 and parts[0] == "cases":
        return (f"The change may or may not have been recorded: {check} with `coc case show {parts[1]}` "
                f"or `coc audit log --case {parts[1]}`.")
    if parts[:1] == ["transfers"]:
        return f"The change may or may not have been recorded: {check} with `coc inbox` or `coc evidence show ITEM`."
    return f"The change may or may not have been recorded: {check} (`coc case show`, `coc evidence show`)."


def parse_fields(pairs: list[str] | None) -> dict[str, Any]:
    """`--set key=value` pairs as a dict; values that parse as JSON (numbers, true, lists) are decoded."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="--set")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


SetOpt = typer.Option(None, "--set", metavar="KEY=VALUE", help="Extra request field (repeatable).")


# -- output ------------------------------------------------------------------------------------
def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (plain, never wrapped, so scripts can parse it)."""
    typer.echo(json.dumps(data, indent=2, default=str, sort_keys=False))


_ISO_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    text = str(value)
    m = _ISO_TS.match(text)
    if m:  # tables show seconds; --json keeps the full precision
        return f"{m.group(1)} {m.group(2)}{'Z' if m.group(4) in ('Z', '+00:00') else m.group(4)}"
    return text


def emit(data: Any, as_json: bool, *, title: str | None = None, columns: list[str] | None = None) -> None:
    """Print `data`: JSON with --json, else a rich table (list of rows) or a key/value table (one record)."""
    if as_json:
        print_json(data)
        return
    con = console()
    if isinstance(data, list):
        if not data:
            con.print(f"[dim]no {title.lower() if title else 'results'}[/]")
            return
        cols = columns or _columns(data)
        table = Table(title=title, show_lines=False, highlight=False)
        cells = [[_cell(row.get(c)) if isinstance(row, dict) else _cell(row) for c in cols] for row in data]
        # Short values (ids, times, states) stay on one line; long free text folds instead.
        widths = [max(len(r[n]) for r in cells) for n in range(len(cols))]
        mins = [w if w <= 20 else None for w in widths]
        needed = sum(max(m or 8, len(c)) + 3 for m, c in zip(mins, cols, strict=True)) + 1
        if needed > con.width:
            if sys.stdout.isatty():
                mins = [None] * len(cols)  # a terminal has the width it has: fold everything
            else:
                con = Console(file=sys.stdout, soft_wrap=False, emoji=False, width=needed)  # piped: never crop columns
        for col, min_width in zip(cols, mins, strict=True):
            table.add_column(col.replace("_", " "), overflow="fold", min_width=min_width)
        for r in cells:
            table.add_row(*(Text(c) for c in r))  # Text: data is never read as markup
        con.print(table)
        return
    if isinstance(data, dict):
        table = Table(title=title, show_header=False, highlight=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for key, value in data.items():
            table.add_row(Text(key.replace("_", " ")), Text(_cell(value)))
        con.print(table)
        return
    con.print("" if data is None else str(data), highlight=False, markup=False)


def _columns(rows: list[Any]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        if isinstance(row, dict):
            cols.extend(k for k in row if k not in cols)
    return cols or ["value"]


# -- progress ----------------------------------------------------------------------------------
@contextlib.contextmanager
def transfer_progress(description: str, enabled: bool) -> Iterator[Callable[[int, int | None], None] | None]:
    """A rich progress bar for uploads/downloads, or None when disabled (--json, or not a TTY)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=err_console(), transient=False) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield update
