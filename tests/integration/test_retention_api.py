"""Extension of preservation and the purge sweep through the served API, the client and `coc retention`, on both
databases with the real SeaweedFS: 200s change the lock, refusals are clear 4xx with nothing recorded."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from api.client import CocClient
from core.clock import as_utc
from core.ledger import EventKind, LedgerEntry, iso
from evidence.files import EvidenceFile
from evidence.items import EvidenceItem
from tests.evidence_support import destroy_by_two, past_retention
from tests.unit.test_cli import cli, login_as  # noqa: F401 - the fixture
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


def _extensions(engine) -> int:
    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.kind == EventKind.PRESERVATION_EXTENDED)).scalar_one()


def test_extend_and_purge_through_cli_and_client(cli, live_api: LiveApi, s3_settings, clock):  # noqa: F811
    h = live_api.harness
    store = s3_settings.store(h.settings.s3_bucket)
    examiner = login_as(cli, live_api, "examiner")
    case = json.loads(cli("case", "open", "--reporting", "unrestricted", "--json").output)
    added = cli("evidence", "add", case["id"], "--kind", "document", "--description", "consent form",
                "--offence-class", "sexual-assault", "--json")
    assert added.exit_code == 0, added.output
    item = json.loads(added.output)
    assert item["offence_class"] == "sexual-assault"
    with CocClient(live_api.url, token=examiner.token) as api:
        api.upload_file(item["id"], io.BytesIO(b"scanned form"), size=12)
        refused = cli("retention", "extend", item["id"], "--until", "2090-01-01T00:00:00Z")
        assert refused.exit_code == 1 and "403" in refused.output  # examiners do not extend preservation
    with Session(h.engine) as s:
        [row] = s.execute(select(EvidenceFile).where(EvidenceFile.item_id == item["id"])).scalars().all()
    current = as_utc(row.retain_until)

    login_as(cli, live_api, "coordinator")
    shorter = cli("retention", "extend", item["id"], "--until", iso(current - timedelta(days=1)), "--json")
    assert shorter.exit_code == 1 and "422" in shorter.output and "can only be extended" in shorter.output
    assert _extensions(h.engine) == 0
    until = (current + timedelta(days=3650)).replace(microsecond=0)
    ok = cli("retention", "extend", item["id"], "--until", iso(until), "--requested-by", "survivor", "--json")
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert out["files_extended"] == [row.id] and out["retention_until"].startswith(until.date().isoformat())
    assert as_utc(store.stat(row.object_key, row.version_id).retain_until) == until
    later = until + timedelta(days=10)
    rows = json.loads(cli("retention", "extend-case", case["id"], "--until", iso(later), "--json").output)
    assert [r["item_id"] for r in rows] == [item["id"]]
    assert as_utc(store.stat(row.object_key, row.version_id).retain_until) == later
    assert _extensions(h.engine) == 2

    # destroyed: 409, nothing recorded; the sweep leaves the still-locked file and says so
    approver = h.user("lab")  # two people: the examiner (custodian) proposes, a lab user approves
    with Session(h.engine) as s:
        clock.advance(past_retention(s.get(EvidenceItem, item["id"]).retention_until))
        destroy_by_two(s, item["id"], proposer=examiner.actor, approver=approver.actor, authority_ref="ORDER-3")
        s.commit()
    gone = cli("retention", "extend", item["id"], "--until", iso(clock.now() + timedelta(days=365)))
    assert gone.exit_code == 1 and "409" in gone.output and "was destroyed" in gone.output
    assert _extensions(h.engine) == 2
    swept = cli("retention", "purge", "--json")
    assert swept.exit_code == 0, swept.output
    result = json.loads(swept.output)
    assert result["deleted"] == [] and [r["file_id"] for r in result["still_locked"]] == [row.id]
    assert "still locked: file" in cli("retention", "purge").output
