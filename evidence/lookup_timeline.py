"""PURE: a kit's custody events as the steps a survivor reads on the status page (no Session, no text).

Each step is a key the page translates ("collected at the centre", "with law enforcement since …") and the
instant it began; the last step that happened is the current one; a future "kept until" closes the list unless
the kit was destroyed. Who handled the kit, where, seals and reasons never reach a step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class StepKey(StrEnum):
    """What the survivor is told happened (the page's message catalogue has a sentence for each)."""

    COLLECTED = "collected"
    STORED = "stored"
    WITH_LAW_ENFORCEMENT = "with-law-enforcement"
    AT_LAB = "at-lab"
    ANALYSED = "analysed"
    RETURNED = "returned"
    DESTROYED = "destroyed"
    KEPT_UNTIL = "kept-until"


# custody_event kinds (evidence.custody.CustodyEventKind values) that are a step; the others (offers, check-outs,
# seals after collection, integrity records, files) are internal handling and show nothing.
_STEP_OF_EVENT = {
    "collected": StepKey.COLLECTED,
    "checked-in": StepKey.STORED,
    "released": StepKey.WITH_LAW_ENFORCEMENT,
    "submitted-to-lab": StepKey.AT_LAB,
    "analysed": StepKey.ANALYSED,
    "returned": StepKey.RETURNED,
    "destroyed": StepKey.DESTROYED,
}


@dataclass(frozen=True)
class Step:
    """One line of the timeline: what, since when, and whether it is where the kit is now (or a future date)."""

    key: StepKey
    at: datetime
    current: bool = False
    future: bool = False


def timeline(events: Iterable[tuple[str, datetime]], keep_until: datetime | None, now: datetime) -> list[Step]:
    """The survivor's steps from the item's custody events (kind, at) in the order they happened.

    A step repeating the one before it (a second check-in into storage) is not shown again; the last step is
    marked current; `keep_until` (when it is later than now and the kit was not destroyed) is added as a future
    step.
    """
    keys: list[tuple[StepKey, datetime]] = []
    for kind, at in events:
        key = _STEP_OF_EVENT.get(str(kind))
        if key is None or (keys and keys[-1][0] is key):
            continue
        keys.append((key, at))
    steps = [Step(key, at, current=i == len(keys) - 1) for i, (key, at) in enumerate(keys)]
    destroyed = any(s.key is StepKey.DESTROYED for s in steps)
    if keep_until is not None and not destroyed and keep_until > now:
        steps.append(Step(StepKey.KEPT_UNTIL, keep_until, future=True))
    return steps
