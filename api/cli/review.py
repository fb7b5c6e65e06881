"""`coc review …`: multidisciplinary case reviews — schedule (participants by username), show (your agency's
consent-filtered view), decide, and action items (add with an owner agency and a due date; done)."""

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
