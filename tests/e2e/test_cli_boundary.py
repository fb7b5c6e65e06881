"""The reported hole, tried from outside with the real `coc` CLI against a real `coc up` stack.

A crime lab is registered with `coc admin agency add`, a crime-lab user with `coc admin user add --agency`.
The survivor has not released the kit: `coc custody transfer` of it to the crime-lab user is refused, and the
refusal shows in `coc audit log`; the crime-lab user's `coc lab scan` at the vault is refused too.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.e2e.test_cli_journey import Persona
from tests.fixtures.stack import RunningStack

pytestmark = pytest.mark.e2e


def test_an_unreleased_kit_does_not_reach_the_crime_lab(stack: RunningStack, tmp_path: Path) -> None:
    admin = Persona("admin", stack, tmp_path)
    admin.run("login", "--username", stack.admin_user, "--password", stack.admin_password)
    lab_name = f"State Crime Lab {secrets.token_hex(3)}"
    agency = admin.json("admin", "agency", "add", lab_name, "--kind", "crime-lab")
    assert agency["kind"] == "crime-lab"
    assert lab_name in [a["name"] for a in admin.json("admin", "agency", "list")]
    people = {"examiner": (Persona("examiner", stack, tmp_path), "examiner", None),
              "store": (Persona("store", stack, tmp_path), "lab", None),
              "crime-lab": (Persona("crime-lab", stack, tmp_path), "lab", lab_name),
              "auditor": (Persona("auditor", stack, tmp_path), "auditor", None)}
    for name, (person, role, agency_name) in people.items():
        extra = ["--agency", agency_name] if agency_name else []
        user = admin.json("admin", "user", "add", f"{name}-{secrets.token_hex(3)}", "--role", role, *extra,
                          "--password", person.password)
        assert user["agency_kind"] == ("crime-lab" if agency_name else "centre")
        person.user_id = user["id"]
        person.run("login", "--username", user["username"], "--password", person.password)
    examiner, store, crime_lab, auditor = (people[n][0] for n in ("examiner", "store", "crime-lab", "auditor"))

    case_id = examiner.json("case", "open", "--reporting", "unrestricted", "--age-band", "adult")["id"]
    for scope in ("medical-care", "forensic-exam", "evidence-swabs"):
        examiner.json("consent", "record", case_id, scope)
    kit = examiner.json("evidence", "add", case_id, "--kind", "kit", "--description", "sexual assault kit")["id"]

    # No release, no testing consent: the transfer to the crime lab is refused, and the refusal is on record.
    refused = examiner.run("custody", "transfer", kit, "--to", crime_lab.user_id, "--reason", "lab testing",
                           ok=False)
    assert refused.returncode == 1 and "403" in refused.stderr and "lab-testing" in refused.stderr
    denied = auditor.json("audit", "log", "--item", kit, "--kind", "checkpoint:handoff:denied")
    assert [e["body"]["data"]["handoff"] for e in denied] == ["lab-testing"]
    assert denied[0]["body"]["actor"]["id"] == examiner.user_id

    # The centre's evidence store takes it into the vault without any consent; the crime lab cannot scan it out.
    offer = examiner.json("custody", "transfer", kit, "--to", store.user_id, "--reason", "to the store")
    store.json("custody", "accept", offer["id"])
    stored = store.run("lab", "scan", "--location", "VAULT-1", "--json", input=f"{kit}\n")
    assert json.loads(stored.stdout.splitlines()[0])["result"]["event"]["kind"] == "checked-in"
    taken = crime_lab.run("lab", "scan", "--json", input=f"{kit}\n", ok=False)
    line = json.loads(taken.stdout.splitlines()[0])
    # an item the crime lab may not see answers as an unknown id (api.visibility); the refusal is still recorded
    assert taken.returncode == 1 and (line["ok"], line["status"]) == (False, 404)
    # (refused before the agency boundary is even reached: the kit is not visible to the crime lab at all)
    refusals = auditor.json("audit", "log", "--item", kit, "--kind", "access:attempt:refused")
    assert [e["body"]["actor"]["id"] for e in refusals] == [crime_lab.user_id]
    assert auditor.json("audit", "log", "--item", kit, "--kind", "custody:boundary:refused") == []
    assert store.json("custody", "history", kit)[-1]["kind"] == "checked-in"  # still in the vault
