"""`coc audit`: ledger log, server-side verification, bundle export and offline bundle verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from api.cli.common import JsonOpt, api_errors, client, console, emit, fail, print_json, transfer_progress

audit_app = typer.Typer(help="The tamper-evident audit ledger.", no_args_is_help=True)

LOG_COLUMNS = ["seq", "at", "kind", "actor", "case_id", "item_id", "entry_hash"]


@audit_app.command("log")
@api_errors
def audit_log(
    case_id: str = typer.Option(None, "--case", help="Only entries of this case."),
    item_id: str = typer.Option(None, "--item", help="Only entries of this item."),
    after: int = typer.Option(None, help="Only entries after this sequence number."),
    limit: int = typer.Option(None, help="At most this many entries."),
    as_json: bool = JsonOpt,
) -> None:
    """List ledger entries (pseudonymous ids only)."""
    with client() as api:
        rows = api.audit_log(case_id=case_id, item_id=item_id, after=after, limit=limit)
    keys = {k for r in rows if isinstance(r, dict) for k in r}
    cols = [c for c in LOG_COLUMNS if c in keys] or None
    emit(rows, as_json, title="Ledger", columns=cols)


@audit_app.command("verify")
@api_errors
def audit_verify(as_json: bool = JsonOpt) -> None:
    """Ask the server to re-verify the whole ledger; exits 1 if it is not intact."""
    with client() as api:
        report = api.audit_verify()
    emit(report, as_json, title="Ledger verification")
    if not _is_ok(report):
        raise typer.Exit(1)


@audit_app.command("export")
@api_errors
def audit_export(
    case_id: str = typer.Option(None, "--case", help="Export the bundle of this case."),
    item_id: str = typer.Option(None, "--item", help="Export the bundle of this item."),
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False, help="Where to write the JSON bundle."),
    pdf: Path = typer.Option(None, "--pdf", dir_okay=False, help="Also write the PDF report here."),
    as_json: bool = JsonOpt,
) -> None:
    """Export the signed evidence bundle (JSON) of a case or item, and optionally its PDF report."""
    if (case_id is None) == (item_id is None):
        raise typer.BadParameter("give exactly one of --case or --item")
    with client() as api:
        bundle = api.export_bundle(case_id=case_id, item_id=item_id)
        out.write_text(json.dumps(bundle, indent=2))
        result: dict[str, Any] = {"bundle": str(out), "bytes": out.stat().st_size}
        if pdf is not None:
            with pdf.open("wb") as fh, transfer_progress(f"report {pdf.name}", not as_json) as progress:
                info = api.export_pdf(fh, case_id=case_id, item_id=item_id, progress=progress)
            result.update(pdf=str(pdf), pdf_bytes=info.bytes)
    emit(result, as_json, title="Exported")


@audit_app.command("public-key")
@api_errors
def audit_public_key(
    out: Path = typer.Option(None, "--out", "-o", dir_okay=False, help="Write the key to this file."),
) -> None:
    """Fetch the ledger's signing public key (for `coc audit verify-bundle --key`)."""
    with client() as api:
        key = api.public_key()
    text = key if isinstance(key, str) else json.dumps(key, indent=2)
    if out is not None:
        out.write_text(text)
        typer.echo(f"public key written to {out}")
    else:
        typer.echo(text)


@audit_app.command("verify-bundle")
def audit_verify_bundle(
    bundle: Path = typer.Argument(..., exists=True, dir_okay=False, help="The exported JSON bundle."),
    key: str = typer.Option(..., "--key", help="The ledger's public key: a file, or the key text itself."),
    as_json: bool = JsonOpt,
) -> None:
    """Verify an exported bundle offline (no server, no database): signatures, proofs and hashes."""
    from evidence.audit import verify_bundle  # offline verifier; imported here so other commands stay light

    key_path = Path(key)
    key_pem = key_path.read_bytes() if key_path.is_file() else key.encode()
    try:
        data = json.loads(bundle.read_text())
    except ValueError as exc:
        fail(f"{bundle} is not a JSON bundle: {exc}")
    try:
        report = verify_bundle(data, key_pem)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is a failed verification
        report = {"ok": False, "detail": str(exc)}
    data_out = _as_dict(report)
    emit(data_out, as_json, title="Bundle verification")
    if not _is_ok(data_out):
        if not as_json:
            console().print("[bold red]bundle NOT verified[/]")
        raise typer.Exit(1)
    if not as_json:
        console().print("[bold green]bundle verified[/]")


def _as_dict(report: Any) -> dict[str, Any]:
    if isinstance(report, dict):
        return report
    if hasattr(report, "model_dump"):
        return report.model_dump(mode="json")
    if hasattr(report, "__dataclass_fields__"):
        import dataclasses

        return json.loads(json.dumps(dataclasses.asdict(report), default=str))
    if isinstance(report, bool):
        return {"ok": report}
    return {"ok": bool(report), "detail": str(report)}


def _is_ok(report: Any) -> bool:
    if isinstance(report, dict):
        for key in ("ok", "valid", "verified", "intact"):
            if key in report:
                return bool(report[key])
    return bool(report)


__all__ = ["audit_app", "print_json"]
