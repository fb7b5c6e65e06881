"""The `coc` CLI against a real app served on loopback: typer's CliRunner, no mocks."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture

# The CLI speaks HTTP: what it prints does not depend on the server's database, whose every route runs on both
# SQLite and PostgreSQL in tests/integration. These run on the embedded database only.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli(live_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811 - fixture use
    """Run `coc ARGS` against the live API with a private config dir; returns the Result."""
    monkeypatch.setenv("COC_CONFIG_DIR", str(tmp_path / "coc-config"))
    monkeypatch.setenv("COC_API_URL", live_api.url)
    monkeypatch.delenv("COC_TOKEN", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


def login_as(cli, live_api: LiveApi, role: str, **kwargs):  # noqa: F811
    """Create a staff user of `role` and log the CLI in as them; returns the StaffUser."""
    staff = live_api.user(role, **kwargs)
    result = cli("login", "--username", staff.user.username, "--password", staff.password)
    assert result.exit_code == 0, result.output
    return staff


def test_login_stores_token_privately_and_never_prints_it(cli, live_api, tmp_path):  # noqa: F811
    staff = login_as(cli, live_api, "examiner")
    token_file = tmp_path / "coc-config" / "token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token.count(".") == 2  # a JWT
    result = cli("whoami", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["username"] == staff.user.username
    assert token not in result.output


def test_login_with_a_wrong_password_exits_1_with_the_api_detail(cli, live_api):  # noqa: F811
    staff = live_api.user("examiner")
    result = cli("login", "--username", staff.user.username, "--password", "wrong-" + staff.password)
    assert result.exit_code == 1
    assert "401" in result.output


def test_commands_need_a_login(cli):
    result = cli("case", "list")
    assert result.exit_code == 1
    assert "coc login" in result.output


def test_usage_error_exits_2(cli):
    assert cli("case", "open", "--no-such-option").exit_code == 2


def test_case_open_show_list_with_json_and_tables(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    opened = cli("case", "open", "--reporting", "restricted", "--age-band", "adult", "--json")
    assert opened.exit_code == 0, opened.output
    case = json.loads(opened.output)
    assert case["reporting"] == "restricted"
    shown = cli("case", "show", case["id"])
    assert shown.exit_code == 0, shown.output
    assert case["id"] in shown.output and "restricted" in shown.output
    listed = json.loads(cli("case", "list", "--json").output)
    assert [c["id"] for c in listed] == [case["id"]]
    table = cli("case", "list")
    assert table.exit_code == 0 and case["id"] in table.output


def test_case_open_with_a_bad_value_prints_the_api_detail(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    result = cli("case", "open", "--reporting", "sideways")
    assert result.exit_code == 1
    assert "422" in result.output and "reporting" in result.output


def test_unknown_case_is_a_404_with_exit_1(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    result = cli("case", "show", "C0000000000000000")
    assert result.exit_code == 1
    assert "404" in result.output or "403" in result.output


def test_identity_only_on_explicit_request(cli, live_api, tmp_path):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    ident = tmp_path / "identity.json"
    ident.write_text(json.dumps({"full_name": "Alex Example"}))
    stored = cli("case", "identity", "set", case["id"], "--from", str(ident))
    assert stored.exit_code == 0, stored.output
    assert "Alex Example" not in cli("case", "show", case["id"]).output
    got = cli("case", "identity", "get", case["id"], "--json")
    assert got.exit_code == 0, got.output
    assert json.loads(got.output)["full_name"] == "Alex Example"


def test_admin_user_add_list_deactivate_and_assign(cli, live_api):  # noqa: F811
    examiner = login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    login_as(cli, live_api, "coordinator")
    added = cli("admin", "user", "add", "advocate-amy", "--role", "advocate", "--password", "correct horse battery",
                "--json")
    assert added.exit_code == 0, added.output
    user = json.loads(added.output)
    assert user["role"] == "advocate" and "password" not in user
    listed = cli("admin", "user", "list", "--json")
    assert "advocate-amy" in [u["username"] for u in json.loads(listed.output)]
    assigned = cli("case", "assign", case["id"], user["id"], "--json")
    assert assigned.exit_code == 0, assigned.output
    gone = cli("admin", "user", "deactivate", user["id"], "--json")
    assert gone.exit_code == 0 and json.loads(gone.output)["active"] is False
    assert examiner.user.username in cli("admin", "user", "list").output
    # A deactivated user can no longer log in.
    assert cli("login", "--username", "advocate-amy", "--password", "correct horse battery").exit_code == 1


def test_admin_user_add_prompts_for_the_password_without_echo(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "coordinator")
    result = cli("admin", "user", "add", "lab-lee", "--role", "lab", input="a long secret pw\na long secret pw\n")
    assert result.exit_code == 0, result.output
    assert "a long secret pw" not in result.output


def test_consent_record_list_and_a_refused_decision(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    granted = cli("consent", "record", case["id"], "medical-care", "--json")
    assert granted.exit_code == 0, granted.output
    assert json.loads(granted.output)["decision"] == "granted"
    assert cli("consent", "record", case["id"], "forensic-exam", "--decision", "declined").exit_code == 0
    # Sharing with an advocate needs an expiry: the API refuses, the CLI shows why and exits 1.
    refused = cli("consent", "record", case["id"], "share-with-advocate")
    assert refused.exit_code == 1 and "expir" in refused.output
    overview = json.loads(cli("consent", "list", case["id"], "--json").output)
    state = {s["scope"]: s["status"] for s in overview["state"]}
    assert state["medical-care"] == "granted" and state["forensic-exam"] == "declined"
    table = cli("consent", "list", case["id"], "--history")
    assert table.exit_code == 0 and "medical-care" in table.output


def test_exam_needs_consent_then_records_and_shows(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    denied = cli("exam", "record", case["id"], "--narrative", "notes")
    assert denied.exit_code == 1 and "403" in denied.output
    cli("consent", "record", case["id"], "forensic-exam")
    # '-' reads the notes from stdin (kept out of shell history and process lists)
    recorded = cli("exam", "record", case["id"], "--narrative", "-", "--json", input="bruising noted on left forearm")
    assert recorded.exit_code == 0, recorded.output
    assert "narrative" not in json.loads(recorded.output)
    shown = cli("exam", "show", case["id"], "--json")
    assert json.loads(shown.output)[0]["narrative"] == "bruising noted on left forearm"
    cli("consent", "record", case["id"], "medical-care")
    care = cli("care", "record", case["id"], "hiv-pep", "--json")
    assert care.exit_code == 0, care.output
    assert json.loads(cli("care", "show", case["id"], "--json").output)[0]["care"] == "hiv-pep"


def test_alerts_list_for_a_coordinator(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "coordinator")
    result = cli("alerts", "--json")
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.output), list)
    assert cli("alerts").exit_code == 0


def test_help_on_every_command_group(cli):
    for group in ("case", "consent", "exam", "care", "evidence", "custody", "lab", "audit", "admin", "up"):
        result = cli(group, "--help")
        assert result.exit_code == 0, (group, result.output)
        assert "Usage" in result.output


def test_audit_log_verify_export_and_offline_verify_bundle(cli, live_api, tmp_path, monkeypatch):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    cli("consent", "record", case["id"], "medical-care")
    login_as(cli, live_api, "auditor")
    log = json.loads(cli("audit", "log", "--case", case["id"], "--json").output)
    assert len(log) >= 2 and all(e["case_id"] == case["id"] for e in log)
    assert cli("audit", "log").exit_code == 0
    verified = cli("audit", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["ok"] is True
    bundle, pdf, key = tmp_path / "bundle.json", tmp_path / "report.pdf", tmp_path / "ledger.pem"
    exported = cli("audit", "export", "--case", case["id"], "--out", str(bundle), "--pdf", str(pdf), "--json")
    assert exported.exit_code == 0, exported.output
    assert pdf.read_bytes().startswith(b"%PDF")
    assert cli("audit", "public-key", "--out", str(key)).exit_code == 0
    assert key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert cli("audit", "export", "--out", str(bundle)).exit_code == 2  # neither --case nor --item

    # Offline: no API (nothing listens on port 9) and no login.
    monkeypatch.setenv("COC_API_URL", "http://127.0.0.1:9")
    cli("logout")
    ok = cli("audit", "verify-bundle", str(bundle), "--key", str(key), "--json")
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    assert report["ok"] is True and report["entries_checked"] == len(log)
    doc = json.loads(bundle.read_text())
    doc["entries"][0]["entry_hash"] = "0" * 64
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    bad = cli("audit", "verify-bundle", str(tampered), "--key", str(key))
    assert bad.exit_code == 1 and "NOT verified" in bad.output


def _examined_case(cli, live_api):  # noqa: F811
    """An examiner logged in, with a reported case whose swab and status-lookup consents are granted."""
    examiner = login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--reporting", "unrestricted", "--json").output)
    for scope in ("medical-care", "forensic-exam", "evidence-swabs", "status-lookup"):
        assert cli("consent", "record", case["id"], scope).exit_code == 0
    return examiner, case


def test_evidence_add_upload_download_round_trip_with_hash_check(cli, live_api, tmp_path):  # noqa: F811
    _, case = _examined_case(cli, live_api)
    added = cli("evidence", "add", case["id"], "--kind", "swab", "--description", "oral swab", "--json")
    assert added.exit_code == 0, added.output
    item = json.loads(added.output)
    assert item["status"] == "held"
    src = tmp_path / "scan.tiff"
    data = os.urandom(2 * 1024 * 1024 + 5)  # spans several 1 MiB chunks
    src.write_bytes(data)
    up = cli("evidence", "upload", item["id"], str(src), "--json")
    assert up.exit_code == 0, up.output
    sha = hashlib.sha256(data).hexdigest()
    assert json.loads(up.output)["sha256"] == sha
    out = tmp_path / "back.tiff"
    down = cli("evidence", "download", item["id"], "--out", str(out), "--json")
    assert down.exit_code == 0, down.output
    info = json.loads(down.output)
    assert info["verified"] is True and info["sha256"] == sha and info["bytes"] == len(data)
    assert out.read_bytes() == data
    assert "verified" in cli("evidence", "download", item["id"], "--out", str(out)).output
    shown = json.loads(cli("evidence", "show", item["id"], "--json").output)
    assert shown["id"] == item["id"]
    assert item["id"] in cli("evidence", "list", case["id"]).output
    label = tmp_path / "label.png"
    assert cli("evidence", "label", item["id"], "--out", str(label)).exit_code == 0
    assert label.read_bytes().startswith(b"\x89PNG")


def test_empty_upload_is_refused_with_the_api_detail(cli, live_api, tmp_path):  # noqa: F811
    _, case = _examined_case(cli, live_api)
    item = json.loads(cli("evidence", "add", case["id"], "--kind", "document", "--description", "form",
                          "--json").output)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    result = cli("evidence", "upload", item["id"], str(empty))
    assert result.exit_code == 1 and "empty" in result.output


def test_lab_scan_loop_with_good_and_bad_codes(cli, live_api):  # noqa: F811
    _, case = _examined_case(cli, live_api)
    items = [json.loads(cli("evidence", "add", case["id"], "--kind", "kit", "--description", f"kit {n}",
                            "--json").output)["id"] for n in range(2)]
    lab = live_api.user("lab")
    for item_id in items:
        sent = cli("custody", "transfer", item_id, "--to", lab.id, "--reason", "to the evidence store", "--json")
        assert sent.exit_code == 0, sent.output
    login_as_existing(cli, lab)
    for item_id in items:
        transfer_id = json.loads(cli("evidence", "show", item_id, "--json").output)["pending_transfer_id"]
        assert cli("custody", "accept", transfer_id).exit_code == 0
    codes = f"{items[0]}\n\n  {items[1]}  \nNOT-A-CODE\n{items[0]}\n\r\n"
    result = cli("lab", "scan", "--location", "STORE-A1", "--json", input=codes)
    assert result.exit_code == 1  # one bad code in the batch
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [(x["code"], x["ok"]) for x in lines] == [(items[0], True), (items[1], True), ("NOT-A-CODE", False),
                                                     (items[0], True)]
    assert [x["result"]["event"]["kind"] for x in lines if x["ok"]] == ["checked-in", "checked-in", "checked-out"]
    assert lines[2]["status"] in (404, 422)
    human = cli("lab", "scan", "--location", "STORE-A1", input=f"{items[1]}\n")
    assert human.exit_code == 0, human.output
    assert "OK" in human.output and "checked-out" in human.output and "1 ok, 0 failed" in human.output
    history = json.loads(cli("custody", "history", items[1], "--json").output)
    assert [e["kind"] for e in history][-2:] == ["checked-in", "checked-out"]


def test_survivor_status_lookup_prompts_for_the_password(cli, live_api):  # noqa: F811
    _, case = _examined_case(cli, live_api)
    item = json.loads(cli("evidence", "add", case["id"], "--kind", "kit", "--description", "kit",
                          "--json").output)
    card = json.loads(cli("evidence", "lookup-enrol", item["id"], "--json").output)
    cli("logout")  # a survivor has no staff login
    result = cli("status", card["code"], "--json", input=card["password"] + "\n")
    assert result.exit_code == 0, result.output
    assert card["password"] not in result.output
    assert "stage" in json.loads(result.output[result.output.index("{"):])
    wrong = cli("status", card["code"], input="not-the-password\n")
    assert wrong.exit_code == 1


def login_as_existing(cli, staff):
    """Log the CLI in as an already created StaffUser."""
    result = cli("login", "--username", staff.user.username, "--password", staff.password)
    assert result.exit_code == 0, result.output


def test_custody_check_in_out_and_a_consent_gated_release(cli, live_api):  # noqa: F811
    examiner, case = _examined_case(cli, live_api)
    item = json.loads(cli("evidence", "add", case["id"], "--kind", "kit", "--description", "kit", "--json").output)
    lab = live_api.user("lab")
    officer = live_api.user("law_enforcement")
    cli("custody", "seal", item["id"], "--seal-number", "S-77")
    transfer = json.loads(cli("custody", "transfer", item["id"], "--to", lab.id, "--reason", "store",
                              "--json").output)
    login_as_existing(cli, lab)
    assert cli("custody", "accept", transfer["id"], "--seal-number", "S-77", "--seal-intact").exit_code == 0
    checked_in = cli("custody", "check-in", item["id"], "--location", "VAULT-2", "--json")
    assert checked_in.exit_code == 0, checked_in.output
    assert json.loads(checked_in.output)["item"]["status"] == "checked-in"
    again = cli("custody", "check-in", item["id"], "--location", "VAULT-2")
    assert again.exit_code == 1 and "409" in again.output  # already checked in: the API says where
    out = cli("custody", "check-out", item["id"], "--reason", "handover")
    assert out.exit_code == 0 and "checked-out" in out.output
    back = json.loads(cli("custody", "transfer", item["id"], "--to", examiner.id, "--reason", "return",
                          "--json").output)
    login_as_existing(cli, examiner)
    assert cli("custody", "accept", back["id"]).exit_code == 0
    # No written release consent yet: the checkpoint refuses, naming the consent.
    refused = cli("custody", "release", item["id"], "--to", officer.id, "--reason", "police report")
    assert refused.exit_code == 1 and "403" in refused.output and "release" in refused.output
    cli("consent", "record", case["id"], "release-to-law-enforcement", "--method", "written", "--form-ref", "REL-9")
    released = cli("custody", "release", item["id"], "--to", officer.id, "--reason", "police report", "--json")
    assert released.exit_code == 0, released.output
    offer = json.loads(released.output)
    assert offer["purpose"] == "release" and offer["to_user"] == officer.id
    login_as_existing(cli, officer)
    taken = json.loads(cli("custody", "accept", offer["id"], "--json").output)
    assert taken["item"]["status"] == "released" and taken["item"]["custodian"] == officer.id


def test_consent_override_with_a_court_order(cli, live_api):  # noqa: F811
    _, case = _examined_case(cli, live_api)
    missing_ref = cli("consent", "override", case["id"], "lab-testing", "--basis", "court-order",
                      "--legal-basis", "Order of the district court")
    assert missing_ref.exit_code == 1 and "reference" in missing_ref.output
    ok = cli("consent", "override", case["id"], "lab-testing", "--basis", "court-order", "--legal-basis",
             "Order of the district court", "--reference", "CO-2026-17", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["basis"] == "court-order"
    overview = json.loads(cli("consent", "list", case["id"], "--json").output)
    assert [o["reference"] for o in overview["overrides"]] == ["CO-2026-17"]


def test_case_clocks_after_the_assault_time(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--assault-at", "2026-01-01T00:00:00+00:00", "--json").output)
    clocks = cli("case", "clocks", case["id"], "--json")
    assert clocks.exit_code == 0, clocks.output
    assert isinstance(json.loads(clocks.output), list)
    assert cli("case", "clocks", case["id"]).exit_code == 0


def test_audit_verify_since_a_kept_tree_head(cli, live_api, tmp_path):  # noqa: F811
    """An auditor keeps a signed tree head; later `verify --since` proves (offline checks of a consistency
    proof and both signatures) that the ledger only grew — and fails for a head the ledger does not extend."""
    from datetime import UTC, datetime

    from core.ledger import signing

    login_as(cli, live_api, "auditor")
    head, key = tmp_path / "sth.json", tmp_path / "ledger.pem"
    assert cli("audit", "tree-head", "--out", str(head)).exit_code == 0
    assert cli("audit", "public-key", "--out", str(key)).exit_code == 0
    kept = json.loads(head.read_text())
    login_as(cli, live_api, "examiner")
    for _ in range(3):  # the ledger grows after the head was kept
        case = json.loads(cli("case", "open", "--json").output)
        cli("consent", "record", case["id"], "medical-care")
    login_as(cli, live_api, "auditor")
    assert cli("audit", "verify", "--since", str(head)).exit_code == 2  # --key is required with --since
    ok = cli("audit", "verify", "--since", str(head), "--key", str(key), "--json")
    assert ok.exit_code == 0, ok.output
    since = json.loads(ok.output)["since"]
    assert since["ok"] is True and since["kept_size"] == kept["tree_size"] < since["current_size"]

    # A head with the same size but another root (what a rewrite of those entries would leave behind),
    # validly signed: the ledger does not extend it.
    forged = signing.sign_tree_head(kept["tree_size"], "ab" * 32, datetime.now(UTC),
                                    live_api.harness.settings.data_dir)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(forged))
    bad = cli("audit", "verify", "--since", str(other), "--key", str(key), "--json")
    assert bad.exit_code == 1 and "does NOT extend" in json.loads(bad.output)["since"]["detail"]
    # A head signed by another key is refused as such.
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    foreign = signing.sign_tree_head(kept["tree_size"], kept["root_hash"], datetime.now(UTC), stranger)
    other.write_text(json.dumps(foreign))
    bad = cli("audit", "verify", "--since", str(other), "--key", str(key), "--json")
    assert bad.exit_code == 1 and "not signed by this key" in json.loads(bad.output)["since"]["detail"]


def test_case_update_converts_the_report_and_records_the_assault_time(cli, live_api):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--reporting", "restricted", "--json").output)
    assert cli("case", "update", case["id"]).exit_code == 2  # nothing to change
    done = cli("case", "update", case["id"], "--reporting", "unrestricted", "--assault-at",
               "2026-11-20T22:00:00-08:00", "--json")
    assert done.exit_code == 0, done.output
    updated = json.loads(done.output)
    assert updated["reporting"] == "unrestricted" and updated["assault_at"].startswith("2026-11-21T06:00:00")
    bad = cli("case", "update", case["id"], "--assault-at", "2026-11-20T22:00:00")
    assert bad.exit_code == 1 and "UTC offset" in bad.output


def test_identity_from_a_malformed_file_is_one_error_line(cli, live_api, tmp_path):  # noqa: F811
    login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--json").output)
    bad = tmp_path / "identity.json"
    bad.write_text("{not json")
    result = cli("case", "identity", "set", case["id"], "--from", str(bad))
    assert result.exit_code == 1 and "is not JSON" in result.output and "Traceback" not in result.output


def test_password_changes_your_own_password_and_keeps_you_logged_in(cli, live_api):  # noqa: F811
    staff = login_as(cli, live_api, "examiner")
    new = "a-new-password-" + staff.password[:6]
    wrong = cli("password", "--current", "wrong-" + staff.password, "--new", new)
    assert wrong.exit_code == 1 and "403" in wrong.output and "current password" in wrong.output
    assert "coc login" not in wrong.output  # you are logged in: only the password you typed was wrong
    changed = cli("password", "--current", staff.password, "--new", new, "--json")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.output) == {"username": staff.user.username, "password_changed": True}
    assert new not in changed.output
    assert cli("whoami").exit_code == 0  # this login goes on with fresh tokens
    assert cli("login", "--username", staff.user.username, "--password", staff.password).exit_code == 1
    assert cli("login", "--username", staff.user.username, "--password", new).exit_code == 0
