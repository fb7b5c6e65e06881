"""The custody report and bundle of real custody paths (SQLite and PostgreSQL): a kit collected, sealed,
released to an officer and received by a crime lab names every holder with role and agency, shows no false
gap, verifies offline, and every tampering of its bundle fails; every custody path leaves no false gap."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.actors import Actor
from core.ledger import signing
from evidence import audit, verification
from evidence.custody import (
    AnalysisCreate,
    CheckInCreate,
    CheckOutCreate,
    SealCreate,
    TransferAccept,
    TransferClose,
    TransferCreate,
    accept_transfer,
    cancel_transfer,
    check_in,
    check_out,
    decline_transfer,
    offer_lab_submission,
    offer_release,
    offer_transfer,
    record_analysis,
    scan,
    seal_item,
)
from evidence.incidents import IncidentReport, IncidentResolve, report_incident, resolve_incident
from evidence.items import get_item
from evidence.verification import VerificationTrigger
from tests.evidence_support import (
    CRIME_LAB,
    EXAMINER,
    LAB,
    LAB2,
    OFFICER,
    destroy_by_two,
    new_case,
    new_item,
    past_retention,
)

AUDITOR = Actor(id="U00000000000000A1", role="auditor")
NAMES = {EXAMINER.id: ("test-examiner-E01", "examiner", "Centre"),
         OFFICER.id: ("test-law_enforcement-0P1", "law_enforcement", "Test police"),
         CRIME_LAB.id: ("test-lab-0X1", "lab", "Test crime lab")}


@pytest.fixture
def key(tmp_path):
    previous = signing.set_key_path(tmp_path / "keys" / "ledger.pem")
    yield signing.public_key_pem()
    signing.set_key_path(previous)


def _export(session, **scope) -> dict:
    outcome = verification.verify_and_record(session, actor=AUDITOR, trigger=VerificationTrigger.EXPORT)
    bundle = audit.export_bundle(session, verification=verification.statement(outcome.record), **scope)
    session.commit()
    return json.loads(json.dumps(bundle))


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())  # cells wrap: compare words, not lines


def _released_to_police_then_crime_lab(session, clock) -> tuple[str, str]:
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    clock.advance(timedelta(minutes=20, seconds=5, microseconds=123456))
    seal_item(session, actor=EXAMINER, item_id=item_id, data=SealCreate(seal_number="SEAL-0042"))
    t = offer_release(session, actor=EXAMINER, item_id=item_id,
                      data=TransferCreate(to_user=OFFICER.id, reason="police investigation", condition="sealed"))
    clock.advance(timedelta(hours=1))
    accept_transfer(session, actor=OFFICER, transfer_id=t.id, data=TransferAccept(condition="sealed", seal_intact=True))
    clock.advance(timedelta(hours=3))
    t = offer_lab_submission(session, actor=OFFICER, item_id=item_id,
                             data=TransferCreate(to_user=CRIME_LAB.id, reason="DNA analysis", condition="sealed"))
    accept_transfer(session, actor=CRIME_LAB, transfer_id=t.id,
                    data=TransferAccept(condition="sealed, intact", seal_intact=True))
    session.commit()
    return case_id, item_id


def test_released_kit_report_names_every_holder_and_its_bundle_verifies(session, clock, key, tmp_path):
    case_id, item_id = _released_to_police_then_crime_lab(session, clock)
    bundle = _export(session, item_id=item_id)
    report = audit.verify_bundle(bundle, key)
    assert report.ok and report.warnings == [], (report.errors, report.warnings)
    assert report.complete.startswith(f"complete: all {len(bundle['entries'])} entries of item {item_id}")
    assert {k: (v["username"], v["role"], v["agency"]) for k, v in bundle["staff"].items()} == NAMES
    assert audit.custody_gaps(bundle) == []
    (tmp_path.parent / "released-bundle.json").write_text(json.dumps(bundle))
    text = _text(audit.render_custody_pdf(bundle), tmp_path)
    for username, role, agency in NAMES.values():
        assert username in text and f"({role.replace('_', ' ')}, {agency}" in text, username
    for event in ("collected", "sealed", "released to law enforcement", "submitted to the lab",
                  "release to law enforcement: allowed", "lab testing: allowed", "SEAL-0042", "police investigation"):
        assert event in text, event
    assert "2026-03-01 22:20:05 UTC" in text and ".123456" not in text  # to the second, with its zone
    assert "Custody gaps" in text and "None found" in text and "but the item was held by" not in text
    assert "How to verify this report" in text and "coc audit verify-bundle bundle.json --key public.pem" in text
    assert signing.fingerprint(key) in text.replace(" ", "")
    assert "ledger verified at" in text
    # The first page renders to a non-blank image (text and table lines on white).
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(tmp_path / "report.pdf"),
                    str(tmp_path / "page")], check=True)
    from PIL import Image

    image = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    dark = sum(1 for v in image.get_flattened_data() if v < 128)
    assert image.size[0] > image.size[1] > 300 and 0.005 < dark / (image.size[0] * image.size[1]) < 0.5
    # `coc audit verify-bundle` (offline) shows the same names.
    from typer.testing import CliRunner

    from api.cli.main import app

    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "public.pem").write_bytes(key)
    cli = CliRunner().invoke(app, ["audit", "verify-bundle", str(tmp_path / "bundle.json"), "--key",
                                   str(tmp_path / "public.pem")], catch_exceptions=False, env={"COLUMNS": "250"})
    assert cli.exit_code == 0 and "bundle verified" in cli.output, cli.output
    for username, _role, _agency in NAMES.values():
        assert username in cli.output, username
    assert "released to law" in cli.output and "complete: all" in cli.output
    # Every tampering of the bundle fails offline, naming what is wrong.
    other_case = new_case(session)
    foreign = _export(session, case_id=other_case)["entries"][0]
    n = len(bundle["entries"])
    tampered = {
        "drop first": (lambda b: b["entries"].pop(0), "(first of"),
        "drop middle": (lambda b: b["entries"].pop(n // 2), f"(#{n // 2 + 1} of"),
        "drop last": (lambda b: b["entries"].pop(), "(last of"),
        "drop all": (lambda b: b["entries"].clear(), "(first of"),
        "add foreign": (lambda b: b["entries"].append(copy.deepcopy(foreign)), "(added)"),
        "reorder": (lambda b: b["entries"].insert(0, b["entries"].pop(1)), "order"),
        "replace": (lambda b: b["entries"].__setitem__(1, copy.deepcopy(foreign)), "is missing from the bundle"),
        "rename staff": (lambda b: b["staff"][OFFICER.id].update(username="someone-else"), "staff directory"),
    }
    for name, (change, reason) in tampered.items():
        b = copy.deepcopy(bundle)
        change(b)
        result = audit.verify_bundle(b, key)
        assert not result.ok and any(reason in e for e in result.errors), (name, result.errors)


def test_every_custody_path_leaves_no_false_gap(session, clock, key, tmp_path):
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    seal_item(session, actor=EXAMINER, item_id=item_id, data=SealCreate(seal_number="SEAL-7"))
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="to the store", condition="sealed"))
    decline_transfer(session, actor=LAB, transfer_id=t.id, data=TransferClose(reason="not now"))
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="to the store", condition="sealed"))
    cancel_transfer(session, actor=EXAMINER, transfer_id=t.id, data=TransferClose(reason="wrong shelf"))
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="to the store", condition="sealed"))
    accept_transfer(session, actor=LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    check_in(session, actor=LAB, item_id=item_id, data=CheckInCreate(location="VAULT-1"))
    check_out(session, actor=LAB2, item_id=item_id, data=CheckOutCreate(reason="audit"))
    scan(session, actor=LAB2, item_id=item_id, location="VAULT-2")
    scan(session, actor=LAB, item_id=item_id, location=None)
    report_incident(session, actor=LAB, item_id=item_id, data=IncidentReport(reason="label smudged", source="seal"))
    session.commit()
    incident = session.execute(sa.text("select id from integrity_incident")).scalar_one()
    resolve_incident(session, actor=AUDITOR, item_id=item_id, incident_id=incident,
                     data=IncidentResolve(finding="label only, seal intact", outcome="false-alarm"))
    t = offer_lab_submission(session, actor=LAB, item_id=item_id,
                             data=TransferCreate(to_user=CRIME_LAB.id, reason="testing", condition="sealed"))
    accept_transfer(session, actor=CRIME_LAB, transfer_id=t.id, data=TransferAccept(condition="sealed"))
    record_analysis(session, actor=CRIME_LAB, item_id=item_id, data=AnalysisCreate(reason="DNA profile"))
    t = offer_transfer(session, actor=CRIME_LAB, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="return", condition="resealed", purpose="return"))
    accept_transfer(session, actor=LAB, transfer_id=t.id, data=TransferAccept(condition="resealed"))
    session.commit()
    clock.advance(past_retention(get_item(session, item_id).retention_until))
    destroy_by_two(session, item_id, proposer=LAB, approver=LAB2, authority_ref="AUTH-1")
    session.commit()
    bundle = _export(session, item_id=item_id)
    kinds = [json.loads(base64.b64decode(e["body_b64"]))["kind"] for e in bundle["entries"]]
    for kind in ("custody:transfer:declined", "custody:transfer:cancelled", "custody:item:checked-out",
                 "integrity:item:incident", "custody:item:analysed", "custody:item:returned", "custody:item:destroyed"):
        assert kind in kinds, kind
    report = audit.verify_bundle(bundle, key)
    assert report.ok and report.warnings == [], (report.errors, report.warnings)
    assert "None found" in _text(audit.render_custody_pdf(bundle), tmp_path)
