"""`coc case`, `coc consent`, `coc exam`, `coc care`: the examiner's and advocate's case commands."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import typer

from api.cli.common import JsonOpt, SetOpt, api_errors, client, emit, fail, parse_fields, print_json
from api.cli.erasure import erase_app

case_app = typer.Typer(help="Open, list, show and assign cases.", no_args_is_help=True)
identity_app = typer.Typer(help="The survivor's identity (stored encrypted; reads are access-logged).",
                           no_args_is_help=True)
case_app.add_typer(identity_app, name="identity")
case_app.add_typer(erase_app, name="erase")
consent_app = typer.Typer(help="Record and list the survivor's consent decisions.", no_args_is_help=True)
exam_app = typer.Typer(help="Record and show the forensic examination.", no_args_is_help=True)
care_app = typer.Typer(help="Record and show medical care given.", no_args_is_help=True)

CASE_COLUMNS = ["id", "jurisdiction", "reporting", "age_band", "opened_at", "opened_by", "closed_at"]


@case_app.command("open")
@api_errors
def case_open(
    jurisdiction: str = typer.Option(None, help="Jurisdiction rule pack (server default if omitted)."),
    reporting: str = typer.Option(None, help="undecided | restricted | anonymous | unrestricted."),
    age_band: str = typer.Option(None, "--age-band", help="under-13 | 13 | 14-15 | 16-17 | adult."),
    assault_at: str = typer.Option(None, "--assault-at", help="When the assault happened (ISO 8601, with offset)."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Open a new pseudonymous case and print its id."""
    body = {"jurisdiction": jurisdiction, "reporting": reporting, "age_band": age_band, "assault_at": assault_at,
            **parse_fields(fields)}
    with client() as api:
        case = api.open_case(**body)
    emit(case, as_json, title="Case opened")


@case_app.command("update")
@api_errors
def case_update(
    case_id: str = typer.Argument(..., help="Case id."),
    reporting: str = typer.Option(None, help="Convert the report: restricted/anonymous → unrestricted (any time)."),
    assault_at: str = typer.Option(None, "--assault-at", help="Record or correct when the assault happened "
                                                             "(ISO 8601, with offset); starts the clinical clocks."),
    as_json: bool = JsonOpt,
) -> None:
    """Convert the survivor's reporting choice, or record the assault time learned later."""
    if reporting is None and assault_at is None:
        raise typer.BadParameter("give --reporting and/or --assault-at")
    with client() as api:
        case = api.update_case(case_id, reporting=reporting, assault_at=assault_at)
    emit(case, as_json, title="Case updated")


@case_app.command("list")
@api_errors
def case_list(as_json: bool = JsonOpt) -> None:
    """List the cases you may see."""
    with client() as api:
        cases = api.list_cases()
    emit(cases, as_json, title="Cases", columns=CASE_COLUMNS)


@case_app.command("show")
@api_errors
def case_show(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Show one case (no survivor identity: see `coc case identity get`)."""
    with client() as api:
        case = api.get_case(case_id)
    emit(case, as_json, title=f"Case {case_id}")


@case_app.command("assign")
@api_errors
def case_assign(
    case_id: str = typer.Argument(..., help="Case id."),
    user_id: str = typer.Argument(..., help="Staff member: username (or user id; see `coc admin user list`)."),
    remove: bool = typer.Option(False, "--remove", help="Remove the assignment instead."),
    as_json: bool = JsonOpt,
) -> None:
    """Assign a staff member to a case (or remove them with --remove)."""
    with client() as api:
        result = api.unassign(case_id, user_id) if remove else api.assign(case_id, user_id)
    emit(result if result is not None else {"case_id": case_id, "user_id": user_id,
                                            "assigned": not remove}, as_json, title="Assignment")


@case_app.command("clocks")
@api_errors
def case_clocks(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Show the case's time-critical clocks (PEP, emergency contraception, evidence windows, legal deadlines)."""
    with client() as api:
        rows = api.clocks(case_id)
    emit(rows, as_json, title="Clocks",
         columns=None if as_json else ["name", "item_id", "deadline", "status", "detail", "met_at",
                                       "remaining_seconds"])


@case_app.command("break-glass")
@api_errors
def case_break_glass(
    case_id: str = typer.Argument(..., help="Case id."),
    reason: str = typer.Option(..., help="Why emergency access is needed (recorded and reviewed)."),
    as_json: bool = JsonOpt,
) -> None:
    """Emergency access to a case you are not assigned to; recorded in the access log."""
    with client() as api:
        result = api.break_glass(case_id, reason)
    emit(result, as_json, title="Break-glass access")


@identity_app.command("set")
@api_errors
def identity_set(
    case_id: str = typer.Argument(..., help="Case id."),
    data: Path = typer.Option(..., "--from", exists=True, dir_okay=False,
                              help="JSON file with the identity fields (kept out of shell history)."),
    as_json: bool = JsonOpt,
) -> None:
    """Store the survivor's identity for a case (encrypted at rest)."""
    try:
        identity = json.loads(data.read_text())
    except (ValueError, RecursionError):
        fail(f"{data} is not JSON: give a file with the identity fields, e.g. {{\"full_name\": \"…\"}}")
    with client() as api:
        api.put_identity(case_id, identity)
    if as_json:  # the case id and the outcome only: the identity is never echoed back
        print_json({"case_id": case_id, "identity": "stored"})
        return
    typer.echo(f"identity stored for case {case_id}")


@identity_app.command("get")
@api_errors
def identity_get(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Show the survivor's identity (only on this explicit request; the read is access-logged)."""
    with client() as api:
        identity = api.get_identity(case_id)
    emit(identity, as_json, title="Identity")


# -- consent -----------------------------------------------------------------------------------
@consent_app.command("record")
@api_errors
def consent_record(
    case_id: str = typer.Argument(..., help="Case id."),
    scope: str = typer.Argument(..., help="Consent scope, e.g. medical-care, forensic-exam, share-with-advocate."),
    decision: str = typer.Option("granted", help="granted | declined | withdrawn."),
    method: str = typer.Option("verbal", help="verbal | written | guardian | minor-assent."),
    form_ref: str = typer.Option(None, "--form-ref", help="Reference of the signed form (needed if written)."),
    expires_at: str = typer.Option(None, "--expires-at", help="Expiry (ISO 8601); required for information sharing."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Record a consent decision for one scope."""
    body = {"scope": scope, "decision": decision, "method": method, "form_ref": form_ref, "expires_at": expires_at,
            **parse_fields(fields)}
    with client() as api:
        result = api.record_consent(case_id, **body)
    emit(result, as_json, title="Consent recorded")


@consent_app.command("list")
@api_errors
def consent_list(
    case_id: str = typer.Argument(..., help="Case id."),
    history: bool = typer.Option(False, "--history", help="Also list every decision and override recorded."),
    as_json: bool = JsonOpt,
) -> None:
    """Show the state of each consent scope now (and, with --history, every decision)."""
    with client() as api:
        overview = api.list_consents(case_id)
    if as_json:
        emit(overview, True)
        return
    emit(overview.get("state", []), False, title="Consent now",
         columns=["scope", "status", "method", "written", "expires_at", "override"])
    if history:
        emit(overview.get("decisions", []), False, title="Decisions",
             columns=["decided_at", "scope", "decision", "method", "form_ref", "expires_at", "recorded_by"])
        emit(overview.get("overrides", []), False, title="Overrides",
             columns=["recorded_at", "scope", "basis", "legal_basis", "reference", "expires_at", "recorded_by"])


@consent_app.command("override")
@api_errors
def consent_override(
    case_id: str = typer.Argument(..., help="Case id."),
    scope: str = typer.Argument(..., help="The consent scope overridden, e.g. report-to-police."),
    basis: str = typer.Option(..., help="mandatory-report-minor | court-order."),
    legal_basis: str = typer.Option(..., "--legal-basis", help="The statute or order relied on."),
    reference: str = typer.Option(None, help="The court order's reference (needed for court-order)."),
    expires_at: str = typer.Option(None, "--expires-at", help="When the override ends (ISO 8601)."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Record an override (a minor's mandatory report, a court order), with its legal basis."""
    body = {"scope": scope, "basis": basis, "legal_basis": legal_basis, "reference": reference,
            "expires_at": expires_at, **parse_fields(fields)}
    with client() as api:
        result = api.record_override(case_id, **body)
    emit(result, as_json, title="Override recorded")


# -- exam and care -----------------------------------------------------------------------------
@exam_app.command("record")
@api_errors
def exam_record(
    case_id: str = typer.Argument(..., help="Case id."),
    narrative: str = typer.Option(None, help="Examination notes (sensitive; encrypted at rest). '-' reads them "
                                             "from stdin; text given here shows in shell history and process "
                                             "lists, so prefer '-' or --narrative-file."),
    narrative_file: Path = typer.Option(None, "--narrative-file", exists=True, dir_okay=False,
                                        help="Read the notes from this file instead."),
    started_at: str = typer.Option(None, "--started-at", help="When the exam began (ISO 8601; default now)."),
    ended_at: str = typer.Option(None, "--ended-at", help="When it ended (ISO 8601)."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Record the forensic examination (needs forensic-exam consent)."""
    if narrative_file is not None:
        narrative = narrative_file.read_text()
    elif narrative == "-":
        narrative = sys.stdin.read()
    if not narrative:
        raise typer.BadParameter("give --narrative or --narrative-file")
    body = {"narrative": narrative, "started_at": started_at or _now(), "ended_at": ended_at,
            **parse_fields(fields)}
    with client() as api:
        result = api.record_exam(case_id, **body)
    emit(result, as_json, title="Exam recorded")


@exam_app.command("show")
@api_errors
def exam_show(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Show the examination record (access-logged; advocates need a sharing consent)."""
    with client() as api:
        result = api.get_exam(case_id)
    emit(result, as_json, title="Exam")


@care_app.command("record")
@api_errors
def care_record(
    case_id: str = typer.Argument(..., help="Case id."),
    care: str = typer.Argument(..., help="hiv-pep | emergency-contraception | hepatitis-b | sti-prophylaxis."),
    status: str = typer.Option("given", help="offered | given | declined."),
    occurred_at: str = typer.Option(None, "--occurred-at", help="When (ISO 8601; default now)."),
    late_justification: str = typer.Option(None, "--late-justification",
                                           help="Clinical reason for giving it past the pack's window (needed then)."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Record time-critical care offered, given or declined (needs medical-care consent)."""
    body = {"care": care, "status": status, "occurred_at": occurred_at or _now(),
            "late_justification": late_justification, **parse_fields(fields)}
    with client() as api:
        result = api.record_care(case_id, **body)
    emit(result, as_json, title="Care recorded")


@care_app.command("show")
@api_errors
def care_show(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Show the care records of a case."""
    with client() as api:
        result = api.get_care(case_id)
    emit(result, as_json, title="Care")


def _now() -> str:
    """Now, in UTC ISO 8601 (the CLI's clock: the time the person at the keyboard records the event)."""
    return datetime.now(UTC).isoformat()
