"""PURE rules of the survivors' "please contact me about my kit" requests (no Session, no SQLAlchemy).

Who sees a request: a coordinator sees every case's (as with GET /cases); anyone else who may list cases only
those of the cases they are assigned to. How a request was handled is one closed outcome (no free text: the
ledger entry holds the request's seq, the outcome and the staff id, nothing about the survivor). A request is
open until its first handling; later ones (a race lost on another database) never reopen or change it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from policies.permissions import Role


class ContactOutcome(StrEnum):
    """What came of calling the survivor back (on the contact they agreed at the exam), as an advocate logs it."""

    REACHED = "reached"  # spoke with the survivor
    LEFT_MESSAGE = "left-message"  # left a message on a channel the survivor agreed may receive one
    NO_ANSWER = "no-answer"  # tried as the centre's call-back policy says; no answer, no message left
    UNREACHABLE = "unreachable"  # no contact on file that works or is safe to use (wrong number, bounced, none)


class RequestState(StrEnum):
    """Which requests a list shows."""

    OPEN = "open"  # not handled yet (the default)
    ALL = "all"  # open and handled, the handled ones with their outcome and when


def sees_every_case(role: str) -> bool:
    """A coordinator sees every case's requests; everyone else only those of their assigned cases."""
    return role == Role.COORDINATOR.value


def may_see(role: str, case_id: str, assigned: Iterable[str]) -> bool:
    """May someone with `role`, assigned to the cases `assigned`, see (and handle) a request of `case_id`?"""
    return sees_every_case(role) or case_id in set(assigned)


@dataclass(frozen=True)
class Handling:
    """How one request was handled: the outcome, by whom (staff id) and when."""

    outcome: ContactOutcome
    by: str
    at: datetime


def handling_data(request_seq: int, outcome: ContactOutcome, staff_id: str) -> dict[str, Any]:
    """The ledger data of a handling: ids, an enum and an int only (no survivor data, no free text)."""
    return {"request_seq": int(request_seq), "outcome": ContactOutcome(outcome).value, "staff": staff_id}


def handled_index(entries: Iterable[tuple[int, datetime, dict[str, Any]]]) -> dict[int, Handling]:
    """Request seq → its handling, from (entry seq, recorded at, data) of the handling entries in any order:
    the earliest entry for a request wins."""
    out: dict[int, Handling] = {}
    for _seq, at, data in sorted(entries, key=lambda e: e[0]):
        request = data.get("request_seq")
        if isinstance(request, int) and request not in out:
            out[request] = Handling(ContactOutcome(data["outcome"]), str(data.get("staff", "")), at)
    return out
