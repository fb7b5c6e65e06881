"""The S3 store (SeaweedFS) SIGKILLed in the middle of a large streamed upload through an API on uvicorn: the
client gets an error answer naming the store, the file row is `failed`, no ledger entry or custody event was
written; once the store is back the sweep leaves nothing unexplained, a retry of the same upload succeeds and
fixity is clean."""

from __future__ import annotations

import hashlib
import os
import secrets

import httpx
from sqlalchemy import select
from sqlmodel import Session

from api.stack.seaweed import start_seaweed
from evidence.files import EvidenceFile
from evidence.storage import MinioObjectStore
from evidence.upload_sweep import sweep_interrupted_uploads
from tests.faults.checks import assert_consistent
from tests.faults.procs import MIB, ApiProcess, staff, stream_upload
from tests.fixtures.stack import free_ports

SIZE_MIB = 96  # twelve 8 MiB parts: a multipart upload, well under way when the store dies
KILL_AT_MIB = 40
SCOPES = ("forensic-exam", "evidence-swabs")


def test_the_store_killed_mid_upload_fails_the_file_and_a_retry_after_restart_succeeds(db_url, engine, tmp_path):
    keys = ("coc" + secrets.token_hex(6), secrets.token_urlsafe(24))
    s3_port = free_ports(1)[0]
    seaweed = start_seaweed(tmp_path / "s3", access_key=keys[0], secret_key=keys[1], s3_port=s3_port)
    bucket = f"coc-fault-{secrets.token_hex(4)}"
    store = MinioObjectStore(seaweed.endpoint, *keys, bucket)
    store.ensure_bucket()
    api = ApiProcess(tmp_path / "data", db_url, s3_endpoint=seaweed.endpoint, s3_bucket=bucket, s3_keys=keys).start()
    try:
        examiner = staff(engine, api.settings(), "examiner")
        case_id = httpx.post(f"{api.url}/cases", json={}, headers=examiner, timeout=30).json()["id"]
        for scope in SCOPES:
            assert httpx.post(f"{api.url}/cases/{case_id}/consents", headers=examiner, timeout=30, json={
                "scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"}).is_success
        item = httpx.post(f"{api.url}/cases/{case_id}/items", json={"kind": "swab", "description": "oral swab"},
                          headers=examiner, timeout=30).json()
        url = f"{api.url}/items/{item['id']}/file"
        chunk = os.urandom(MIB)

        def kill_store(i: int) -> None:
            if i == KILL_AT_MIB:
                seaweed.process.kill()
                seaweed.process.wait(timeout=10)

        answer = stream_upload(url, examiner, chunk, SIZE_MIB, kill_store)
        assert isinstance(answer, httpx.Response), f"no answer at all: {answer}"
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"].endswith("/dependency-unavailable"), answer.text
        assert "object store" in answer.json()["detail"], answer.text
        with Session(engine) as s:
            rows = s.scalars(select(EvidenceFile)).all()
        assert [(r.status, r.sha256) for r in rows] == [("failed", None)], rows

        seaweed = start_seaweed(tmp_path / "s3", access_key=keys[0], secret_key=keys[1], s3_port=s3_port)
        assert [u.key for u in store.incomplete_uploads()] == [rows[0].object_key]  # the dead upload's parts
        with Session(engine) as s:
            sweep = sweep_interrupted_uploads(s, store)
            s.commit()
        assert sweep.aborted_uploads == 1 and sweep.resolved == {}
        retry = stream_upload(url, examiner, chunk, SIZE_MIB)
        assert isinstance(retry, httpx.Response) and retry.status_code == 201, retry
        assert retry.json()["sha256"] == hashlib.sha256(chunk * SIZE_MIB).hexdigest()
        assert_consistent(engine, store)  # fixity: the failed row is "unfinished" (nothing stored), all else ok
    finally:
        api.stop()
        seaweed.stop()
