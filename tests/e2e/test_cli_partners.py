"""The police and lab side of the chain, tried from outside with the real `coc` CLI against a real `coc up` stack
(API + flow runner + Prefect): usernames everywhere a person is named.

A kit is collected and sealed; the survivor's written release consent is on record before any liaison is
assigned, so the pathway waits for one. The coordinator assigns the officer (`coc case assign CASE USERNAME`):
the assignment wakes the pathway and the consented release offer shows in the officer's `coc inbox` within
seconds. The officer accepts it, submits the kit to the crime lab (`coc lab submit --to USERNAME`), the crime
lab receives it from its inbox (`coc lab receive`), records the result (`coc lab result --code`) and returns it
to the centre (`coc custody return --to USERNAME`), where the examiner accepts it.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_cli_journey import Persona
from tests.fixtures.stack import RunningStack

pytestmark = pytest.mark.e2e

OFFER_WITHIN_S = 30.0


def test_release_to_the_liaison_then_crime_lab_and_back_through_cli_verbs(stack: RunningStack,
                                                                         tmp_path: Path) -> None:
    admin = Persona("admin", stack, tmp_path)
    admin.run("login", "--username", stack.admin_user, "--password", stack.admin_password)
    tag = secrets.token_hex(3)
    police, crime_lab_name = f"City Police {tag}", f"State Crime Lab {tag}"
    admin.json("admin", "agency", "add", police, "--kind", "police")
    admin.json("admin", "agency", "add", crime_lab_name, "--kind", "crime-lab")
    people = {"examiner": ("examiner", None), "officer": ("law_enforcement", police),
              "crime-lab": ("lab", crime_lab_name)}
    persons: dict[str, Persona] = {}
    names: dict[str, str] = {}
    for name, (role, agency) in people.items():
        person = Persona(name, stack, tmp_path)
        extra = ["--agency", agency] if agency else []
        user = admin.json("admin", "user", "add", f"{name}-{tag}", "--role", role, *extra,
                          "--password", person.password)
        person.user_id, names[name] = user["id"], user["username"]
        person.run("login", "--username", user["username"], "--password", person.password)
        persons[name] = person
    examiner, officer, crime_lab = persons["examiner"], persons["officer"], persons["crime-lab"]

    # -- examiner: case, consents (the release in writing), a sealed kit ----------------------------------------
    case_id = examiner.json("case", "open", "--reporting", "unrestricted", "--age-band", "adult")["id"]
    admin.json("case", "assign", case_id, names["examiner"])  # a username, not an id
    for scope in ("medical-care", "forensic-exam", "evidence-swabs"):
        examiner.json("consent", "record", case_id, scope)
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    examiner.json("consent", "record", case_id, "share-with-advocate", "--method", "written", "--form-ref",
                  "FORM-ADV-1", "--expires-at", expires)
    kit = examiner.json("evidence", "add", case_id, "--kind", "kit", "--description", "sexual assault kit")["id"]
    examiner.json("custody", "seal", kit, "--seal-number", "SEAL-13")
    for scope, ref in (("release-to-law-enforcement", "FORM-REL-1"), ("lab-testing", "FORM-LAB-1")):
        examiner.json("consent", "record", case_id, scope, "--method", "written", "--form-ref", ref)
    time.sleep(3)  # the pathway has seen every consent: it waits for a liaison, and nobody has an offer
    assert officer.json("inbox") == []

    # -- coordinator assigns the liaison by username: the offer appears within seconds ------------------------
    assigned_at = time.monotonic()
    assignment = admin.json("case", "assign", case_id, names["officer"])
    assert assignment["user_id"] == officer.user_id
    offers: list = []
    while time.monotonic() - assigned_at < OFFER_WITHIN_S:
        offers = officer.json("inbox")
        if offers:
            break
        time.sleep(0.5)
    waited = time.monotonic() - assigned_at
    assert offers, f"no release offer in the officer's inbox {OFFER_WITHIN_S} s after the assignment"
    [offer] = offers
    assert (offer["item_id"], offer["purpose"], offer["seal_number"]) == (kit, "release", "SEAL-13")
    assert offer["case_id"] == case_id and "description" not in offer
    table = officer.run("inbox").stdout
    assert offer["transfer_id"] in table and "release" in table
    print(f"release offer in the inbox {waited:.1f} s after the assignment")

    accepted = officer.json("custody", "accept", offer["transfer_id"], "--seal-number", "SEAL-13", "--seal-intact")
    assert accepted["event"]["kind"] == "released" and accepted["item"]["custodian"] == officer.user_id
    assert officer.json("inbox") == []

    # -- bad input: an unknown username is named, nothing recorded; an officer cannot "receive" at the lab ------
    before = len(officer.json("custody", "history", kit))
    bad = officer.run("lab", "submit", kit, "--to", "nobody-at-all", ok=False)
    assert bad.returncode == 1 and "422" in bad.stderr and "nobody-at-all" in bad.stderr
    assert len(officer.json("custody", "history", kit)) == before

    # -- officer → crime lab → analysis → back to the centre ------------------------------------------------------
    submission = officer.json("lab", "submit", kit, "--to", names["crime-lab"], "--seal-intact")
    assert submission["purpose"] == "lab" and submission["to_user"] == crime_lab.user_id
    [waiting] = crime_lab.json("inbox")
    assert waiting["transfer_id"] == submission["id"] and waiting["from_username"] == names["officer"]
    received = crime_lab.json("lab", "receive", submission["id"], "--seal-number", "SEAL-13", "--seal-intact")
    assert received["event"]["kind"] == "submitted-to-lab" and received["item"]["custodian"] == crime_lab.user_id
    result = crime_lab.json("lab", "result", kit, "--code", "CL-2026-0042")
    assert result["event"]["kind"] == "analysed"
    back = crime_lab.json("custody", "return", kit, "--to", names["examiner"])
    assert back["purpose"] == "return" and back["to_user"] == examiner.user_id
    [returning] = examiner.json("inbox")
    done = examiner.json("custody", "accept", returning["transfer_id"])
    assert done["event"]["kind"] == "returned" and done["item"]["custodian"] == examiner.user_id

    kinds = [e["kind"] for e in examiner.json("custody", "history", kit)]
    for kind in ("collected", "sealed", "released", "submitted-to-lab", "analysed", "returned"):
        assert kind in kinds, kinds
    assert kinds.index("released") < kinds.index("submitted-to-lab") < kinds.index("analysed") \
        < kinds.index("returned")

    # -- released digital evidence: a photograph released by staff (never by the pathway), downloaded verified ----
    examiner.json("consent", "record", case_id, "photography-record")
    photo = examiner.json("evidence", "add", case_id, "--kind", "photograph", "--description", "injury photo")["id"]
    picture = tmp_path / "photo.jpg"
    picture.write_bytes(secrets.token_bytes(200_000))
    examiner.json("evidence", "upload", photo, str(picture))
    refused = officer.run("evidence", "download", photo, "--out", str(tmp_path / "no.jpg"), ok=False)
    # not released to them: hidden, so answered exactly as an unknown id (api.visibility)
    assert refused.returncode == 1 and "404" in refused.stderr and "no evidence item" in refused.stderr
    time.sleep(2)
    assert officer.json("inbox") == []  # the pathway does not offer photographs on its own
    rel = examiner.json("custody", "release", photo, "--to", names["officer"], "--reason", "legal referral",
                        "--condition", "digital copy")
    [photo_offer] = officer.json("inbox")
    assert (photo_offer["transfer_id"], photo_offer["item_kind"]) == (rel["id"], "photograph")
    officer.json("custody", "accept", rel["id"], "--condition", "digital copy")
    copy = tmp_path / "officer-copy.jpg"
    got = officer.json("evidence", "download", photo, "--out", str(copy))
    assert got["verified"] is True and copy.read_bytes() == picture.read_bytes()
    examiner.json("consent", "record", case_id, "photography-record", "--decision", "withdrawn")
    gone = officer.run("evidence", "download", photo, "--out", str(tmp_path / "late.jpg"), ok=False)
    assert gone.returncode == 1 and "403" in gone.stderr and "withdrawn" in gone.stderr
