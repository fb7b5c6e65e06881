"""Visibility before state (issue #18): on every item-, transfer- and file-addressed route, a REAL object the
caller may not see answers exactly as a missing one: same status, same body (but for the id), and nothing about
who holds it or where. Before, an officer refused GET /items/{id} learnt the custodian and location from the 409
of POST /items/{id}/check-out, and 404 versus 409 told which items exist."""

from __future__ import annotations

import secrets

import pytest

from api.app import iter_api_routes
from core.ids import new_id
from policies.permissions import Role
from tests.api_helpers import api_harness
from tests.api_world import build_world


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    """The app on a fresh database and its own Object-Lock bucket (the world stores a file)."""
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-hid-{secrets.token_hex(5)}")
    yield h
    h.close()


def valid_body(method: str, path: str, to_user: str) -> dict:
    """A body that passes validation, so the answer is the route's decision about the object, not a 422."""
    last = path.rsplit("/", 1)[-1]
    bodies = {
        "check-in": {"location": "store-1"}, "check-out": {"reason": "court"}, "seal": {"seal_number": "S-1"},
        "transfers": {"to_user": to_user, "reason": "move", "condition": "sealed"},
        "release": {"to_user": to_user, "reason": "move", "condition": "sealed"},
        "lab-submission": {"to_user": to_user, "reason": "move", "condition": "sealed"},
        "accept": {"condition": "sealed"}, "decline": {"reason": "no"}, "cancel": {"reason": "no"},
        "analysis": {"reason": "analysis"}, "destroy": {"reason": "expired", "authority_ref": "ORDER-1"},
        "resolve": {"finding": "intact after all", "outcome": "false-alarm"}, "legal-hold": {"on": True},
        "scan": {"location": "store-1"},
    }
    if last == "integrity-incidents" and method == "POST":
        return {"json": {"reason": "seal looked torn"}}
    if method == "PUT":
        return {"content": b"some bytes"}
    return {"json": bodies[last]} if last in bodies else {}


def object_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route addressed by an item or transfer id (files are addressed by their item)."""
    out = [(m, r.path) for r in iter_api_routes(app) for m in sorted(set(r.methods) - {"HEAD", "OPTIONS"})
           if "{item_id}" in r.path or "{transfer_id}" in r.path]
    assert len(out) > 20
    return out


def test_a_hidden_object_answers_exactly_as_a_missing_one(harness):
    """Officers, crime-lab staff and unassigned examiners/advocates: hidden real id ≡ random missing id."""
    h = harness
    world = build_world(h)
    callers = {"officer": h.user(Role.LAW_ENFORCEMENT), "crime-lab": h.user(Role.LAB, agency_kind="crime-lab"),
               "unassigned examiner": h.user(Role.EXAMINER), "unassigned advocate": h.user(Role.ADVOCATE)}
    real = {"item_id": world.item_id, "transfer_id": world.transfer_id}
    missing = {"item_id": new_id("item"), "transfer_id": new_id("transfer")}
    differences, compared = [], 0
    for method, path in object_routes(h.app):
        for label, who in callers.items():
            answers = []
            for ids in (real, missing):
                url = path.replace("{incident_id}", str(world.incident_id))
                for name, value in ids.items():
                    url = url.replace("{" + name + "}", value)
                resp = h.client.request(method, url, headers=who.headers, **valid_body(method, path, who.id))
                text = resp.text
                for value in ids.values():
                    text = text.replace(value, "<id>")
                answers.append((resp.status_code, text))
            compared += 1
            (hidden_status, hidden_text), (missing_status, missing_text) = answers
            assert hidden_status in {403, 404}, (method, path, label, hidden_status, hidden_text)
            if answers[0] != answers[1]:
                differences.append(f"{method} {path} as {label}: hidden {hidden_status} {hidden_text[:160]} "
                                   f"≠ missing {missing_status} {missing_text[:160]}")
            for secret in (world.opener.id, world.receiver.id, world.opener.user.username, "store-1"):
                assert secret not in hidden_text, (method, path, label, hidden_text)
    assert compared > 80
    assert not differences, "hidden objects answer differently from missing ones:\n" + "\n".join(differences)


def test_officer_learns_nothing_from_checking_out_an_unreleased_item(harness):
    """The issue's example: the check-out of an item not released to the officer is a plain 404."""
    h = harness
    world = build_world(h)
    officer = h.user(Role.LAW_ENFORCEMENT)
    r = h.client.post(f"/items/{world.item_id}/check-out", json={"reason": "court"}, headers=officer.headers)
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == f"no evidence item {world.item_id!r}: check the id on the label"
    assert world.opener.id not in r.text and world.opener.user.username not in r.text
