"""The foundation's thin slice through the running `coc up` stack: open a case, upload one digital evidence file
(streamed to S3, SHA-256 recorded), and see the case's pathway flow run in the Prefect server under its opaque id."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid

import httpx

from api.client import CocClient
from tests.fixtures.stack import RunningStack


def _runs_named(prefect_api_url: str, name: str) -> list[dict]:
    resp = httpx.post(f"{prefect_api_url}/flow_runs/filter", timeout=10,
                      json={"flow_runs": {"name": {"any_": [name]}}, "limit": 10})
    resp.raise_for_status()
    return resp.json()


def test_case_file_and_pathway_run_through_the_running_stack(stack: RunningStack):
    with CocClient(stack.api_url) as admin:
        admin.login(stack.admin_user, stack.admin_password)
        username, password = f"examiner-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex + "Aa1!"
        admin.create_user(username=username, password=password, role="examiner")
    with CocClient(stack.api_url) as examiner:
        examiner.login(username, password)
        case_id = examiner.open_case(jurisdiction="default", reporting="restricted")["id"]
        for scope in ("forensic-exam", "medical-care"):
            examiner.record_consent(case_id, scope=scope, decision="granted", method="verbal")
        item_id = examiner.add_item(case_id, kind="document", description="scanned intake form (synthetic)")["id"]
        data = os.urandom(5 * 1024 * 1024 + 3)  # synthetic bytes, several upload parts
        stored = examiner.upload_file(item_id, io.BytesIO(data), "intake-form.pdf", size=len(data))
        assert stored["sha256"] == hashlib.sha256(data).hexdigest()
        assert stored["size"] == len(data) and stored["status"] == "stored" and stored["version_id"]

    # The API's after-commit outbox drain starts the case's pathway run, named by the opaque case id only.
    deadline, runs = time.monotonic() + 90, []
    while time.monotonic() < deadline and not runs:
        runs = _runs_named(stack.prefect_api_url, case_id)
        time.sleep(0.5)
    assert runs, f"no flow run named {case_id} appeared in Prefect"
    assert runs[0]["parameters"] == {"case_id": case_id}
