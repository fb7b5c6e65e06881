"""Custody gaps read from a bundle (pure): custody passes on acceptance, never on the offer; an event by someone
who does not hold the item, or a hand-over that is not on record, is a gap."""

from __future__ import annotations

import base64

from core.ledger import EventKind, canonical
from evidence.audit import custody_gaps

STAFF = {"U-ana": {"username": "ana", "role": "examiner", "agency": "Centre", "agency_kind": "centre"},
         "U-pat": {"username": "pat", "role": "law_enforcement", "agency": "City police", "agency_kind": "police"},
         "U-lee": {"username": "lee", "role": "lab", "agency": "State crime lab", "agency_kind": "crime-lab"}}


def _bundle(*steps: tuple[str, str, dict]) -> dict:
    entries = []
    for seq, (kind, actor, data) in enumerate(steps, start=1):
        body = canonical({"v": 1, "seq": seq, "prev": "0" * 64, "kind": kind, "at": "2026-03-01T22:00:05.000001Z",
                          "actor": {"id": actor, "role": "x"}, "case": "C-1", "item": "I-1", "data": data})
        entries.append({"seq": seq, "body_b64": base64.b64encode(body).decode()})
    return {"entries": entries, "staff": STAFF}


COLLECT = (EventKind.ITEM_COLLECTED, "U-ana", {"custodian": "U-ana"})
SEAL = (EventKind.ITEM_SEALED, "U-ana", {"custodian": "U-ana", "seal_number": "S-1"})
OFFER = (EventKind.TRANSFER_OFFERED, "U-ana", {"from_user": "U-ana", "to_user": "U-pat", "custodian": "U-ana"})
RELEASE = (EventKind.RELEASED, "U-pat", {"from_user": "U-ana", "to_user": "U-pat", "custodian": "U-pat"})
OFFER_LAB = (EventKind.TRANSFER_OFFERED, "U-pat", {"from_user": "U-pat", "to_user": "U-lee", "custodian": "U-pat"})
LAB = (EventKind.TRANSFER_ACCEPTED, "U-lee", {"from_user": "U-pat", "to_user": "U-lee", "custodian": "U-lee",
                                              "purpose": "lab"})


def test_a_release_accepted_by_the_officer_is_no_gap():
    """The reported bug: the offer made the officer the holder, so the release looked like a gap."""
    assert custody_gaps(_bundle(COLLECT, SEAL, OFFER, RELEASE, OFFER_LAB, LAB)) == []


def test_declined_and_cancelled_offers_leave_the_item_with_its_holder():
    decline = (EventKind.TRANSFER_DECLINED, "U-pat", {"from_user": "U-ana", "to_user": "U-pat", "custodian": "U-ana"})
    cancel = (EventKind.TRANSFER_CANCELLED, "system:withdrawal",
              {"from_user": "U-ana", "to_user": "U-pat", "custodian": "U-ana"})
    check_in = (EventKind.CHECKED_IN, "U-ana", {"custodian": "U-ana", "location": "VAULT"})
    check_out = (EventKind.CHECKED_OUT, "U-lee", {"from_user": "U-ana", "to_user": "U-lee", "custodian": "U-lee"})
    analysed = (EventKind.ANALYSED, "U-lee", {"custodian": "U-lee"})
    incident = (EventKind.INTEGRITY_INCIDENT, "system:fixity", {"reason": "hash mismatch"})
    assert custody_gaps(_bundle(COLLECT, OFFER, decline, OFFER, cancel, SEAL, check_in, check_out, incident,
                                analysed)) == []


def test_an_event_by_someone_not_holding_the_item_is_a_gap():
    sealed_by_pat = (EventKind.ITEM_SEALED, "U-pat", {"custodian": "U-pat", "seal_number": "S-2"})
    assert custody_gaps(_bundle(COLLECT, sealed_by_pat)) == [
        "item I-1: seq 2 (sealed) by pat (law enforcement, City police), but the item was held by ana (examiner, "
        "Centre): no hand-over between them is on record"]


def test_a_missing_hand_over_is_a_gap():
    # The officer hands the kit to the lab although the release to him was never accepted (only offered).
    gaps = custody_gaps(_bundle(COLLECT, OFFER, OFFER_LAB, LAB))
    assert len(gaps) == 2 and all("but the item was held by ana (examiner, Centre)" in g for g in gaps)
    assert gaps[0].startswith("item I-1: seq 3 (hand-over offered) by pat (law enforcement, City police)")
    assert gaps[1].startswith("item I-1: seq 4 (submitted to the lab) by pat")
