"""`coc lab`: scan (barcodes read one per line, each item checked in or out, one line printed per scan), submit
(a lab submission offer), receive (accept a lab submission addressed to you), result (analysis done)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from api.cli.common import JsonOpt, SetOpt, api_errors, client, console, emit, parse_fields
from api.client import ApiError

lab_app = typer.Typer(help="Lab and evidence-store work.", no_args_is_help=True)


@lab_app.command("scan")
def lab_scan(
    source: Path = typer.Option(None, "--input", "-i", dir_okay=False,
                                help="Read codes from this file/device instead of stdin."),
    location: str = typer.Option(None, help="Storage location recorded with check-ins."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Read scanned barcodes (one per line) and check each item in or out; prints one line per scan."""
    extra = {"location": location, **parse_fields(fields)}
    stream = source.open("r", encoding="utf-8", errors="replace") if source else sys.stdin
    failures = ok = 0
    try:
        with client() as api:
            for raw in stream:
                code = _clean_code(raw)
                if not code:
                    continue  # scanners send stray newlines; not an error
                try:
                    result = api.scan(code, **extra)
                except ApiError as exc:
                    failures += 1
                    _scan_line(as_json, code, False, exc.detail, status=exc.status)
                    if exc.status in (0, 401):  # the server is gone or our session ended: no point going on
                        break
                    continue
                ok += 1
                _scan_line(as_json, code, True, _scan_summary(result), result=result)
    finally:
        if source:
            stream.close()
    if not as_json:
        console().print(f"[dim]{ok} ok, {failures} failed[/]", highlight=False)
    if failures:
        raise typer.Exit(1)


def _show(result: Any, as_json: bool, title: str) -> None:
    if as_json or not (isinstance(result, dict) and "event" in result):
        emit(result, as_json, title=title)
        return
    emit({k: v for k, v in result["event"].items() if v is not None}, False, title=title)
    item = result.get("item") or {}
    console().print(f"item {escape(str(item.get('id')))} is now [bold]{escape(str(item.get('status')))}[/], "
                    f"custodian {escape(str(item.get('custodian')))}", highlight=False)


@lab_app.command("submit")
@api_errors
def lab_submit(
    item_id: str = typer.Argument(..., help="Item id."),
    to: str = typer.Option(..., "--to", help="Receiving lab staff member: username (or user id)."),
    reason: str = typer.Option("submitted for testing", help="Why it goes to the lab; no survivor details."),
    condition: str = typer.Option("sealed, intact", help="Condition at handover."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal."),
    as_json: bool = JsonOpt,
) -> None:
    """Offer an item to lab staff for testing (needs the testing consent); they confirm with `coc lab receive`."""
    with client() as api:
        result = api.lab_submission(item_id, to_user=to, reason=reason, condition=condition, seal_intact=seal_intact)
    emit(result, as_json, title="Lab submission offered")


@lab_app.command("receive")
@api_errors
def lab_receive(
    transfer_id: str = typer.Argument(..., help="Transfer id of the lab submission (see `coc inbox`)."),
    condition: str = typer.Option("sealed, intact", help="Condition on receipt."),
    seal_number: str = typer.Option(None, "--seal-number", help="Seal number as seen on receipt."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal on receipt."),
    as_json: bool = JsonOpt,
) -> None:
    """Accept a lab submission addressed to you (any other transfer is refused, nothing recorded)."""
    with client() as api:
        result = api.accept_transfer(transfer_id, condition=condition, seal_number=seal_number,
                                     seal_intact=seal_intact, expect_purpose="lab")
    _show(result, as_json, "Received at the lab")


@lab_app.command("result")
@api_errors
def lab_result(
    item_id: str = typer.Argument(..., help="Item id."),
    code: str = typer.Option(..., "--code", help="The lab's report reference code (no personal data)."),
    reason: str = typer.Option("analysis", help="What was done; no survivor details."),
    as_json: bool = JsonOpt,
) -> None:
    """Record that the item at the lab was analysed, with the lab's report reference code."""
    with client() as api:
        result = api.analysis(item_id, report_ref=code, reason=reason)
    _show(result, as_json, "Analysis recorded")


def _clean_code(raw: str) -> str:
    """A scanned code: surrounding whitespace and control characters (scanner suffixes) removed."""
    return "".join(ch for ch in raw.strip() if ch.isprintable())


def _scan_summary(result: Any) -> str:
    if not isinstance(result, dict):
        return str(result)
    if isinstance(result.get("event"), dict):  # a custody action: {event, item}
        result = {**result["event"], "status": None}
    parts = [str(result[k]) for k in ("kind", "action", "status") if result.get(k)]
    if result.get("location"):
        parts.append(f"at {result['location']}")
    return " ".join(parts) or "recorded"


def _scan_line(as_json: bool, code: str, ok: bool, message: str, *, status: int | None = None,
               result: Any = None) -> None:
    if as_json:
        line: dict[str, Any] = {"code": code, "ok": ok, "message": message}
        if status is not None:
            line["status"] = status
        if result is not None:
            line["result"] = result
        typer.echo(json.dumps(line, default=str))  # JSON lines: one object per scan
    else:
        mark = "[green]OK  [/]" if ok else "[red]FAIL[/]"
        console().print(f"{mark} {escape(code)}  {escape(message)}", highlight=False, markup=True)
    sys.stdout.flush()  # a person at the scanner waits for each line
