"""`coc advocacy`: services offered/accepted/declined, referrals and outcomes, contacts, safety-plan revisions and
follow-ups of a case (behind the survivor's information-sharing release)."""

from __future__ import annotations

import sys

import typer

from api.cli.common import JsonOpt, api_errors, client, emit, fail

advocacy_app = typer.Typer(help="Advocacy: services, referrals, contacts, safety plan, follow-ups.",
                           no_args_is_help=True)

FOLLOW_UP_COLUMNS = ["id", "name", "checks", "due_at", "raised_at", "outcome", "outcome_at", "outcome_by"]


@advocacy_app.command("show")
@api_errors
def advocacy_show(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Where each service stands, referrals with their outcome, contacts made, safety-plan revisions."""
    with client() as api:
        data = api.advocacy_overview(case_id)
    if as_json:
        emit(data, True)
        return
    emit(data["services"], False, title="Services")
    emit(data["referrals"], False, title="Referrals")
    emit(data["contacts"], False, title="Contacts",
         columns=["occurred_at", "contact_kind", "outcome", "recorded_by", "ledger_seq"])
    emit({"safety_plan_revisions": data["safety_plan_revisions"]}, False)


@advocacy_app.command("service")
@api_errors
def advocacy_service(
    case_id: str = typer.Argument(..., help="Case id."),
    service: str = typer.Argument(..., help="counselling | shelter | legal-aid | accompaniment (to court) | "
                                            "medical-follow-up | crisis-line | other."),
    status: str = typer.Argument(..., help="offered | accepted | declined."),
    as_json: bool = JsonOpt,
) -> None:
    """Record a service offered, accepted or declined."""
    with client() as api:
        emit(api.record_service(case_id, service, status), as_json, title="Service")


@advocacy_app.command("refer")
@api_errors
def advocacy_refer(
    case_id: str = typer.Argument(..., help="Case id."),
    service: str = typer.Option(..., help="The service referred for (e.g. legal-aid)."),
    to: str = typer.Option(..., "--to", help="The outside organisation (never a person's name)."),
    as_json: bool = JsonOpt,
) -> None:
    """Refer the survivor to an outside service (outcome pending until recorded)."""
    with client() as api:
        emit(api.record_referral(case_id, service, to), as_json, title="Referral")


@advocacy_app.command("referral-outcome")
@api_errors
def advocacy_referral_outcome(
    case_id: str = typer.Argument(..., help="Case id."),
    referral_id: int = typer.Argument(..., help="Referral id (from `coc advocacy show`)."),
    outcome: str = typer.Option(..., help="pending | attended | not-attended | declined-by-survivor | "
                                          "refused-by-service | waitlisted."),
    as_json: bool = JsonOpt,
) -> None:
    """Record what came of a referral."""
    with client() as api:
        emit(api.record_referral_outcome(case_id, referral_id, outcome), as_json, title="Referral outcome")


@advocacy_app.command("contact")
@api_errors
def advocacy_contact(
    case_id: str = typer.Argument(..., help="Case id."),
    kind: str = typer.Option(..., help="phone | in-person | text | email | video."),
    outcome: str = typer.Option(..., help="reached | no-answer | message-left | unsafe-to-contact | declined."),
    at: str = typer.Option(None, help="When (ISO 8601 with offset; default now)."),
    as_json: bool = JsonOpt,
) -> None:
    """Record a contact you made with the survivor (no free text is kept)."""
    with client() as api:
        emit(api.record_contact(case_id, kind, outcome, at), as_json, title="Contact")


@advocacy_app.command("safety-plan")
@api_errors
def advocacy_safety_plan(
    case_id: str = typer.Argument(..., help="Case id."),
    notes_file: str = typer.Option(None, "--notes-file", help="File with the plan's text ('-' for stdin). "
                                                                "Without it, the revisions are shown."),
    revision: int = typer.Option(None, help="Show only this revision (1 = the first)."),
    as_json: bool = JsonOpt,
) -> None:
    """Add a safety-plan revision (--notes-file), or show the revisions (each read is access-logged)."""
    with client() as api:
        if notes_file:
            if revision is not None:
                fail("--revision is for reading; a new revision is numbered automatically")
            text = sys.stdin.read() if notes_file == "-" else open(notes_file, encoding="utf-8").read()  # noqa: SIM115
            emit(api.revise_safety_plan(case_id, text), as_json, title="Safety-plan revision")
        else:
            emit(api.safety_plans(case_id, revision), as_json, title="Safety-plan revisions")


@advocacy_app.command("followups")
@api_errors
def advocacy_followups(
    case_id: str = typer.Argument(..., help="Case id."),
    schedule: bool = typer.Option(False, "--schedule", help="Schedule the pack's follow-ups from the exam "
                                                            "(the pathway does this itself)."),
    as_json: bool = JsonOpt,
) -> None:
    """The case's follow-ups after the exam (1 week, 6 weeks, 3 months by default)."""
    with client() as api:
        rows = api.schedule_follow_ups(case_id) if schedule else api.follow_ups(case_id)
    emit(rows, as_json, title="Follow-ups", columns=None if as_json else FOLLOW_UP_COLUMNS)


@advocacy_app.command("followup-outcome")
@api_errors
def advocacy_followup_outcome(
    case_id: str = typer.Argument(..., help="Case id."),
    follow_up_id: int = typer.Argument(..., help="Follow-up id (from `coc tasks` or `coc advocacy followups`)."),
    outcome: str = typer.Option(..., help="done | missed | declined."),
    as_json: bool = JsonOpt,
) -> None:
    """Record whether a due follow-up happened."""
    with client() as api:
        emit(api.record_follow_up_outcome(case_id, follow_up_id, outcome), as_json, title="Follow-up")
