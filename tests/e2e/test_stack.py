"""`coc up` end to end: the real console script, real SeaweedFS, Prefect, flow runner and API.

Full starts are expensive (~20 s each), so: the session `stack` serves the read-only checks, and one
test owns a second stack that it stops with SIGTERM and restarts. Fault cases are refused before
anything heavy starts, except the Prefect failure, which happens after SeaweedFS is already running.
"""

from __future__ import annotations

import signal
import socket
import time
import uuid

import httpx
import psutil
import pytest

from api.client import CocClient
from tests.fixtures.stack import CocUp, RunningStack, processes_using

pytestmark = pytest.mark.e2e


def _health(api_url: str) -> dict:
    resp = httpx.get(f"{api_url}/health", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _gone(procs: list[psutil.Process], timeout: float = 30.0) -> list[psutil.Process]:
    """The processes of `procs` still alive (not zombies) after waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    alive = procs
    while time.monotonic() < deadline:
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def test_stack_is_ready_with_object_lock_enforced(stack: RunningStack):
    """/health reports every part ready, Object Lock included; docs, Prefect and login work."""
    body = _health(stack.api_url)
    assert str(body.get("status")).lower() in ("ok", "ready", "pass"), body
    text = str(body).lower()
    assert "object" in text and "lock" in text, f"/health does not report the Object Lock check: {body}"
    assert "encrypted at rest by the store" in text, f"/health does not report the encryption check: {body}"
    assert httpx.get(stack.docs_url, timeout=10).status_code == 200
    assert httpx.get(f"{stack.prefect_api_url}/health", timeout=10).status_code == 200
    assert httpx.get(stack.prefect_ui_url, timeout=10).status_code == 200
    with CocClient(stack.api_url) as client:
        assert client.login(stack.admin_user, stack.admin_password).access_token
    assert stack.cold_start_s > 0
    # The S3 store listens on loopback only.
    for conn in psutil.Process(stack.children["s3"]).net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN:
            assert conn.laddr.ip == "127.0.0.1", conn


def test_scheduled_jobs_get_runs_from_the_prefect_scheduler(stack: RunningStack):
    """deadline-watch, fixity, outbox-drain and ledger-check get scheduled runs (a SQLAlchemy 2.1 pin once broke the
    server's scheduler: "Can't evaluate bulk DML statement", and no scheduled job ever ran)."""
    api = stack.prefect_api_url
    names = {"deadline-watch", "fixity", "outbox-drain", "ledger-check"}
    deadline = time.monotonic() + 90
    missing = names
    while time.monotonic() < deadline:
        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
        ids = {d["name"]: d["id"] for d in deployments if d["name"] in names}
        missing = {n for n in names if not ids.get(n) or not httpx.post(
            f"{api}/flow_runs/filter", json={"deployments": {"id": {"any_": [ids[n]]}}, "limit": 1},
            timeout=10).json()}
        if not missing:
            break
        time.sleep(2)
    log = (stack.data_dir / "prefect" / "prefect-server.log").read_text(errors="replace")
    assert "bulk DML" not in log
    assert not missing, f"no scheduled runs for {sorted(missing)}"


def test_second_up_on_same_data_dir_is_refused(stack: RunningStack):
    """A second `coc up` on a data dir in use exits non-zero at once, saying why; the first keeps running."""
    code, out = CocUp(stack.data_dir).run_to_exit(timeout=60)
    assert code != 0
    assert "already running" in out and str(stack.data_dir) in out, out
    assert _health(stack.api_url)
    assert (stack.data_dir / "stack.json").exists(), "the refused start removed the running stack's state file"


def test_restart_keeps_data_and_sigterm_leaves_no_children(tmp_path):
    """Create a case, SIGTERM (every child gone, exit 0), start again on the same dir: the case is there."""
    data = tmp_path / "data"
    first = CocUp(data).start()
    try:
        running = first.wait_ready()
        assert data.stat().st_mode & 0o077 == 0, "the data dir (secrets, database, evidence) must be owner-only"
        with CocClient(running.api_url) as admin:
            admin.login(running.admin_user, running.admin_password)
            username = f"examiner-{uuid.uuid4().hex[:6]}"
            password = uuid.uuid4().hex + "Aa1!"
            admin.create_user(username=username, password=password, role="examiner")
        with CocClient(running.api_url) as examiner:
            examiner.login(username, password)
            case = examiner.open_case(jurisdiction="default")
        children = first.descendants()
        assert {p.pid for p in children} >= set(running.children.values())
    finally:
        code = first.terminate()
    assert code == 0, first.output()[-3000:]
    assert "stopped" in first.output()
    assert not _gone(children), "children outlived coc up"
    assert not processes_using(data), "processes still use the data dir after SIGTERM"

    second = CocUp(data, ports=first.ports).start()
    try:
        again = second.wait_ready()
        assert again.admin_password == running.admin_password
        with CocClient(again.api_url) as examiner:
            examiner.login(username, password)
            assert examiner.get_case(case["id"])["id"] == case["id"]
    finally:
        assert second.terminate() == 0
    assert not processes_using(data)


def test_port_taken_is_named_and_nothing_is_left(tmp_path):
    """A port in use → one message naming the port and its setting, non-zero exit, no children."""
    data = tmp_path / "data"
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        up = CocUp(data)
        up.env["COC_PREFECT_PORT"] = str(taken)
        code, out = up.run_to_exit()
    assert code != 0
    assert f"port {taken}" in out and "COC_PREFECT_PORT" in out, out
    assert "Traceback" not in out
    assert not processes_using(data)


def test_prefect_failing_to_start_stops_the_s3_store(tmp_path):
    """Prefect cannot start (its directory is a file) after SeaweedFS started: message, exit 1, no orphans."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "prefect").write_text("not a directory")
    code, out = CocUp(data).run_to_exit(timeout=180)
    assert code != 0
    assert "Prefect server failed to start" in out, out
    assert "Traceback" not in out
    assert not processes_using(data), "the S3 store outlived a failed start"


def test_unwritable_data_dir_is_named(tmp_path):
    """A data dir that cannot be written (sysfs refuses even root) → one clear line, non-zero exit."""
    target = f"/sys/coc-test-{uuid.uuid4().hex[:8]}"
    up = CocUp(tmp_path / "unused")
    up.env["COC_DATA_DIR"] = target
    code, out = up.run_to_exit(timeout=60)
    assert code != 0
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and target in lines[0] and "not writable" in lines[0], out


@pytest.mark.parametrize(("name", "value"), [("COC_API_PORT", "eighty"), ("COC_IDENTITY_KEY", "short")])
def test_malformed_setting_is_one_line_naming_it(tmp_path, name, value):
    """A malformed setting → exactly one line, naming the setting, non-zero exit."""
    up = CocUp(tmp_path / "data")
    up.env[name] = value
    code, out = up.run_to_exit(timeout=60)
    assert code != 0
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0], out


def test_ctrl_c_during_start_up_stops_what_started(tmp_path):
    """SIGINT while the Prefect server is still starting (in parallel with the API): nothing is left behind."""
    data = tmp_path / "data"
    up = CocUp(data).start()
    assert up.process is not None
    try:
        deadline = time.monotonic() + 180
        while "starting the API" not in up.output():
            assert up.process.poll() is None, up.output()
            assert time.monotonic() < deadline, f"coc up never reached the API step:\n{up.output()}"
            time.sleep(0.1)
        up.process.send_signal(signal.SIGINT)
        code = up.process.wait(timeout=120)
    finally:
        up.terminate()
    assert code == 0, up.output()
    assert "stopped." in up.output()
    assert not processes_using(data), "a part started before Ctrl-C outlived coc up"
