"""The centre's boundary is the agency, not the verb (a pure rule: no Session).

Any custody move that puts an item in the hands of another agency's staff — a transfer offer or its
acceptance, whatever its declared purpose, a check-out, a scan that checks out — needs the survivor's consent
for that agency's kind, decided by the consent checkpoint at that instant:

- police or prosecution → `Handoff.RELEASE_LAW_ENFORCEMENT` (written release);
- crime lab → `Handoff.LAB_TESTING` (release + testing consent: policies.checkpoint.REQUIREMENTS);
- advocacy organisation → never (evidence is not theirs to hold);
- the centre → no consent: moves inside the centre, and back to it, are the centre's own business.

A transfer is a handoff the receiver acknowledges: it may bring the item into a new agency's hands (a release,
a lab submission). Taking an item from storage (check-out, scan) is not a handoff: staff of an outside agency
may take only an item already in their side's hands with consent (released and held on the law-enforcement
side; submitted to a lab and held at the crime lab), and the checkpoint must still allow it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from policies.agencies import AgencyKind
from policies.handoffs import Handoff


class Side(StrEnum):
    """Which side of the centre's boundary an agency kind stands on."""

    CENTRE = "centre"
    LAW_ENFORCEMENT = "law-enforcement"  # police and prosecution: one side (a release reaches both)
    LAB = "crime-lab"
    NONE = "none"  # may never hold evidence


_SIDE = {AgencyKind.CENTRE: Side.CENTRE, AgencyKind.POLICE: Side.LAW_ENFORCEMENT,
         AgencyKind.PROSECUTION: Side.LAW_ENFORCEMENT, AgencyKind.CRIME_LAB: Side.LAB,
         AgencyKind.ADVOCACY_ORG: Side.NONE}

# The consent handoff a move into each side needs (the centre needs none).
HANDOFF_INTO: dict[Side, Handoff] = {Side.LAW_ENFORCEMENT: Handoff.RELEASE_LAW_ENFORCEMENT,
                                     Side.LAB: Handoff.LAB_TESTING}


class Move(StrEnum):
    """How the item would reach the receiver."""

    TRANSFER = "transfer"  # offer or acceptance of a person-to-person handoff
    TAKE = "take"  # check-out from storage, or a scan that checks out


class Entry(StrEnum):
    """What an accepted transfer into a new side is recorded as."""

    RELEASE = "release"  # into law enforcement's hands
    LAB = "lab"  # into a crime lab's hands: a lab submission


@dataclass(frozen=True)
class CustodyFacts:
    """What the rule needs to know about the item now."""

    released: bool  # released to law enforcement with consent and not returned since
    lab_submitted: bool  # submitted to a lab with consent
    holder: AgencyKind | None  # the agency kind of the current custodian (None: unknown: treated as the centre)


@dataclass(frozen=True)
class Crossing:
    """The rule's answer for one move."""

    handoff: Handoff | None  # the consent the checkpoint must allow now (None: no consent needed)
    crosses: bool  # the item leaves the centre's custody (held inside, received outside)
    entry: Entry | None  # an accepted transfer is recorded as this (None: by its declared purpose)
    refused: str | None = None  # why the move may not happen at all (readable; no survivor identity)


def side(kind: AgencyKind | str | None) -> Side:
    """The side of the boundary an agency kind stands on (None or unknown: the centre for a holder)."""
    if kind is None:
        return Side.CENTRE
    return _SIDE[AgencyKind(kind)]


def decide_move(facts: CustodyFacts, receiver: AgencyKind | str, move: Move) -> Crossing:
    """Whether moving the item into the hands of a `receiver`-kind agency's staff crosses the centre's boundary,
    which consent it needs, what an accepted transfer is recorded as, or why it is refused."""
    to_side = side(receiver)
    from_side = side(facts.holder)
    if to_side is Side.CENTRE:
        return Crossing(handoff=None, crosses=False, entry=None)
    if to_side is Side.NONE:
        return Crossing(handoff=None, crosses=from_side is Side.CENTRE, entry=None,
                        refused=f"evidence is never handed to an agency of kind {AgencyKind(receiver)}: it "
                                "holds no evidence")
    handoff = HANDOFF_INTO[to_side]
    crosses = from_side is Side.CENTRE
    entry = (Entry.RELEASE if to_side is Side.LAW_ENFORCEMENT else Entry.LAB) if from_side is not to_side else None
    if move is Move.TAKE:
        handed = facts.released if to_side is Side.LAW_ENFORCEMENT else facts.lab_submitted
        if not handed or from_side is not to_side:
            what = ("released to law enforcement" if to_side is Side.LAW_ENFORCEMENT
                    else "submitted to the crime lab")
            return Crossing(handoff=handoff, crosses=crosses, entry=None,
                            refused=f"staff of a {AgencyKind(receiver)} agency can take from storage only items "
                                    f"{what} with consent and stored by their side: have the custodian hand it "
                                    "over by a transfer (the consent checkpoint decides)")
        entry = None
    return Crossing(handoff=handoff, crosses=crosses, entry=entry)
