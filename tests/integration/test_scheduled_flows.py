"""The scheduled flows run for real against a Prefect server, the test database and SeaweedFS."""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session, select

from core import ledger
from core.settings import reset_settings
from evidence.files import upload_file
from tests.evidence_support import EXAMINER, new_case, new_item


@pytest.fixture
def flow_env(monkeypatch, db_url, tmp_path, object_store, s3_settings, prefect_api):
    """Point the flows (which read settings from the environment, as a worker does) at the test services."""
    env = {"COC_DATABASE_URL": db_url, "COC_DATA_DIR": str(tmp_path), "COC_S3_ENDPOINT": s3_settings.endpoint,
           "COC_S3_ACCESS_KEY": s3_settings.access_key, "COC_S3_SECRET_KEY": s3_settings.secret_key,
           "COC_S3_BUCKET": object_store.bucket, "PREFECT_API_URL": prefect_api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield
    reset_settings()


def test_fixity_flow_reports_counts_and_records_a_summary(flow_env, engine, object_store):
    from flows.fixity import fixity_check

    with Session(engine, expire_on_commit=False) as s:
        case_id = new_case(s)
        item_id = new_item(s, case_id)
        upload_file(s, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"synthetic bytes" * 100),
                    max_bytes=1 << 20)
        s.commit()
    summary = fixity_check()
    assert summary["checked"] == 1 and summary["ok"] == 1 and summary["mismatched"] == 0
    with Session(engine) as s:
        kinds = s.execute(select(ledger.LedgerEntry.kind)).scalars().all()
    assert kinds[-1] == ledger.EventKind.FIXITY_CHECKED


def test_deadline_watch_flow_raises_alerts_once(flow_env, engine):
    from datetime import timedelta

    from core.cases import CaseCreate
    from core.clock import utcnow
    from flows.deadline_watch import deadline_watch
    from policies.cases import open_case

    with Session(engine, expire_on_commit=False) as s:
        open_case(s, actor=EXAMINER, data=CaseCreate(assault_at=utcnow() - timedelta(hours=70)))
        s.commit()
    first = deadline_watch()
    assert first >= 1  # at least the PEP window (72 h) closing soon
    assert deadline_watch() == 0  # never the same alert twice
