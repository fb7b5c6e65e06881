"""The end-to-end journey against the production layout (tests/fixtures/topology.py): PostgreSQL with the
restricted app role, SeaweedFS, the Prefect server on PostgreSQL, two Prefect workers on a process work pool
running prefect.yaml's deployments, and two API processes in production mode, every request sent to the two
APIs in turn. Tokens come from an identity provider (production mode has no local login)."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.client import CocClient
from core.db import normalize_url
from core.ledger.bundle import verify_bundle
from tests.fixtures.topology import Topology

pytestmark = pytest.mark.e2e


class Person:
    """One staff member whose requests go to the API processes in turn (a round-robin proxy in front)."""

    def __init__(self, topo: Topology, subject: str, served: Counter) -> None:
        token = topo.token_for(subject)
        self.clients = [CocClient(url, token) for url in topo.api_urls]
        self._next = itertools.cycle(range(len(self.clients)))
        self.served = served

    def __getattr__(self, name: str) -> Any:
        i = next(self._next)
        self.served[i] += 1
        return getattr(self.clients[i], name)

    def close(self) -> None:
        """Close every connection pool."""
        for c in self.clients:
            c.close()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")


def _prefect(topo: Topology, path: str, body: dict) -> Any:
    resp = httpx.post(f"{topo.prefect_api_url}{path}", json=body, headers=topo.prefect_headers(), timeout=20)
    resp.raise_for_status()
    return resp.json()


def test_journey_across_two_apis_and_two_workers(topology: Topology, tmp_path) -> None:
    topo = topology
    assert set(topo.parts) == set(topo.plan())  # postgres, seaweedfs, prefect-server, worker-1/2, api-1/2
    assert all(p.alive() for p in topo.parts.values())
    served: Counter = Counter()
    admin = Person(topo, topo.admin_subject(), served)
    tag = os.urandom(3).hex()
    police = admin.create_agency(f"City Police {tag}", "police")
    users = {}
    for name, role, agency in (("examiner", "examiner", None), ("officer", "law_enforcement", police["id"]),
                               ("auditor", "auditor", None)):
        fields = {"username": f"{name}-{tag}", "role": role, "subject": f"idp|{name}-{tag}"}
        if agency:
            fields["agency"] = agency
        users[name] = admin.create_user(**fields)
    examiner, officer, auditor = (Person(topo, f"idp|{n}-{tag}", served) for n in ("examiner", "officer", "auditor"))
    try:
        # -- examiner: case, consents, a collected kit, an uploaded file --------------------------------------
        case_id = examiner.open_case(reporting="unrestricted", age_band="adult")["id"]
        admin.assign(case_id, users["officer"]["id"])
        for scope in ("medical-care", "forensic-exam", "evidence-swabs"):
            examiner.record_consent(case_id, scope=scope, decision="granted", method="verbal")
        kit = examiner.add_item(case_id, kind="kit", description="sexual assault kit")["id"]
        doc = examiner.add_item(case_id, kind="document", description="scanned intake form (synthetic)")["id"]
        data = os.urandom(5 * 1024 * 1024 + 11)  # several upload parts
        stored = examiner.upload_file(doc, io.BytesIO(data), "intake.pdf", size=len(data))
        assert stored["sha256"] == hashlib.sha256(data).hexdigest() and stored["status"] == "stored"
        back = io.BytesIO()
        examiner.download_file(doc, back)  # the other API process reads it back
        assert back.getvalue() == data

        # -- the release consent wakes the pathway on a worker, which offers the kit to the assigned officer ------
        examiner.record_consent(case_id, scope="release-to-law-enforcement", decision="granted", method="written",
                                form_ref="FORM-REL-1")
        offer = _wait(lambda: next((o for o in officer.inbox() if o.get("item_id") == kit), None), 240,
                      "the pathway (on a worker) to offer the kit to the officer")
        accepted = officer.accept_transfer(offer["transfer_id"], condition="sealed, intact")
        assert accepted["item"]["custodian"] == users["officer"]["id"]
        kinds = [e["kind"] for e in examiner.custody(kit)]
        assert "transfer-offered" in kinds and accepted["event"]["kind"] == kinds[-1] == "released", kinds

        # -- auditor: the ledger verifies; the case's bundle verifies offline ------------------------------------
        assert auditor.audit_verify()["ok"] is True
        bundle = auditor.export_bundle(case_id=case_id)
        key = auditor.public_key()["public_key_pem"].encode()
        report = verify_bundle(bundle, key)
        assert report.ok, report
    finally:
        for p in (admin, examiner, officer, auditor):
            p.close()
    assert served[0] >= 8 and served[1] >= 8, served  # both API processes served the journey

    # -- the pathway ran on the workers of the process pool ---------------------------------------------------
    runs = _prefect(topo, "/flow_runs/filter", {"flow_runs": {"name": {"any_": [case_id]}}, "limit": 20})
    assert runs and all(r["work_pool_name"] == topo.work_pool for r in runs), runs
    workers = set()
    for run in runs:
        events = _prefect(topo, "/events/filter", {"filter": {
            "event": {"name": ["prefect.worker.submitted-flow-run"]},
            "any_resource": {"id": [f"prefect.flow-run.{run['id']}"]}}, "limit": 20})["events"]
        workers |= {e["resource"]["prefect.resource.name"] for e in events}
    assert workers and workers <= {"worker-1", "worker-2"}, workers

    # -- the API and the workers connect as coc_app, which cannot rewrite the ledger or drop it -------------
    for name in ("api-1", "worker-1"):
        assert topo.part(name).env["COC_DATABASE_URL"].startswith("postgresql://coc_app:")  # type: ignore[union-attr]
    app = sa.create_engine(normalize_url(topo.database_url("app")), poolclass=sa.pool.NullPool)
    try:
        for forbidden in ("UPDATE ledger_entry SET kind = kind", "DELETE FROM ledger_entry",
                          "DROP TABLE ledger_entry", "DROP TRIGGER ledger_entry_append_only ON ledger_entry"):
            with app.connect() as c, pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner"):
                c.exec_driver_sql(forbidden)
        with app.connect() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM ledger_entry").scalar() > 0
            assert c.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar() is False
    finally:
        app.dispose()


def test_an_api_process_killed_the_other_serves_and_it_restarts(topology: Topology) -> None:
    """kill_part/restart_part (what the fault tests build on): SIGKILL one API, the other keeps serving; restarted
    on the same port, it serves again with the same settings. PostgreSQL killed and restarted likewise."""
    topo = topology
    token = topo.token_for(topo.admin_subject())
    old_pid = topo.part("api-2").pid()  # type: ignore[union-attr]
    topo.kill_part("api-2")
    assert not topo.part("api-2").alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{topo.api_urls[1]}/health", timeout=5)
    with CocClient(topo.api_urls[0], token) as c:
        assert c.me()["username"] == "admin"
    topo.restart_part("api-2")
    assert topo.part("api-2").pid() != old_pid
    with CocClient(topo.api_urls[1], token) as c:
        assert c.me()["username"] == "admin" and c.health()["status"] == "ready"

    # PostgreSQL crashes (SIGKILL of the postmaster) and comes back; the APIs serve again without a restart.
    topo.kill_part("postgres")
    assert not topo.part("postgres").alive()
    topo.restart_part("postgres")
    app = sa.create_engine(normalize_url(topo.database_url("app")), poolclass=sa.pool.NullPool)
    try:
        with app.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == "coc_app"
    finally:
        app.dispose()
    for url in topo.api_urls:
        with CocClient(url, token) as c:
            _wait(lambda c=c: c.health()["status"] == "ready", 120, f"{url} to be ready after the database came back")
            assert c.me()["username"] == "admin"
    print(f"topology timings (s from start): {topo.timings}")
