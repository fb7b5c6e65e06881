"""Quarantine of items with an open integrity incident, on both databases and a real SeaweedFS.

Tampering is simulated as in test_integrity_reads: a substitute version is stored under the file's key (Object
Lock forbids overwriting) and the file's row is pointed at it, so the next read finds a real SHA-256 mismatch.
"""

from __future__ import annotations

import io
import os
import secrets

import pytest
from sqlalchemy import select, text
from sqlmodel import Session

from core import ledger
from evidence.files import EvidenceFile
from evidence.fixity import run_fixity
from evidence.incidents import IntegrityIncident
from policies.deadlines import Alert
from tests.api_helpers import api_harness


@pytest.fixture
def harness(db_url, tmp_path, clock, s3_settings):
    """The app on a fresh database and its own Object-Lock bucket."""
    h = api_harness(db_url, tmp_path, **s3_settings.overrides(), s3_bucket=f"coc-q-{secrets.token_hex(5)}")
    yield h
    h.close()


def _consent(c, headers, case_id, *scopes):
    for scope in scopes:
        r = c.post(f"/cases/{case_id}/consents", headers=headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"})
        assert r.status_code == 201, r.text


def _case_with_item(h, examiner) -> tuple[str, str]:
    c = h.client
    case_id = c.post("/cases", json={"reporting": "unrestricted"}, headers=examiner.headers).json()["id"]
    _consent(c, examiner.headers, case_id, "forensic-exam", "evidence-swabs", "release-to-law-enforcement",
             "lab-testing")
    r = c.post(f"/cases/{case_id}/items", headers=examiner.headers,
               json={"kind": "swab", "description": "oral swab"})
    assert r.status_code == 201, r.text
    return case_id, r.json()["id"]


def _tamper(h, s3_settings, file_id: str) -> None:
    """Store other bytes under the file's key (a new version) and point the row at them."""
    store = s3_settings.store(h.settings.s3_bucket)
    with Session(h.engine) as s:
        row = s.get(EvidenceFile, file_id)
        assert row is not None
        other = store.put_stream(row.object_key, io.BytesIO(b"substitute" * 100), length=1000)
        s.execute(text("UPDATE evidence_file SET version_id = :v WHERE id = :i"),
                  {"v": other.version_id, "i": row.id})
        s.commit()


def _quarantined(r, incident_id: int) -> None:
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert f"quarantined by integrity incident {incident_id}" in detail
    assert "auditor or a coordinator" in detail


def _ledger_kinds(h, item_id: str) -> list[str]:
    with Session(h.engine) as s:
        return list(s.execute(select(ledger.LedgerEntry.kind).where(ledger.LedgerEntry.item_id == item_id)
                              .order_by(ledger.LedgerEntry.seq)).scalars())


def test_mismatch_on_download_quarantines_the_item_until_an_auditor_resolves_it(harness, s3_settings):
    """The hole: after a SHA-256 mismatch the item was still offered to and accepted by an officer."""
    h, c = harness, harness.client
    examiner, lab, officer = h.user("examiner"), h.user("lab"), h.user("law_enforcement")
    auditor, coordinator = h.user("auditor"), h.user("coordinator")
    case_id, item_id = _case_with_item(h, examiner)
    r = c.put(f"/items/{item_id}/file", headers=examiner.headers, content=os.urandom(70_000))
    assert r.status_code == 201, r.text
    file_id = r.json()["id"]
    assert c.post(f"/items/{item_id}/seal", json={"seal_number": "S-1"}, headers=examiner.headers).status_code == 200
    # An offer already open when the incident opens.
    r = c.post(f"/items/{item_id}/release", headers=examiner.headers,
               json={"to_user": officer.id, "reason": "investigation", "condition": "sealed"})
    assert r.status_code == 201, r.text
    open_offer = r.json()["id"]

    _tamper(h, s3_settings, file_id)
    r = c.get(f"/items/{item_id}/file", headers=examiner.headers)  # the read that finds the mismatch
    assert r.status_code != 200 or len(r.content) < 70_000
    r = c.get(f"/items/{item_id}/integrity-incidents", headers=examiner.headers)
    assert r.status_code == 200, r.text
    [incident] = r.json()
    n = incident["id"]
    assert incident["open"] and incident["source"] == "download" and incident["file_id"] == file_id
    assert incident["reason"] == "sha256-mismatch" and incident["ledger_seq"] is not None
    item = c.get(f"/items/{item_id}", headers=examiner.headers).json()
    assert item["quarantined"] is True and item["quarantined_by"] == [n]

    # An alert at once, for the roles that see alerts (auditor: all; examiner: their cases).
    for who in (auditor, examiner, coordinator):
        alerts = [a for a in c.get("/alerts", headers=who.headers).json() if a["clock"] == "integrity-incident"]
        assert [(a["item_id"], a["case_id"]) for a in alerts] == [(item_id, case_id)], who.user.role
        assert f"integrity incident {n}" in alerts[0]["message"]

    # Refused while quarantined: acceptance of the open offer, new offers of every purpose, download.
    _quarantined(c.post(f"/transfers/{open_offer}/accept", json={"condition": "sealed"}, headers=officer.headers), n)
    _quarantined(c.post(f"/items/{item_id}/release", headers=examiner.headers,
                        json={"to_user": officer.id, "reason": "again", "condition": "sealed"}), n)
    _quarantined(c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
                        json={"to_user": lab.id, "reason": "store", "condition": "sealed"}), n)
    _quarantined(c.post(f"/items/{item_id}/lab-submission", headers=examiner.headers,
                        json={"to_user": lab.id, "reason": "testing", "condition": "sealed"}), n)
    _quarantined(c.get(f"/items/{item_id}/file", headers=examiner.headers), n)
    assert c.get(f"/items/{item_id}/custody", headers=examiner.headers).status_code == 200  # reading stays allowed
    item = c.get(f"/items/{item_id}", headers=examiner.headers).json()
    assert item["custodian"] == examiner.id and item["status"] == "held"
    assert ledger.EventKind.RELEASED not in _ledger_kinds(h, item_id)

    # Only an auditor or coordinator resolves, with a finding.
    body = {"finding": "substitute version found; original version verified intact", "outcome": "restored"}
    r = c.post(f"/items/{item_id}/integrity-incidents/{n}/resolve", json=body, headers=examiner.headers)
    assert r.status_code == 403
    r = c.post(f"/items/{item_id}/integrity-incidents/{n}/resolve", json={"outcome": "restored"},
               headers=auditor.headers)
    assert r.status_code == 422  # no finding, no resolution
    r = c.post(f"/items/{item_id}/integrity-incidents/{n}/resolve", json=body, headers=auditor.headers)
    assert r.status_code == 200, r.text
    assert r.json()["open"] is False and r.json()["resolved_by"] == auditor.id and r.json()["outcome"] == "restored"
    assert c.post(f"/items/{item_id}/integrity-incidents/{n}/resolve", json=body,
                  headers=coordinator.headers).status_code == 409  # already resolved
    assert c.get(f"/items/{item_id}", headers=examiner.headers).json()["quarantined"] is False

    # The handoff works again: the open release offer is accepted by the officer.
    r = c.post(f"/transfers/{open_offer}/accept", json={"condition": "sealed"}, headers=officer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["item"]["custodian"] == officer.id and r.json()["item"]["status"] == "released"
    kinds = _ledger_kinds(h, item_id)
    assert kinds.index(ledger.EventKind.INTEGRITY_INCIDENT) < kinds.index(ledger.EventKind.INTEGRITY_RESOLVED) \
        < kinds.index(ledger.EventKind.RELEASED)
    history = [e["kind"] for e in c.get(f"/items/{item_id}/custody", headers=officer.headers).json()]
    assert "integrity-incident" in history and "integrity-resolved" in history

    # The officer stores it; the (still substituted) file is found again by the scheduled fixity pass: a new
    # incident quarantines it, and a check-out or a scan (which would check it out) is refused.
    r = c.post(f"/items/{item_id}/check-in", json={"location": "le-locker-1"}, headers=officer.headers)
    assert r.status_code == 200, r.text
    with Session(h.engine) as s:
        report = run_fixity(s, s3_settings.store(h.settings.s3_bucket), actor=auditor.actor)
        s.commit()
    assert report.mismatched == [file_id]
    [m] = c.get(f"/items/{item_id}", headers=officer.headers).json()["quarantined_by"]
    assert m != n
    _quarantined(c.post(f"/items/{item_id}/check-out", json={"reason": "court"}, headers=officer.headers), m)
    _quarantined(c.post(f"/items/{item_id}/scan", json={}, headers=officer.headers), m)
    r = c.get("/integrity-incidents", headers=coordinator.headers)
    assert r.status_code == 200 and [(i["id"], i["source"]) for i in r.json()] == [(m, "fixity")]
    assert c.get("/integrity-incidents", headers=examiner.headers).status_code == 403
    every = c.get("/integrity-incidents", params={"open_only": "false"}, headers=auditor.headers).json()
    assert [i["id"] for i in every] == [n, m]
    with Session(h.engine) as s:
        assert ledger.verify_chain(s).ok


def test_reported_seal_incident_quarantines_but_check_in_stays_allowed(harness):
    """A broken seal reported by hand: stored yes, checked out / analysed / destroyed no, until resolved."""
    h, c = harness, harness.client
    examiner, lab, officer, coordinator = (h.user("examiner"), h.user("lab"), h.user("law_enforcement"),
                                           h.user("coordinator"))
    _case_id, item_id = _case_with_item(h, examiner)
    t = c.post(f"/items/{item_id}/transfers", headers=examiner.headers,
               json={"to_user": lab.id, "reason": "to store", "condition": "sealed"}).json()
    assert c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=lab.headers).status_code == 200

    report = {"reason": "seal tape cut on receipt", "source": "seal"}
    assert c.post(f"/items/{item_id}/integrity-incidents", json=report,
                  headers=officer.headers).status_code == 404  # not handling it (nor may see it: as if missing)
    assert c.post(f"/items/{item_id}/integrity-incidents", json=report,
                  headers=h.user("lab").headers).status_code == 403  # other lab staff, item not in the store
    assert c.post(f"/items/{item_id}/integrity-incidents", json={**report, "source": "fixity"},
                  headers=lab.headers).status_code == 422  # system sources are not reported by hand
    r = c.post(f"/items/{item_id}/integrity-incidents", json=report, headers=lab.headers)
    assert r.status_code == 201, r.text
    n = r.json()["id"]
    assert r.json()["source"] == "seal" and r.json()["opened_by"] == lab.id and r.json()["open"]
    with Session(h.engine) as s:
        alert = s.execute(select(Alert).where(Alert.dedupe_key == f"integrity-incident:{n}")).scalar_one()
        assert alert.item_id == item_id and alert.clock == "integrity-incident"

    # A new seal would cover the package the incident is about: refused while quarantined.
    _quarantined(c.post(f"/items/{item_id}/seal", json={"seal_number": "S-NEW"}, headers=lab.headers), n)
    r = c.post(f"/items/{item_id}/scan", json={"location": "store-1"}, headers=lab.headers)
    assert r.status_code == 200 and r.json()["event"]["kind"] == "checked-in"  # putting it in the vault: allowed
    assert r.json()["item"]["quarantined"] is True
    _quarantined(c.post(f"/items/{item_id}/check-out", json={"reason": "analysis"}, headers=lab.headers), n)
    _quarantined(c.post(f"/items/{item_id}/scan", json={}, headers=lab.headers), n)
    _quarantined(c.post(f"/items/{item_id}/analysis", json={}, headers=lab.headers), n)
    _quarantined(c.post(f"/items/{item_id}/destroy", json={"reason": "retention over", "authority_ref": "A-1"},
                        headers=lab.headers), n)

    r = c.post(f"/items/{item_id}/integrity-incidents/{n}/resolve", headers=coordinator.headers,
               json={"finding": "tape cut by the courier's box cutter, contents intact", "outcome": "false-alarm"})
    assert r.status_code == 200, r.text
    r = c.post(f"/items/{item_id}/check-out", json={"reason": "analysis"}, headers=lab.headers)
    assert r.status_code == 200, r.text


def test_fixity_opens_one_incident_per_bad_file_and_quarantines(session, engine, clock, object_store):
    """Service level: a fixity mismatch opens an incident (+ alert) once; a later pass does not open another."""
    from core.errors import Conflict
    from evidence.custody import TransferCreate, offer_transfer
    from evidence.files import upload_file
    from evidence.incidents import open_incident_ids
    from evidence.items import ItemKind
    from tests.evidence_support import EXAMINER, LAB, new_case, new_item

    case_id = new_case(session)
    item_id = new_item(session, case_id, ItemKind.DIGITAL_FILE)
    row = upload_file(session, object_store, actor=EXAMINER, item_id=item_id, stream=io.BytesIO(b"x" * 999),
                      max_bytes=1 << 20)
    session.commit()
    other = object_store.put_stream(row.object_key, io.BytesIO(b"y" * 999), length=999)
    session.execute(text("UPDATE evidence_file SET version_id = :v WHERE id = :i"),
                    {"v": other.version_id, "i": row.id})
    session.commit()
    session.expire_all()
    for _ in range(2):
        assert run_fixity(session, object_store, actor=EXAMINER).mismatched == [row.id]
        session.commit()
    with Session(engine) as s:
        incidents = s.execute(select(IntegrityIncident)).scalars().all()
        assert [(i.item_id, i.source, i.file_id) for i in incidents] == [(item_id, "fixity", row.id)]
        assert open_incident_ids(s, item_id) == [incidents[0].id]
        assert len(s.execute(select(Alert).where(Alert.clock == "integrity-incident")).scalars().all()) == 1
    with pytest.raises(Conflict, match=f"quarantined by integrity incident {incidents[0].id}"):
        offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="store", condition="sealed"))
    session.rollback()


def test_pathway_does_not_offer_a_quarantined_item_and_resolution_wakes_it(session, db_url, clock, tmp_path,
                                                                          monkeypatch):
    """The pathway's consented release skips a quarantined item (no crash); resolving enqueues a wake-up."""
    from core import outbox
    from core.actors import Actor
    from core.settings import reset_settings
    from evidence.custody import Transfer
    from evidence.incidents import IncidentReport, IncidentResolve, report_incident, resolve_incident
    from flows.pathway import PassResult, _release_items
    from policies.authz import assign
    from tests.evidence_support import EXAMINER, OFFICER, new_case, new_item

    monkeypatch.setenv("COC_DATABASE_URL", db_url)
    monkeypatch.setenv("COC_DATA_DIR", str(tmp_path))
    reset_settings()
    try:
        case_id = new_case(session)
        item_id = new_item(session, case_id)
        assign(session, actor=EXAMINER, case_id=case_id, user_id=OFFICER.id)
        incident = report_incident(session, actor=EXAMINER, item_id=item_id,
                                   data=IncidentReport(reason="seal number differs from the record", source="seal"))
        session.commit()
        result = PassResult()
        _release_items(case_id, None, result)
        assert result.done == [] and session.execute(select(Transfer)).first() is None
        session.rollback()  # end the read (SQLite: every transaction takes the write lock)

        auditor = Actor(id="U0000000000000A01", role="auditor")
        resolve_incident(session, actor=auditor, item_id=item_id, incident_id=incident.id,
                         data=IncidentResolve(finding="re-sealed after a recording error", outcome="false-alarm"))
        session.commit()
        wakes = session.execute(select(outbox.OutboxMessage).where(outbox.OutboxMessage.case_id == case_id,
                                                                   outbox.OutboxMessage.kind == "wake")).all()
        assert wakes
        session.rollback()
        result = PassResult()
        _release_items(case_id, None, result)
        assert result.done == [f"release:{item_id}"]
        [offer] = session.execute(select(Transfer)).scalars().all()
        assert offer.item_id == item_id and offer.to_user == OFFICER.id and offer.purpose == "release"
    finally:
        reset_settings()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_acceptance_racing_an_incident_waits_for_the_item_lock_and_is_refused(engine, clock):
    """An incident opening (item locked, not yet committed) while the receiver accepts: the acceptance waits
    for the lock, then sees the incident and is refused — never a handoff after an open incident."""
    import threading
    import time

    from core.errors import Conflict
    from evidence.custody import TransferAccept, TransferCreate, accept_transfer, offer_transfer
    from evidence.incidents import IncidentReport, report_incident
    from tests.evidence_support import LAB, LAB2, new_case, new_item

    with Session(engine, expire_on_commit=False) as s:
        case_id = new_case(s, consents=())
        item_id = new_item(s, case_id, actor=LAB)
        offer = offer_transfer(s, actor=LAB, item_id=item_id,
                               data=TransferCreate(to_user=LAB2.id, reason="shelf", condition="sealed"))
        s.commit()
    locked, outcome = threading.Event(), {}

    def accept() -> None:
        locked.wait(10)
        with Session(engine, expire_on_commit=False) as s:
            try:
                accept_transfer(s, actor=LAB2, transfer_id=offer.id, data=TransferAccept(condition="sealed"))
                s.commit()
                outcome["accept"] = "accepted"
            except Conflict as exc:
                s.rollback()
                outcome["accept"] = exc.detail

    racer = threading.Thread(target=accept)
    racer.start()
    with Session(engine, expire_on_commit=False) as s:
        incident = report_incident(s, actor=LAB, item_id=item_id, data=IncidentReport(reason="seal cut"))
        locked.set()
        time.sleep(0.5)  # the acceptance is now waiting on the item's lock
        s.commit()
    racer.join(20)
    assert f"quarantined by integrity incident {incident.id}" in str(outcome.get("accept"))
    with Session(engine) as s:
        kinds = s.execute(select(ledger.LedgerEntry.kind).where(ledger.LedgerEntry.item_id == item_id)).scalars()
        assert ledger.EventKind.TRANSFER_ACCEPTED not in list(kinds)
