"""`coc case erase propose|approve|withdraw|status` (lawful erasure, two people) and
`coc admin rotate-key|reencrypt`."""

from __future__ import annotations

import typer

from api.cli.common import JsonOpt, api_errors, client, emit

erase_app = typer.Typer(help="Lawful erasure of a case's personal data (crypto-shredding; two people).",
                        no_args_is_help=True)
ERASURE_COLUMNS = ["id", "basis", "reference", "status", "proposed_by_username", "proposed_at",
                   "approved_by_username", "approved_at", "withdrawn_by_username", "withdrawn_at"]


@erase_app.command("propose")
@api_errors
def erase_propose(
    case_id: str = typer.Argument(..., help="Case id."),
    basis: str = typer.Option(..., help="survivor-request | court-order | retention-ended."),
    reference: str = typer.Option(None, help="Court order or request reference (a short code, not free text)."),
    as_json: bool = JsonOpt,
) -> None:
    """Propose the erasure of the case's identity, narratives, notes and safety plans (another person approves)."""
    with client() as api:
        row = api.propose_erasure(case_id, basis, reference)
    emit(row, as_json, title="Erasure proposed: a different authorised person must approve it")


@erase_app.command("approve")
@api_errors
def erase_approve(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Approve another person's proposal: the case key is destroyed and the data can never be read again."""
    with client() as api:
        row = api.approve_erasure(case_id)
    emit(row, as_json, title="Case erased")


@erase_app.command("withdraw")
@api_errors
def erase_withdraw(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Withdraw the case's open erasure proposal (yours or another person's); it can no longer be approved."""
    with client() as api:
        row = api.withdraw_erasure(case_id)
    emit(row, as_json, title="Erasure proposal withdrawn")


@erase_app.command("status")
@api_errors
def erase_status(case_id: str = typer.Argument(..., help="Case id."), as_json: bool = JsonOpt) -> None:
    """Whether (and when) the case was erased, and who proposed and approved (by username)."""
    with client() as api:
        state = api.erasure_state(case_id)
    if as_json:
        emit(state, True)
        return
    emit({"case_id": state["case_id"], "erased": state["erased"], "erased_at": state["erased_at"]}, False,
         title="Erasure")
    emit(state["requests"], False, title="Erasure requests", columns=ERASURE_COLUMNS)


def rotate_key(as_json: bool = JsonOpt) -> None:
    """Rewrap every case key under the current centre key (COC_IDENTITY_KEY); then retired keys may go."""
    with client() as api:
        report = api.rotate_key()
    emit(report, as_json, title="Case keys rewrapped")


def reencrypt(as_json: bool = JsonOpt) -> None:
    """Rewrite values stored before per-case keys row-bound under their case keys, and move free text stored
    in clear before revision 0023 into sealed rows where the row may change (counts)."""
    with client() as api:
        report = api.reencrypt()
    emit(report, as_json, title="Legacy values re-encrypted")
