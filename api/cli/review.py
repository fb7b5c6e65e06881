"""`coc review …`: multidisciplinary case reviews — schedule (participants by username), reschedule, add / remove
a participant, cancel, list (yours, or a case's), show (your agency's consent-filtered view), decide, and action
items (add with an owner agency and a due date; done)."""

from __future__ import annotations

from typing import Any

import typer

from api.cli.common import JsonOpt, api_errors, client, console, emit, print_json

review_app = typer.Typer(help="Multidisciplinary case reviews (SART case review / MARAC).", no_args_is_help=True)
action_app = typer.Typer(help="Action items of a review: add (owner agency, due date), done.", no_args_is_help=True)
review_app.add_typer(action_app, name="action")


def _out(line: str) -> None:
    console().print(line, markup=False, highlight=False)


@review_app.command("schedule")
@api_errors
def schedule(
    case_id: str = typer.Argument(..., help="The case's id."),
    participants: list[str] = typer.Option(..., "--participant", "-p",
                                           help="A participant's username (repeat for each)."),
    at: str = typer.Option(..., "--at", help="When the review meets (ISO date/time with offset, e.g. "
                                             "2026-12-10T14:00:00+00:00)."),
    as_json: bool = JsonOpt,
) -> None:
    """Schedule a review of a case you coordinate, with participants of several agencies."""
    with client() as api:
        result = api.schedule_review(case_id, participants, at)
    if as_json:
        print_json(result)
        return
    _out(f"review {result['id']} scheduled for {result['scheduled_for']}")
    emit([{"username": p["username"], "agency": p["agency"]["name"], "seat": p["seat"]}
          for p in result["participants"]], False, title="Participants")


def _print_view(view: dict[str, Any]) -> None:
    rv = view["review"]
    agency = view.get("viewer_agency")
    _out(f"review {rv['id']} of case {rv['case_id']}, {rv['scheduled_for']}; seen as "
         f"{agency['name'] + ' (' + str(view['seat']) + ')' if agency else 'its coordinator'}; "
         f"sections: {', '.join(view['sections']) or 'none (no consent covers your agency)'}")
    if rv.get("state") == "cancelled":
        _out(f"CANCELLED at {rv['cancelled_at']} ({rv['cancel_reason']}): kept for the record")
    emit([{"username": p["username"], "agency": p["agency"]["name"], "seat": p["seat"]}
          for p in rv["participants"]], False, title="Participants")
    for e in view.get("exam") or []:
        _out(f"exam {e['id']} {e['started_at']} – {e['ended_at'] or ''}: {e['narrative']}")
    if view.get("items") is not None:
        emit([{"item_id": i["item_id"], "kind": i["kind"], "custodian": i["custodian"],
               "handoffs": "; ".join(f"{h['purpose']} to {h['to_user']} ({h['outcome']})" for h in i["handoffs"])}
              for i in view["items"]], False, title="Items")
    if view.get("advocacy") is not None:
        emit([{k: r[k] for k in ("id", "kind", "service", "status", "due_at")} for r in view["advocacy"]], False,
             title="Advocacy")
    if view.get("decisions") is not None:
        emit([{"id": d["id"], "recorded_at": d["recorded_at"], "text": d["text"] or ""} for d in view["decisions"]],
             False, title="Decisions")
    emit([{"id": a["id"], "owner": a["owner_agency"]["name"], "due_at": a["due_at"], "status": a["status"],
           "overdue": "yes" if a["overdue"] else "", "text": a.get("text") or ""} for a in view["actions"]],
         False, title="Action items")


@review_app.command("show")
@api_errors
def show(review_id: str = typer.Argument(..., help="The review's id."), as_json: bool = JsonOpt) -> None:
    """The review as you may see it (only what the survivor's consents allow for your agency)."""
    with client() as api:
        view = api.review(review_id)
    if as_json:
        print_json(view)
        return
    _print_view(view)


@review_app.command("decide")
@api_errors
def decide(
    review_id: str = typer.Argument(..., help="The review's id."),
    text: str = typer.Option(None, "--text", help="The decision (encrypted at rest; never in the ledger)."),
    as_json: bool = JsonOpt,
) -> None:
    """Record a decision of the review."""
    with client() as api:
        result = api.review_decide(review_id, text)
    if as_json:
        print_json(result)
        return
    _out(f"decision {result['id']} recorded (ledger entry {result['ledger_seq']})")


@action_app.command("add")
@api_errors
def action_add(
    review_id: str = typer.Argument(..., help="The review's id."),
    owner: str = typer.Option(..., "--owner", help="The owner agency's name (as in `coc admin agency list`)."),
    due: str = typer.Option(..., "--due", help="Due date/time (ISO, with offset)."),
    text: str = typer.Option(None, "--text", help="What is to be done (encrypted at rest)."),
    decision: int = typer.Option(None, "--decision", help="The decision this action item follows from."),
    as_json: bool = JsonOpt,
) -> None:
    """Add an action item owned by one agency of the review, with a due date."""
    with client() as api:
        result = api.review_action_add(review_id, owner, due, text=text, decision_id=decision)
    if as_json:
        print_json(result)
        return
    _out(f"action item {result['id']} for {result['owner_agency']['name']}, due {result['due_at']}")


@action_app.command("done")
@api_errors
def action_done(action_id: int = typer.Argument(..., help="The action item's id."), as_json: bool = JsonOpt) -> None:
    """Mark an action item done (your agency owns it, or you coordinate the review)."""
    with client() as api:
        result = api.review_action_done(action_id)
    if as_json:
        print_json(result)
        return
    _out(f"action item {result['id']} done at {result['done_at']}")


def _print_record(result: dict[str, Any], line: str) -> None:
    _out(line)
    emit([{"username": p["username"], "agency": p["agency"]["name"], "seat": p["seat"]}
          for p in result["participants"]], False, title="Participants")


@review_app.command("reschedule")
@api_errors
def reschedule(
    review_id: str = typer.Argument(..., help="The review's id."),
    at: str = typer.Option(..., "--at", help="The new time (ISO date/time with offset)."),
    as_json: bool = JsonOpt,
) -> None:
    """Move a review you chair to a new time (not once it has met or was cancelled)."""
    with client() as api:
        result = api.review_reschedule(review_id, at)
    if as_json:
        print_json(result)
        return
    _out(f"review {result['id']} rescheduled for {result['scheduled_for']}")


@review_app.command("add")
@api_errors
def add(
    review_id: str = typer.Argument(..., help="The review's id."),
    username: str = typer.Argument(..., help="The new participant's username."),
    as_json: bool = JsonOpt,
) -> None:
    """Invite one more participant to a review you chair (checked as at scheduling)."""
    with client() as api:
        result = api.review_add_participant(review_id, username)
    if as_json:
        print_json(result)
        return
    _print_record(result, f"{username} added to review {result['id']}")


@review_app.command("remove")
@api_errors
def remove(
    review_id: str = typer.Argument(..., help="The review's id."),
    username: str = typer.Argument(..., help="The participant's username."),
    as_json: bool = JsonOpt,
) -> None:
    """Remove a participant from a review you chair: they no longer see it."""
    with client() as api:
        result = api.review_remove_participant(review_id, username)
    if as_json:
        print_json(result)
        return
    _print_record(result, f"{username} removed from review {result['id']}")


@review_app.command("cancel")
@api_errors
def cancel(
    review_id: str = typer.Argument(..., help="The review's id."),
    reason: str = typer.Option(..., "--reason", help="Why: no-longer-needed, case-closed, survivor-withdrew, "
                                                    "no-quorum, duplicate or other."),
    as_json: bool = JsonOpt,
) -> None:
    """Cancel a review you chair (its participants still see it, for the record)."""
    with client() as api:
        result = api.review_cancel(review_id, reason)
    if as_json:
        print_json(result)
        return
    _out(f"review {result['id']} cancelled ({result['cancel_reason']})")


@review_app.command("list")
@api_errors
def list_reviews(
    case_id: str = typer.Option(None, "--case", help="Every review of this case (you are assigned to it)."),
    past: bool = typer.Option(False, "--past", help="Your reviews: also past and cancelled ones."),
    as_json: bool = JsonOpt,
) -> None:
    """Your upcoming reviews, or with --case every review of a case."""
    with client() as api:
        rows = api.case_reviews(case_id) if case_id else api.my_reviews(past=past)
    if as_json:
        print_json(rows)
        return
    emit([{"id": r["id"], "case": r["case_id"], "scheduled_for": r["scheduled_for"], "state": r["state"],
           "participants": ", ".join(p["username"] for p in r["participants"])} for r in rows], False,
         title="Case reviews")
