"""`coc audit`: ledger log, server-side verification, bundle export and offline bundle verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from api.cli.common import JsonOpt, api_errors, client, console, emit, fail, print_json, transfer_progress

audit_app = typer.Typer(help="The tamper-evident audit ledger.", no_args_is_help=True)

LOG_COLUMNS = ["seq", "recorded_at", "kind", "case_id", "item_id", "entry_hash"]


@audit_app.command("log")
@api_errors
def audit_log(
    case_id: str = typer.Option(None, "--case", help="Only entries of this case."),
    item_id: str = typer.Option(None, "--item", help="Only entries of this item."),
    kind: str = typer.Option(None, help="Only entries of this kind, e.g. custody:item:checked-in."),
    after: int = typer.Option(None, help="Only entries after this sequence number."),
    limit: int = typer.Option(None, help="At most this many entries (server default 100, max 1000)."),
    as_json: bool = JsonOpt,
) -> None:
    """List ledger entries in sequence order (pseudonymous ids only)."""
    with client() as api:
        rows = api.audit_log(case_id=case_id, item_id=item_id, kind=kind, after_seq=after, limit=limit)
    emit(rows, as_json, title="Ledger", columns=None if as_json else LOG_COLUMNS)


ACCESS_COLUMNS = ["at", "outcome", "user_id", "role", "permission", "resource", "case_id", "object_id", "break_glass",
                  "reason"]


@audit_app.command("access-log")
@api_errors
def audit_access_log(
    case_id: str = typer.Option(None, "--case", help="Only rows of this case."),
    user: str = typer.Option(None, "--user", help="Only this staff user (username or user id)."),
    object_id: str = typer.Option(None, "--object", help="Only rows about this item, transfer or case id."),
    refused: bool = typer.Option(False, "--refused", help="Refused attempts instead of reads: who tried what on "
                                                          "which object, and why it was refused."),
    every: bool = typer.Option(False, "--all", help="Reads and refused attempts together."),
    limit: int = typer.Option(None, help="At most this many rows (server default 100, max 500)."),
    as_json: bool = JsonOpt,
) -> None:
    """Review the access log: reads of sensitive data (identity, exam, care, safety plans, photographs), or with
    --refused the refused attempts on evidence, consent-protected data and survivors' files."""
    if refused and every:
        raise typer.BadParameter("give at most one of --refused or --all")
    outcome = "refused" if refused else "all" if every else "read"
    with client() as api:
        user_id = _user_id(api, user) if user else None
        rows = api.access_log(case_id=case_id, user_id=user_id, outcome=outcome, object_id=object_id, limit=limit)
    emit(rows, as_json, title="Refused attempts" if refused else "Access log",
         columns=None if as_json else ACCESS_COLUMNS)


def _user_id(api: Any, user: str) -> str:
    """The id of the staff user named `user` (a username; an id, or a token subject, is passed through)."""
    for row in api.list_users():
        if user in (row.get("username"), row.get("id")):
            return str(row["id"])
    return user  # not a current account (e.g. an identity-provider subject of an unknown account): as given


@audit_app.command("tree-head")
@api_errors
def audit_tree_head(
    out: Path = typer.Option(None, "--out", "-o", dir_okay=False, help="Write the signed tree head here (JSON)."),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch the current signed tree head. Keep it (outside the centre): `coc audit verify --since FILE` later
    proves the ledger only grew since, which the database alone cannot (its newest rows could be rewritten)."""
    with client() as api:
        sth = api.tree_head()
    if out is not None:
        out.write_text(json.dumps(sth, indent=2))
    emit(sth if out is None or as_json else {"tree_head": str(out), **sth}, as_json, title="Signed tree head")


@audit_app.command("verify")
@api_errors
def audit_verify(
    deep: bool = typer.Option(False, "--deep", help="Also re-derive every entry's hash from its stored bytes."),
    since: Path = typer.Option(None, "--since", exists=True, dir_okay=False,
                               help="A signed tree head kept earlier (`coc audit tree-head --out`): also prove, "
                                    "offline, that today's ledger extends it (RFC 9162 consistency proof)."),
    key: str = typer.Option(None, "--key", help="With --since: the ledger's public key (file or PEM text)."),
    as_json: bool = JsonOpt,
) -> None:
    """Ask the server to recompute the hash chain and Merkle tree; exits 1 if the ledger is not intact."""
    if since is not None and key is None:
        raise typer.BadParameter("--since needs --key (the public key you trust, kept with the tree head)")
    with client() as api:
        report = api.audit_verify(deep=deep)
        if since is not None and _is_ok(report):
            report["since"] = _check_since(api, since, _read_key(key), report.get("tree_head"))
            report["ok"] = report["since"]["ok"]
    if as_json:
        emit(report, True)
    else:
        shown = {k: v for k, v in report.items() if k != "tree_head"}
        emit(shown, False, title="Ledger verification")
        console().print("[bold green]ledger intact[/]" if _is_ok(report) else "[bold red]ledger NOT intact[/]")
    if not _is_ok(report):
        raise typer.Exit(1)


@audit_app.command("export")
@api_errors
def audit_export(
    case_id: str = typer.Option(None, "--case", help="Export the bundle of this case."),
    item_id: str = typer.Option(None, "--item", help="Export the bundle of this item."),
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False, help="Where to write the JSON bundle."),
    pdf: Path = typer.Option(None, "--pdf", dir_okay=False, help="Also write the PDF report here."),
    allow_broken: bool = typer.Option(False, "--allow-broken-ledger",
                                      help="Export even when the ledger does not verify (for the investigation): "
                                           "the bundle and every PDF page are marked LEDGER NOT INTACT."),
    as_json: bool = JsonOpt,
) -> None:
    """Export the signed evidence bundle (JSON) of a case or item, and optionally its PDF report. The server
    verifies the whole ledger first and refuses when it is not intact (unless --allow-broken-ledger)."""
    if (case_id is None) == (item_id is None):
        raise typer.BadParameter("give exactly one of --case or --item")
    with client() as api:
        bundle = api.export_bundle(case_id=case_id, item_id=item_id, allow_unverified=allow_broken)
        out.write_text(json.dumps(bundle, indent=2))
        result: dict[str, Any] = {"bundle": str(out), "bytes": out.stat().st_size}
        if pdf is not None:
            with pdf.open("wb") as fh, transfer_progress(f"report {pdf.name}", not as_json) as progress:
                info = api.export_pdf(fh, case_id=case_id, item_id=item_id, progress=progress,
                                      allow_unverified=allow_broken)
            result.update(pdf=str(pdf), pdf_bytes=info.bytes)
    state = bundle.get("ledger_verification") if isinstance(bundle, dict) else None
    result["ledger"] = state.get("statement") if isinstance(state, dict) else "not stated by the server"
    emit(result, as_json, title="Exported")
    if isinstance(state, dict) and state.get("ok") is False and not as_json:
        console().print(f"[bold red]{escape(str(state.get('statement')))}[/]: this export is marked so on every "
                        "page; run `coc audit verify` and contact the auditor")


@audit_app.command("public-key")
@api_errors
def audit_public_key(
    out: Path = typer.Option(None, "--out", "-o", dir_okay=False, help="Write the PEM key to this file."),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch the ledger's signing public key (PEM) for `coc audit verify-bundle --key`; compare its fingerprint."""
    with client() as api:
        key = api.public_key()
    if out is not None:
        out.write_text(key["public_key_pem"])
    if as_json:
        emit(key, True)
    elif out is not None:
        typer.echo(f"public key written to {out} (fingerprint {key.get('fingerprint')})")
    else:
        typer.echo(key["public_key_pem"].rstrip())
        typer.echo(f"fingerprint: {key.get('fingerprint')}")


@audit_app.command("verify-bundle")
def audit_verify_bundle(
    bundle: Path = typer.Argument(..., exists=True, dir_okay=False, help="The exported JSON bundle."),
    key: str = typer.Option(..., "--key", help="The ledger's public key: a file, or the key text itself."),
    as_json: bool = JsonOpt,
) -> None:
    """Verify an exported bundle offline (no server, no database): signatures, proofs and hashes."""
    from evidence.audit.custody_rows import verify_bundle  # offline (no database); imported here to stay light

    key_pem = _read_key(key)
    try:
        data = json.loads(bundle.read_text())
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep for the JSON parser
        fail(f"{bundle} is not a JSON bundle: {exc}")
    try:
        report = verify_bundle(data, key_pem)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is a failed verification
        report = {"ok": False, "detail": str(exc)}
    data_out = _as_dict(report)
    if isinstance(data, dict) and not isinstance(report, dict):
        data_out["custody"] = _custody_lines(data, report)
    if as_json:
        emit(data_out, True)
    else:
        emit({k: v for k, v in data_out.items() if k not in ("staff", "custody")}, False, title="Bundle verification")
        _print_custody(data_out.get("custody") or [])
    if not as_json and data_out.get("ledger"):
        ledger_ok = str(data_out["ledger"]).startswith("ledger verified")
        console().print(f"[bold {'green' if ledger_ok else 'red'}]{escape(str(data_out['ledger']))}[/]")
    if not _is_ok(data_out):
        if not as_json:
            console().print("[bold red]bundle NOT verified[/]")
        raise typer.Exit(1)
    if not as_json:
        console().print("[bold green]bundle verified[/]")


def _custody_lines(bundle: dict[str, Any], report: Any) -> list[dict[str, str]]:
    """Who did what to each item, with the names of the signed staff directory (only once it verified)."""
    from core.ledger.bundle import when
    from evidence.audit.custody_rows import custody_rows, event_name, person

    staff = getattr(report, "staff", {}) or {}
    lines = []
    for row in custody_rows(bundle):
        if not row["item"] or row["event"].startswith(("checkpoint:", "access:")):
            continue
        lines.append({"seq": row["seq"], "when": when(row["time"]), "item": row["item"],
                      "event": event_name(row["event"], {}),
                      "by": person(staff, row["actor"]), "from": person(staff, row["from"]),
                      "to": person(staff, row["to"])})
    return lines


def _print_custody(lines: list[dict[str, str]]) -> None:
    if not lines:
        return
    from rich.table import Table

    table = Table(title="Chain of custody (names from the signed staff directory)")
    for col in ("seq", "when", "item", "event", "by", "from", "to"):
        table.add_column(col, overflow="fold")
    for line in lines:
        table.add_row(*(escape(line[c]) for c in ("seq", "when", "item", "event", "by", "from", "to")))
    console().print(table)


def _check_since(api: Any, path: Path, key_pem: bytes, current: dict[str, Any] | None) -> dict[str, Any]:
    """Check, on this machine, that the server's current signed tree head extends the one kept in `path`."""
    from core.ledger import merkle, signing  # offline crypto only (as verify-bundle)

    try:
        old = json.loads(path.read_text())
        old_size, old_root = int(old["tree_size"]), bytes.fromhex(old["root_hash"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return {"ok": False, "detail": f"{path} is not a signed tree head"}
    if not signing.verify_tree_head(old, key_pem):
        return {"ok": False, "detail": f"the tree head in {path} is not signed by this key"}
    if not isinstance(current, dict) or not signing.verify_tree_head(current, key_pem):
        return {"ok": False, "detail": "the server's current tree head is missing or not signed by this key"}
    new_size, new_root = int(current["tree_size"]), bytes.fromhex(current["root_hash"])
    if new_size < old_size:
        return {"ok": False, "detail": f"the ledger has {new_size} entries, fewer than the {old_size} of the "
                                       f"tree head kept from {old.get('timestamp')}: entries were removed"}
    if old_size == 0:
        ok = True
    elif old_size == new_size:
        ok = old_root == new_root
    else:
        proof = api.consistency_proof(old_size, new_size)
        ok = merkle.verify_consistency(old_size, new_size, old_root, new_root,
                                       [bytes.fromhex(p) for p in proof.get("path", [])])
    detail = (f"the ledger of {new_size} entries extends the tree head of {old_size} entries kept from "
              f"{old.get('timestamp')}" if ok else
              f"the ledger does NOT extend the tree head of {old_size} entries kept from {old.get('timestamp')}: "
              "entries up to that size were changed, removed or reordered")
    return {"ok": ok, "detail": detail, "kept_size": old_size, "current_size": new_size}


def _read_key(key: str) -> bytes:
    """The PEM bytes from a PEM file, a saved `coc audit public-key --json` file, or the PEM text itself."""
    path = Path(key)
    raw = path.read_bytes() if path.is_file() else key.encode()
    if raw.lstrip().startswith(b"{"):
        try:
            return str(json.loads(raw)["public_key_pem"]).encode()
        except (ValueError, KeyError, TypeError):
            fail("the --key JSON has no public_key_pem")
    return raw


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
