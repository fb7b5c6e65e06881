"""`coc notice`: the survivor's request for notice before destruction, and the notices due, sent or failed."""

from __future__ import annotations

import typer

from api.cli.common import JsonOpt, api_errors, client, emit, fail

notice_app = typer.Typer(help="Destruction notices: record a request, see what is due, record sent/failed.",
                         no_args_is_help=True)

TASK_COLUMNS = ["case_id", "item_id", "state", "due_at", "destruction_from", "notice_days", "channel_kind",
                "last_failure"]
DELIVERY_COLUMNS = ["case_id", "item_id", "outcome", "reason", "channel_kind", "recorded_by", "at", "announced_until"]
REASONS = ("bounced", "no-answer", "wrong-number", "returned-to-sender", "invalid-address", "other")


@notice_app.command("request")
@api_errors
def notice_request(
    case_id: str = typer.Argument(..., help="Case id."),
    email: str = typer.Option(None, "--email", help="Email address the survivor gave for the notice."),
    phone: str = typer.Option(None, "--phone", help="Phone number (a call)."),
    sms: str = typer.Option(None, "--sms", help="Phone number for a text message."),
    post: str = typer.Option(None, "--post", help="Postal address."),
    no_contact: bool = typer.Option(False, "--no-contact", help="The survivor asked for no contact."),
    as_json: bool = JsonOpt,
) -> None:
    """Record the survivor's request for notice before destruction (one channel, or --no-contact).

    The contact is stored encrypted and never shown back; the ledger records only its kind."""
    given = [(k, v) for k, v in (("email", email), ("phone", phone), ("sms", sms), ("postal", post)) if v]
    if len(given) + (1 if no_contact else 0) != 1:
        fail("give exactly one of --email, --phone, --sms, --post or --no-contact", 2)
    body = {"no_contact": True} if no_contact else {"kind": given[0][0], "value": given[0][1]}
    with client() as api:
        result = api.request_notice(case_id, **body)
    emit(result, as_json, title="Notice request recorded")


@notice_app.command("due")
@api_errors
def notice_due(
    within: int = typer.Option(0, "--within", min=0, help="Also list notices coming due within this many days."),
    as_json: bool = JsonOpt,
) -> None:
    """Notices due now (items whose destruction date is within the pack's notice period), soonest first."""
    with client() as api:
        rows = api.due_notices(within_days=within)
    emit(rows, as_json, title="Destruction notices due", columns=None if as_json else TASK_COLUMNS)


@notice_app.command("list")
@api_errors
def notice_list(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Every notice task of a case: upcoming, due, sent."""
    with client() as api:
        rows = api.case_notices(case_id)
    emit(rows, as_json, title=f"Notices of {case_id}", columns=None if as_json else TASK_COLUMNS)


@notice_app.command("contact")
@api_errors
def notice_contact(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Show the contact the survivor gave, to send the notice (this read is access-logged)."""
    with client() as api:
        emit(api.notice_contact(case_id), as_json, title="Notice contact")


@notice_app.command("sent")
@api_errors
def notice_sent(
    case_id: str = typer.Argument(..., help="Case id."),
    item: str = typer.Option(None, "--item", help="One item (default: every item whose notice is due now)."),
    as_json: bool = JsonOpt,
) -> None:
    """Record that you sent the notice now (channel kind, you, now; never the address)."""
    with client() as api:
        rows = api.notice_sent(case_id, item_id=item)
    emit(rows, as_json, title="Notice recorded as sent", columns=None if as_json else DELIVERY_COLUMNS)


@notice_app.command("failed")
@api_errors
def notice_failed(
    case_id: str = typer.Argument(..., help="Case id."),
    reason: str = typer.Option(..., "--reason", help=f"Why it failed: {', '.join(REASONS)}."),
    item: str = typer.Option(None, "--item", help="One item (default: every item whose notice is due now)."),
    as_json: bool = JsonOpt,
) -> None:
    """Record a failed delivery; the notice stays due."""
    if reason not in REASONS:
        fail(f"--reason must be one of: {', '.join(REASONS)}", 2)
    with client() as api:
        rows = api.notice_failed(case_id, reason=reason, item_id=item)
    emit(rows, as_json, title="Failed delivery recorded", columns=None if as_json else DELIVERY_COLUMNS)
