"""An API process SIGKILLed in the middle of a burst of consent decisions and item collections (uvicorn in a
subprocess, SQLite and PostgreSQL): the clients in flight get no answer; after a restart every acknowledged
request has its effect exactly once, a request cut short at most once and whole, and the ledger verifies."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlmodel import Session

from core.clock import as_utc
from evidence.files import EvidenceFile
from evidence.upload_sweep import STALE_AFTER, sweep_interrupted_uploads
from tests.faults.checks import assert_consistent
from tests.faults.procs import (
    MIB,
    ApiProcess,
    Outcome,
    burst,
    consent_or_item,
    decision,
    mixed_tags,
    open_case_for_burst,
    staff,
    stream_upload,
)

MINUTE = timedelta(minutes=1)


def test_an_api_killed_mid_burst_leaves_every_decision_whole_and_once(db_url, engine, tmp_path):
    api = ApiProcess(tmp_path / "data", db_url).start()
    try:
        examiner = staff(engine, api.settings(), "examiner")
        case_id = open_case_for_burst(api.url, examiner)
        url = f"{api.url}/cases/{case_id}/consents"
        outcomes = burst(consent_or_item(api.url, case_id, examiner), mixed_tags("KILL", 40), during=api.kill,
                         after=6)
        statuses = [o.status for o in outcomes]
        assert 201 in statuses and None in statuses, statuses  # some answered, some were cut short
        assert not [s for s in statuses if s not in (201, None)], statuses

        api.start()
        assert_consistent(engine, consents=outcomes)
        again = httpx.post(url, json=decision("F-KILL-AFTER"), headers=examiner, timeout=30)
        assert again.status_code == 201, again.text
        assert_consistent(engine, consents=[*outcomes, Outcome("F-KILL-AFTER", 201, again.json())])
    finally:
        api.stop()


def test_an_api_killed_mid_upload_leaves_a_pending_row_the_sweep_resolves(db_url, engine, tmp_path, s3_settings,
                                                                          object_store):
    """The API dies while it streams a 64 MiB upload to the store: no answer, a `pending` row and multipart
    parts; the sweep (once the row is stale) aborts the parts and fails the row; a retry is stored; fixity clean."""
    api = ApiProcess(tmp_path / "data", db_url, s3_endpoint=s3_settings.endpoint, s3_bucket=object_store.bucket,
                     s3_keys=(s3_settings.access_key, s3_settings.secret_key)).start()
    try:
        examiner = staff(engine, api.settings(), "examiner")
        case_id = open_case_for_burst(api.url, examiner)
        item = httpx.post(f"{api.url}/cases/{case_id}/items", json={"kind": "swab", "description": "swab"},
                          headers=examiner, timeout=30).json()
        url, chunk = f"{api.url}/items/{item['id']}/file", os.urandom(MIB)
        answer = stream_upload(url, examiner, chunk, 64, lambda i: api.kill() if i == 40 else None)
        assert isinstance(answer, str), f"an answer came back from a killed API: {answer.text}\n{api.log()[-2000:]}"
        with Session(engine) as s:
            [row] = s.scalars(select(EvidenceFile)).all()
        assert row.status == "pending" and [u.key for u in object_store.incomplete_uploads()] == [row.object_key]

        api.start()
        with Session(engine) as s:
            sweep = sweep_interrupted_uploads(s, object_store, now=as_utc(row.started_at) + STALE_AFTER + MINUTE)
            s.commit()
        assert (sweep.aborted_uploads, sweep.resolved) == (1, {row.id: "interrupted"})
        retry = stream_upload(url, examiner, chunk, 64)
        assert not isinstance(retry, str) and retry.status_code == 201, retry
        assert_consistent(engine, object_store)
    finally:
        api.stop()
