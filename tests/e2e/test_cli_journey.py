"""One case through the whole centre with the real `coc` console script against a real `coc up` stack.

Examiner (open case, consents, exam, evidence item, upload, seal, transfer to the lab) → advocate (assigned;
reads what the sharing consent allows) → lab (accept the transfer, scan check-in/out) → auditor (verify,
export, verify the bundle offline). The users are created with `coc admin user add` by the bootstrap admin.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.stack.children import inherited_env
from tests.fixtures.stack import RunningStack, coc_command

pytestmark = pytest.mark.e2e


class Persona:
    """One person at their own terminal: their own config dir (token file) and the stack's API URL."""

    def __init__(self, name: str, stack: RunningStack, home: Path) -> None:
        self.name = name
        self.env = inherited_env()
        self.env.update(COC_CONFIG_DIR=str(home / name), COC_API_URL=stack.api_url)
        self.user_id: str | None = None
        self.password = secrets.token_urlsafe(18)

    def run(self, *args: str, input: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `coc ARGS`; with ok, fail the test (showing the output) unless it exits 0."""
        proc = subprocess.run([*coc_command(), *args], env=self.env, input=input, capture_output=True, text=True,
                              timeout=300)
        if ok:
            assert proc.returncode == 0, f"coc {' '.join(args)} → {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def json(self, *args: str, input: str | None = None):
        """Run `coc ARGS --json` and parse its output."""
        return json.loads(self.run(*args, "--json", input=input).stdout)


def test_one_case_through_examiner_advocate_lab_and_auditor(stack: RunningStack, tmp_path: Path) -> None:
    admin = Persona("admin", stack, tmp_path)
    admin.run("login", "--username", stack.admin_user, "--password", stack.admin_password)
    people = {role: Persona(role, stack, tmp_path) for role in ("examiner", "advocate", "lab", "auditor")}
    for role, person in people.items():
        user = admin.json("admin", "user", "add", f"{role}-{secrets.token_hex(3)}", "--role", role,
                          "--password", person.password)
        person.user_id = user["id"]
        login = person.run("login", "--username", user["username"], "--password", person.password)
        assert person.password not in login.stdout + login.stderr
    examiner, advocate, lab, auditor = (people[r] for r in ("examiner", "advocate", "lab", "auditor"))

    # -- examiner ---------------------------------------------------------------------------------------
    case = examiner.json("case", "open", "--reporting", "unrestricted", "--age-band", "adult")
    case_id = case["id"]
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    for scope in ("medical-care", "forensic-exam", "evidence-swabs"):
        examiner.json("consent", "record", case_id, scope)
    examiner.json("consent", "record", case_id, "share-with-advocate", "--method", "written", "--form-ref",
                  "FORM-ADV-1", "--expires-at", expires)
    examiner.json("consent", "record", case_id, "photography-record", "--decision", "declined")
    for scope, ref in (("release-to-law-enforcement", "FORM-REL-1"), ("lab-testing", "FORM-LAB-1")):
        examiner.json("consent", "record", case_id, scope, "--method", "written", "--form-ref", ref)
    state = {s["scope"]: s["status"] for s in examiner.json("consent", "list", case_id)["state"]}
    for scope in ("medical-care", "forensic-exam", "share-with-advocate", "lab-testing"):
        assert state[scope] == "granted", state
    examiner.json("exam", "record", case_id, "--narrative", "Examination per protocol; swabs collected.")

    kit = examiner.json("evidence", "add", case_id, "--kind", "swab", "--description", "oral swab, two tubes",
                        "--quantity", "2")
    item_id = kit["id"]
    doc = tmp_path / "chain-form.pdf"
    doc.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks, not a multiple of the chunk size
    uploaded = examiner.json("evidence", "upload", item_id, str(doc))
    assert uploaded["sha256"] == hashlib.sha256(doc.read_bytes()).hexdigest()
    back = tmp_path / "back.bin"
    downloaded = examiner.json("evidence", "download", item_id, "--out", str(back))
    assert downloaded["verified"] is True and back.read_bytes() == doc.read_bytes()

    examiner.json("custody", "seal", item_id, "--seal-number", "SEAL-0001")
    transfer = examiner.json("custody", "transfer", item_id, "--to", lab.user_id, "--purpose", "lab",
                             "--reason", "submission for testing", "--seal-number", "SEAL-0001", "--seal-intact")
    assert transfer["status"] == "offered"

    # -- advocate: assigned by the coordinator; the written, unexpired sharing consent lets them read the exam ----
    admin.json("case", "assign", case_id, advocate.user_id)
    assert advocate.json("case", "show", case_id)["id"] == case_id
    exam = advocate.json("exam", "show", case_id)
    assert "swabs collected" in json.dumps(exam)
    denied = advocate.run("evidence", "download", item_id, "--out", str(tmp_path / "nope.bin"), ok=False)
    assert denied.returncode == 1 and "403" in denied.stderr  # photographs/files are not theirs to read

    # -- lab: accept the transfer, then scan the item in and out at the bench -----------------------------
    accepted = lab.json("custody", "accept", transfer["id"], "--seal-number", "SEAL-0001", "--seal-intact")
    assert accepted["event"]["kind"] == "submitted-to-lab" and accepted["item"]["custodian"] == lab.user_id
    scans = lab.run("lab", "scan", "--location", "LAB-SHELF-3", "--json", input=f"{item_id}\n\n{item_id}\n")
    lines = [json.loads(line) for line in scans.stdout.splitlines() if line.strip()]
    assert [(s["code"], s["ok"]) for s in lines] == [(item_id, True), (item_id, True)]
    assert [s["result"]["event"]["kind"] for s in lines] == ["checked-in", "checked-out"]
    history = lab.json("custody", "history", item_id)
    kinds = [e["kind"] for e in history]
    assert kinds[:1] == ["collected"] and kinds[-2:] == ["checked-in", "checked-out"]
    assert "transfer-offered" in kinds and "submitted-to-lab" in kinds and "sealed" in kinds

    # -- auditor: server-side verify, export, then verify the bundle with no server at all -----------------
    auditor.json("audit", "verify")
    bundle, pdf, key = tmp_path / "bundle.json", tmp_path / "report.pdf", tmp_path / "ledger.pub"
    auditor.json("audit", "export", "--case", case_id, "--out", str(bundle), "--pdf", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    auditor.run("audit", "public-key", "--out", str(key))
    offline = Persona("offline", stack, tmp_path)
    offline.env["COC_API_URL"] = "http://127.0.0.1:9"  # nothing listens there: the check must not need the API
    report = offline.json("audit", "verify-bundle", str(bundle), "--key", str(key))
    assert report["ok"] is True and report["entries_checked"] > 0
    tampered = json.loads(bundle.read_text())
    tampered["entries"][0]["body_b64"] = tampered["entries"][-1]["body_b64"]
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    assert offline.run("audit", "verify-bundle", str(bad), "--key", str(key), ok=False).returncode == 1
