"""`coc custody`: seal, transfer, accept/decline/cancel, check in/out, release, history of an item."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from api.cli.common import JsonOpt, SetOpt, api_errors, client, console, emit, parse_fields

custody_app = typer.Typer(help="Chain of custody: seal, transfer, accept, check in/out, release.",
                          no_args_is_help=True)

# The human view of a custody history; --json has every field (ids, ledger seq and hash).
HISTORY_COLUMNS = ["at", "kind", "actor_id", "from_user", "to_user", "location", "reason", "condition", "seal_number",
                   "seal_intact", "ledger_seq"]


def _custody_action(verb: str, item_or_transfer: str, body: dict[str, Any], as_json: bool) -> None:
    with client() as api:
        call = {
            "seal": api.seal, "transfer": api.offer_transfer, "accept": api.accept_transfer,
            "decline": api.decline_transfer, "cancel": api.cancel_transfer,
            "check-in": api.check_in, "check-out": api.check_out, "release": api.release,
            "return": api.offer_transfer, "hold": api.legal_hold,
        }[verb]
        result = call(item_or_transfer, **body)
    _show_action(result, as_json, verb.capitalize())


def _show_action(result: Any, as_json: bool, title: str) -> None:
    """A custody action's answer ({event, item}): the event, then where the item stands now."""
    if as_json or not (isinstance(result, dict) and "event" in result and "item" in result):
        emit(result, as_json, title=title)
        return
    event = {k: v for k, v in result["event"].items() if v is not None}
    emit(event, False, title=title)
    item = result["item"]
    console().print(f"item {escape(str(item.get('id')))} is now [bold]{escape(str(item.get('status')))}[/], "
                    f"custodian {escape(str(item.get('custodian')))}, location {escape(str(item.get('location')))}",
                    highlight=False)


@custody_app.command("seal")
@api_errors
def custody_seal(
    item_id: str = typer.Argument(..., help="Item id."),
    seal_number: str = typer.Option(..., "--seal-number", help="The number on the tamper-evident seal."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Seal an item with a numbered tamper-evident seal."""
    _custody_action("seal", item_id, {"seal_number": seal_number, **parse_fields(fields)}, as_json)


@custody_app.command("transfer")
@api_errors
def custody_transfer(
    item_id: str = typer.Argument(..., help="Item id."),
    to: str = typer.Option(..., "--to", help="Receiving staff member: username (or user id)."),
    reason: str = typer.Option(..., help="Why the item moves."),
    condition: str = typer.Option("sealed, intact", help="Condition at handover."),
    purpose: str = typer.Option("custody", help="custody | release | lab | return."),
    seal_number: str = typer.Option(None, "--seal-number", help="Seal number as seen at handover."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Offer an item to another custodian; they confirm with `coc custody accept TRANSFER_ID`."""
    body = {"to_user": to, "reason": reason, "condition": condition, "purpose": purpose, "seal_number": seal_number,
            "seal_intact": seal_intact, **parse_fields(fields)}
    _custody_action("transfer", item_id, body, as_json)


@custody_app.command("accept")
@api_errors
def custody_accept(
    transfer_id: str = typer.Argument(..., help="Transfer id (from `coc custody transfer`)."),
    condition: str = typer.Option("sealed, intact", help="Condition on receipt."),
    seal_number: str = typer.Option(None, "--seal-number", help="Seal number as seen on receipt."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal on receipt."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Accept a transfer offered to you (the receiving side of a handover)."""
    body = {"condition": condition, "seal_number": seal_number, "seal_intact": seal_intact, **parse_fields(fields)}
    _custody_action("accept", transfer_id, body, as_json)


@custody_app.command("decline")
@api_errors
def custody_decline(
    transfer_id: str = typer.Argument(..., help="Transfer id offered to you."),
    reason: str = typer.Option(..., help="Why you refuse it (e.g. seal broken); no survivor details."),
    as_json: bool = JsonOpt,
) -> None:
    """Refuse a transfer offered to you; the item stays with its custodian."""
    _custody_action("decline", transfer_id, {"reason": reason}, as_json)


@custody_app.command("cancel")
@api_errors
def custody_cancel(
    transfer_id: str = typer.Argument(..., help="Transfer id you offered."),
    reason: str = typer.Option(..., help="Why the offer is withdrawn; no survivor details."),
    as_json: bool = JsonOpt,
) -> None:
    """Withdraw a transfer you offered that was not accepted yet; the item can move again."""
    _custody_action("cancel", transfer_id, {"reason": reason}, as_json)


@custody_app.command("check-in")
@api_errors
def custody_check_in(
    item_id: str = typer.Argument(..., help="Item id."),
    location: str = typer.Option(..., help="Storage location."),
    condition: str = typer.Option(None, help="Condition on check-in."),
    seal_number: str = typer.Option(None, "--seal-number", help="Seal number as seen."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Check an item into storage at a location."""
    body = {"location": location, "condition": condition, "seal_number": seal_number, "seal_intact": seal_intact,
            **parse_fields(fields)}
    _custody_action("check-in", item_id, body, as_json)


@custody_app.command("check-out")
@api_errors
def custody_check_out(
    item_id: str = typer.Argument(..., help="Item id."),
    reason: str = typer.Option(..., help="Why it leaves storage (analysis, court...)."),
    seal_number: str = typer.Option(None, "--seal-number", help="Seal number as seen."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Check an item out of storage."""
    body = {"reason": reason, "seal_number": seal_number, "seal_intact": seal_intact, **parse_fields(fields)}
    _custody_action("check-out", item_id, body, as_json)


@custody_app.command("release")
@api_errors
def custody_release(
    item_id: str = typer.Argument(..., help="Item id."),
    to: str = typer.Option(..., "--to", help="Receiving law-enforcement officer: username (or user id)."),
    reason: str = typer.Option(..., help="Reason for the release."),
    condition: str = typer.Option("sealed, intact", help="Condition at handover."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal."),
    fields: list[str] = SetOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Release an item to law enforcement (needs the survivor's written release consent); they accept it."""
    body = {"to_user": to, "reason": reason, "condition": condition, "seal_intact": seal_intact,
            **parse_fields(fields)}
    _custody_action("release", item_id, body, as_json)


@custody_app.command("return")
@api_errors
def custody_return(
    item_id: str = typer.Argument(..., help="Item id."),
    to: str = typer.Option(..., "--to", help="The centre's staff member it goes back to: username (or user id)."),
    reason: str = typer.Option("returned after analysis", help="Why it goes back; no survivor details."),
    condition: str = typer.Option("sealed, intact", help="Condition at handover."),
    seal_intact: bool = typer.Option(None, "--seal-intact/--seal-broken", help="State of the seal."),
    as_json: bool = JsonOpt,
) -> None:
    """Offer an item back to the centre (from the lab or law enforcement); they accept it."""
    body = {"to_user": to, "reason": reason, "condition": condition, "purpose": "return", "seal_intact": seal_intact}
    _custody_action("return", item_id, body, as_json)


@custody_app.command("destroy")
@api_errors
def custody_destroy(
    item_id: str = typer.Argument(..., help="Item id."),
    authority: str = typer.Option(..., "--authority", help="Reference code of the destruction authority."),
    reason: str = typer.Option(..., help="Why it is destroyed; no survivor details."),
    as_json: bool = JsonOpt,
) -> None:
    """Propose the item's destruction (first of two people; after its retention date and notice period, never
    under legal hold). A different person approves it: coc custody approve-destruction ITEM."""
    with client() as api:
        result = api.destroy(item_id, authority_ref=authority, reason=reason)
    emit(result, as_json, title="Destruction proposed (awaiting a second person's approval)")


@custody_app.command("approve-destruction")
@api_errors
def custody_approve_destruction(
    item_id: str = typer.Argument(..., help="Item id."),
    as_json: bool = JsonOpt,
) -> None:
    """Approve a proposed destruction (a different person from the proposer): the item is destroyed."""
    with client() as api:
        result = api.approve_destruction(item_id)
    emit(result, as_json, title="Destroyed")


@custody_app.command("hold")
@api_errors
def custody_hold(
    item_id: str = typer.Argument(..., help="Item id."),
    off: bool = typer.Option(False, "--off", help="Lift the legal hold instead of setting it."),
    as_json: bool = JsonOpt,
) -> None:
    """Set (or with --off lift) the legal hold on the item and every stored file of it."""
    with client() as api:
        rows = api.legal_hold(item_id, on=not off)
    emit(rows, as_json, title=f"Legal hold {'lifted' if off else 'set'} on {item_id}",
         columns=None if as_json else ["id", "item_id", "legal_hold", "sha256"])


INBOX_COLUMNS = ["transfer_id", "item_id", "item_kind", "purpose", "from_username", "offered_at", "seal_number",
                 "seal_intact"]


@api_errors
def inbox(as_json: bool = JsonOpt) -> None:
    """The offers waiting for you (officers, lab staff): accept with `coc custody accept` / `coc lab receive`."""
    with client() as api:
        rows = api.inbox()
    emit(rows, as_json, title="Offers waiting for you", columns=None if as_json else INBOX_COLUMNS)


@custody_app.command("history")
@api_errors
def custody_history(item_id: str = typer.Argument(..., help="Item id."), as_json: bool = JsonOpt) -> None:
    """Show the full custody history of an item."""
    with client() as api:
        rows = api.custody(item_id)
    emit(rows, as_json, title=f"Custody of {item_id}", columns=None if as_json else HISTORY_COLUMNS)
