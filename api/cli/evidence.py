"""`coc evidence`: evidence items, their files (upload/download with SHA-256), labels and integrity incidents.

`coc custody` is in api/cli/custody.py and `coc lab` in api/cli/lab.py (re-exported here)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

import typer

from api.cli.common import (
    JsonOpt,
    SetOpt,
    api_errors,
    client,
    emit,
    fail,
    parse_fields,
    print_json,
    transfer_progress,
)
from api.cli.custody import custody_app
from api.cli.lab import lab_app

evidence_app = typer.Typer(help="Evidence items: add, upload/download files, labels.", no_args_is_help=True)

ITEM_COLUMNS = ["id", "case_id", "kind", "description", "status", "custodian", "location", "seal_number",
                "pending_transfer_id"]


class _HashingWriter:
    """A file wrapper that hashes what is written, so the download is verified without re-reading it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.out.write(data)


@evidence_app.command("add")
@api_errors
def evidence_add(
    case_id: str = typer.Argument(..., help="Case id."),
    kind: str = typer.Option(..., help="kit | swab | clothing | toxicology-blood | toxicology-urine | photograph | "
                                           "document | digital-file | other."),
    description: str = typer.Option(..., help="What the item is (no survivor identity)."),
    quantity: int = typer.Option(None, help="How many pieces."),
    toxicology: bool = typer.Option(None, "--toxicology/--no-toxicology", help="Flag a toxicology sample."),
    location: str = typer.Option(None, help="Where the item is kept."),
    collected_at: str = typer.Option(None, "--collected-at", help="When it was collected (ISO 8601; default now)."),
    late_justification: str = typer.Option(None, "--late-justification",
                                           help="Clinical reason for collecting past the pack's window (needed then)."),
    offence_class: str = typer.Option(None, "--offence-class",
                                      help="rape | sexual-assault | child-sexual-abuse | other-sexual-offence "
                                           "(the pack's statute of limitations for reported cases)."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Register an evidence item on a case; prints its barcode id (retention: the jurisdiction's, or longer)."""
    body = {"kind": kind, "description": description, "quantity": quantity, "toxicology": toxicology,
            "location": location, "collected_at": collected_at, "late_justification": late_justification,
            "offence_class": offence_class, **parse_fields(fields)}
    with client() as api:
        item = api.add_item(case_id, **body)
    emit(item, as_json, title="Item added")


@evidence_app.command("list")
@api_errors
def evidence_list(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """List the evidence items of a case."""
    with client() as api:
        items = api.list_items(case_id)
    emit(items, as_json, title="Items", columns=_present(items, ITEM_COLUMNS))


@evidence_app.command("show")
@api_errors
def evidence_show(item_id: str = typer.Argument(..., help="Item id (barcode)."), as_json: bool = JsonOpt) -> None:
    """Show one evidence item and its current custody state."""
    with client() as api:
        item = api.get_item(item_id)
    emit(item, as_json, title=f"Item {item_id}")


@evidence_app.command("upload")
@api_errors
def evidence_upload(
    item_id: str = typer.Argument(..., help="Item id."),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="File to upload."),
    filename: str = typer.Option(None, help="Name to record with the file (default: none; a local file name "
                                              "can carry a survivor's name — give a neutral one if needed)."),
    content_type: str = typer.Option("application/octet-stream", "--content-type", help="MIME type."),
    as_json: bool = JsonOpt,
) -> None:
    """Stream a file (photograph, document) to an item; the server records its SHA-256."""
    local = hashlib.sha256()
    with path.open("rb") as fh, client() as api, transfer_progress(f"upload {path.name}", not as_json) as progress:
        reader = _HashingReader(fh, local)
        result = api.upload_file(item_id, reader, filename, size=path.stat().st_size,
                                 content_type=content_type, progress=progress)
    server_sha = _sha_of(result)
    if server_sha and server_sha != local.hexdigest():
        fail(f"the server recorded SHA-256 {server_sha} but the file sent hashes to {local.hexdigest()}")
    out = result if isinstance(result, dict) else {"item_id": item_id}
    out.setdefault("sha256", local.hexdigest())
    emit(out, as_json, title="Uploaded")


class _HashingReader:
    """Hash a file while the client streams it, so the local digest costs no second read."""

    def __init__(self, fh: IO[bytes], sha: Any) -> None:
        self.fh = fh
        self.sha = sha

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        return data


@evidence_app.command("download")
@api_errors
def evidence_download(
    item_id: str = typer.Argument(..., help="Item id."),
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False, help="Where to write the file."),
    file_id: str = typer.Option(None, "--file-id", help="Which file of the item (default: the latest)."),
    as_json: bool = JsonOpt,
) -> None:
    """Stream an item's file to disk and check its SHA-256 against the recorded one (access-logged)."""
    # Written to OUT.part and renamed only once complete and verified: a refused, broken or tampered
    # download never leaves a file that looks like the evidence.
    part = out.with_name(out.name + ".part")
    try:
        with client() as api, part.open("wb") as fh, \
                transfer_progress(f"download {out.name}", not as_json) as progress:
            writer = _HashingWriter(fh)
            info = api.download_file(item_id, writer, file_id=file_id, progress=progress)  # type: ignore[arg-type]
        actual = writer.sha.hexdigest()
        expected = info.sha256
        result = {"item_id": item_id, "path": str(out), "bytes": info.bytes, "sha256": actual,
                  "expected_sha256": expected, "verified": expected == actual if expected else None}
        if expected and expected != actual:
            fail(f"hash mismatch: the server recorded {expected}, the download hashes to {actual}; nothing saved")
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    emit(result, as_json, title="Downloaded")


@evidence_app.command("lookup-enrol")
@api_errors
def evidence_lookup_enrol(
    item_id: str = typer.Argument(..., help="Item id (the kit)."),
    as_json: bool = JsonOpt,
) -> None:
    """Enrol a kit in the survivor's anonymous status lookup; prints the code and temporary password for their card."""
    with client() as api:
        card = api.enrol_status_lookup(item_id)
    emit(card, as_json, title="Status lookup card (give to the survivor)")


@evidence_app.command("status-card")
@api_errors
def evidence_status_card(
    item_id: str = typer.Argument(..., help="Item id (the kit)."),
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False, help="Where to write the card (PDF)."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the survivor's status card (PDF: code, temporary password, page address + QR, centre contact).
    Issuing a card again (lost card, locked after wrong tries) makes every earlier card of the kit stop working."""
    with client() as api:
        data = api.issue_status_card(item_id)
    out.write_bytes(data)
    emit({"item_id": item_id, "path": str(out), "bytes": len(data)}, as_json,
         title="Survivor card written (earlier cards of this kit no longer work)")


@evidence_app.command("contact-requests")
@api_errors
def evidence_contact_requests(
    limit: int = typer.Option(200, help="At most this many, newest first."),
    all_: bool = typer.Option(False, "--all", help="Handled requests too, with their outcome, who and when."),
    as_json: bool = JsonOpt,
) -> None:
    """Survivors' "please contact me about my kit" requests made on the status page, of the cases you are
    assigned to (coordinators: every case); open ones unless --all. Call them back on the contact they agreed at
    the exam, then close each with `coc evidence contact-handled SEQ --outcome ...`."""
    with client() as api:
        rows = api.contact_requests(limit=limit, state="all" if all_ else "open")
    columns = ["seq", "requested_at", "case_id", "item_id"]
    if all_:
        columns += ["outcome", "handled_at", "handled_by_username"]
    emit(rows, as_json, title="Contact requests from the status page", columns=None if as_json else columns)


@evidence_app.command("contact-handled")
@api_errors
def evidence_contact_handled(
    seq: int = typer.Argument(..., help="The request's number (seq in `coc evidence contact-requests`)."),
    outcome: str = typer.Option(..., help="reached (spoke with the survivor) | left-message (on a channel they "
                                          "agreed may get one) | no-answer | unreachable (no working or safe "
                                          "contact on file)."),
    as_json: bool = JsonOpt,
) -> None:
    """Close a survivor's contact request with how the call-back went (no free text). It leaves the open list
    and `coc tasks`; `coc evidence contact-requests --all` still shows it."""
    with client() as api:
        row = api.contact_handled(seq, outcome)
    emit(row, as_json, title="Contact request closed")


@evidence_app.command("label")
@api_errors
def evidence_label(
    item_id: str = typer.Argument(..., help="Item id."),
    out: Path = typer.Option(..., "--out", "-o", dir_okay=False, help="Where to write the label."),
    fmt: str = typer.Option("png", "--format", help="png | pdf."),
    size: str = typer.Option("62mm", "--size",
                             help="62mm (Brother QL 62x29 mm) | 62x100mm (Brother QL) | 2x1in (Zebra/DYMO); 300 dpi."),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch the printable label of an item (QR code + Code 128 of the item id; PNG at 300 dpi prints 1:1)."""
    if fmt not in ("png", "pdf"):
        raise typer.BadParameter("png or pdf", param_hint="--format")
    with client() as api:
        data = api.label(item_id, fmt, size=size)
    out.write_bytes(data)
    emit({"item_id": item_id, "path": str(out), "format": fmt, "size": size, "bytes": len(data)}, as_json,
         title="Label")


# -- integrity incidents (quarantine) ------------------------------------------------------------
INCIDENT_COLUMNS = ["id", "item_id", "source", "reason", "opened_at", "opened_by", "open", "outcome", "resolved_by"]


@evidence_app.command("incidents")
@api_errors
def evidence_incidents(
    item_id: str = typer.Argument(None, help="Item id; leave out for the centre-wide list (auditors, "
                                             "coordinators)."),
    all_: bool = typer.Option(False, "--all", help="Centre-wide: resolved incidents too."),
    as_json: bool = JsonOpt,
) -> None:
    """List integrity incidents: an item's, or the open ones centre-wide. An open one quarantines its item."""
    with client() as api:
        rows = api.incidents(item_id, open_only=not all_)
    emit(rows, as_json, title="Integrity incidents", columns=None if as_json else _present(rows, INCIDENT_COLUMNS))


@evidence_app.command("report-incident")
@api_errors
def evidence_report_incident(
    item_id: str = typer.Argument(..., help="Item id."),
    reason: str = typer.Option(..., help="What was seen (e.g. seal broken at handoff); no survivor details."),
    source: str = typer.Option("report", help="seal (a broken or changed seal) | report (anything else)."),
    as_json: bool = JsonOpt,
) -> None:
    """Report an integrity incident: the item is quarantined until an auditor or coordinator resolves it."""
    with client() as api:
        row = api.report_incident(item_id, reason=reason, source=source)
    emit(row, as_json, title=f"Incident {row.get('id')} opened: item {item_id} is quarantined")


@evidence_app.command("resolve-incident")
@api_errors
def evidence_resolve_incident(
    item_id: str = typer.Argument(..., help="Item id."),
    incident_id: int = typer.Argument(..., help="Incident number (from `coc evidence incidents`)."),
    finding: str = typer.Option(..., help="What the investigation found."),
    outcome: str = typer.Option(..., help="restored | false-alarm | evidence-compromised."),
    as_json: bool = JsonOpt,
) -> None:
    """Resolve an integrity incident with a recorded finding (auditor or coordinator); the quarantine ends."""
    with client() as api:
        row = api.resolve_incident(item_id, incident_id, finding=finding, outcome=outcome)
    emit(row, as_json, title=f"Incident {incident_id} resolved ({outcome})")


def _present(rows: list[Any], wanted: list[str]) -> list[str] | None:
    """The wanted columns that occur in the rows (None: let emit pick every column)."""
    keys = {k for r in rows if isinstance(r, dict) for k in r}
    cols = [c for c in wanted if c in keys]
    return cols or None


def _sha_of(record: Any) -> str | None:
    if isinstance(record, dict):
        for key in ("sha256", "file_sha256", "content_sha256"):
            if isinstance(record.get(key), str):
                return record[key]
        file = record.get("file")
        if isinstance(file, dict):
            return _sha_of(file)
    return None


__all__ = ["custody_app", "evidence_app", "lab_app", "print_json"]
