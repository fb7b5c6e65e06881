"""`coc tasks`: the signed-in person's work queue (follow-ups due on their cases, offers waiting for them,
destruction notices due for whoever may send them)."""

from __future__ import annotations

from api.cli.common import JsonOpt, api_errors, client, emit

TASK_COLUMNS = ["due_at", "kind", "case_id", "ref", "what", "verb"]


@api_errors
def tasks(as_json: bool = JsonOpt) -> None:
    """What is waiting for you, oldest first: follow-ups due, transfer offers to you, destruction notices due."""
    with client() as api:
        rows = api.tasks()
    emit(rows, as_json, title="Your tasks", columns=None if as_json else TASK_COLUMNS)
