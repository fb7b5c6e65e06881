"""Free text out of the permanent ledger (issue #14), the rest of it: over the API on SQLite and PostgreSQL, a
marker typed into each of these fields is never in a ledger entry's body nor in clear in any table; the API and
the court report show it (the report proving it against its ledger entry); after a lawful erasure it reads
"[erased]" and the ledger still verifies, deep.

The fields: an integrity incident's reason and finding; the late justification of a sample and of a treatment;
a consent override's legal basis and reference; a lab analysis's report reference; a destruction proposal's
reason and authority reference; a break-glass reason.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import ledger
from core.crypto import ERASED_TEXT, CaseText, is_commitment
from evidence.destruction import DestructionProposal
from evidence.incidents import IntegrityIncident
from policies.authz import BreakGlassGrant
from policies.clinical import CareRecord
from policies.consent import ConsentOverride
from tests.api_helpers import api_harness
from tests.integration.test_free_text import _database_dump, _ledger_bytes, _pdf_text

TAG = secrets.token_hex(4)
# one marker per field (reference codes: letters, digits and . _ : / - only)
M = {name: f"Mk{name}{TAG}" for name in (
    "IncReason", "Finding", "LateItem", "LateCare", "LegalBasis", "OrderRef", "ReportRef", "DestroyReason",
    "AuthorityRef", "BreakGlass")}


def _text(name: str) -> str:
    """The free text typed into a field: its marker inside a sentence (reference codes are the marker alone)."""
    return f"staff wrote {M[name]} here"


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path)
    yield h
    h.close()


def _ok(r, code=200):
    assert r.status_code == code, r.text
    return r.json()


def _iso(dt) -> str:
    return dt.isoformat()


def _assert_nowhere_in_clear(engine) -> None:
    ledger_bytes, dump = _ledger_bytes(engine), _database_dump(engine)
    for name, marker in M.items():
        assert marker.encode() not in ledger_bytes, f"{name} in a ledger entry"
        assert marker.encode() not in dump, f"{name} in clear in the database"


def _journey(h, clock) -> dict:
    """Every field, typed through the API; returns what the reads need."""
    c = h.client
    ex, coord, auditor = h.user("examiner"), h.user("coordinator"), h.user("auditor")
    case_id = _ok(c.post("/cases", json={"reporting": "unrestricted",
                                         "assault_at": _iso(clock.now() - timedelta(hours=100))},
                         headers=ex.headers), 201)["id"]
    lab = h.user("lab", assign_to=case_id)
    for scope in ("forensic-exam", "evidence-swabs", "evidence-toxicology", "medical-care",
                  "release-to-law-enforcement"):
        _ok(c.post(f"/cases/{case_id}/consents", headers=ex.headers,
                   json={"scope": scope, "decision": "granted", "method": "written", "form_ref": f"F-{scope}"}), 201)
    # 3. lab testing rests on a court order: its legal basis and reference typed by staff
    override = _ok(c.post(f"/cases/{case_id}/overrides", headers=ex.headers,
                          json={"scope": "lab-testing", "basis": "court-order", "legal_basis": _text("LegalBasis"),
                                "reference": M["OrderRef"]}), 201)
    assert (override["legal_basis"], override["reference"]) == (_text("LegalBasis"), M["OrderRef"])
    # 2. a sample and a treatment past their windows, each with its justification
    blood = _ok(c.post(f"/cases/{case_id}/items", headers=ex.headers,
                       json={"kind": "toxicology-blood", "description": "blood sample",
                             "late_justification": _text("LateItem")}), 201)
    assert blood["late_justification"] == _text("LateItem")
    care = _ok(c.post(f"/cases/{case_id}/care", headers=ex.headers,
                      json={"care": "hiv-pep", "status": "given", "occurred_at": _iso(clock.now()),
                            "late_justification": _text("LateCare")}), 201)
    assert care["late_justification"] == _text("LateCare")
    # 1. an incident reported by hand on a kit, resolved with a finding
    kit = _ok(c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"}, headers=ex.headers),
              201)["id"]
    incident = _ok(c.post(f"/items/{kit}/integrity-incidents", json={"reason": _text("IncReason"),
                                                                    "source": "seal"}, headers=ex.headers), 201)
    assert incident["reason"] == _text("IncReason")
    resolved = _ok(c.post(f"/items/{kit}/integrity-incidents/{incident['id']}/resolve", headers=auditor.headers,
                          json={"finding": _text("Finding"), "outcome": "false-alarm"}))
    assert resolved["finding"] == _text("Finding") and resolved["reason"] == _text("IncReason")
    # 4. lab submission (checkpoint: the court order stands in) and the analysis's report reference
    sub = _ok(c.post(f"/items/{kit}/lab-submission", headers=ex.headers,
                     json={"to_user": lab.user.username, "reason": "testing", "condition": "sealed"}), 201)
    _ok(c.post(f"/transfers/{sub['id']}/accept", json={"condition": "sealed", "expect_purpose": "lab"},
               headers=lab.headers))
    analysis = _ok(c.post(f"/items/{kit}/analysis", json={"report_ref": M["ReportRef"]}, headers=lab.headers))
    # 5. break-glass by an examiner not assigned to the case
    oncall = h.user("examiner")
    grant = _ok(c.post(f"/cases/{case_id}/break-glass", json={"reason": _text("BreakGlass")},
                       headers=oncall.headers), 201)
    assert grant["reason"] == _text("BreakGlass")
    # 4. destruction of the blood sample, once stored and past its retention: reason and authority reference
    t = _ok(c.post(f"/items/{blood['id']}/transfers", headers=ex.headers,
                   json={"to_user": lab.id, "reason": "to the store", "condition": "sealed"}), 201)
    _ok(c.post(f"/transfers/{t['id']}/accept", json={"condition": "sealed"}, headers=lab.headers))
    _ok(c.post(f"/items/{blood['id']}/check-in", json={"location": "VAULT-1"}, headers=lab.headers))
    clock.advance(timedelta(days=60 * 366))
    proposal = _ok(c.post(f"/items/{blood['id']}/destroy", headers=lab.headers,
                          json={"reason": _text("DestroyReason"), "authority_ref": M["AuthorityRef"]}), 201)
    assert (proposal["reason"], proposal["authority_ref"]) == (_text("DestroyReason"), M["AuthorityRef"])
    destroyed = _ok(c.post(f"/items/{blood['id']}/destruction/approve", headers=coord.headers))
    return {"case_id": case_id, "kit": kit, "blood": blood["id"], "ex": ex, "lab": lab, "coord": coord,
            "auditor": auditor, "analysis": analysis, "destroyed": destroyed}


def _reads(h, j) -> dict:
    c, case_id = h.client, j["case_id"]
    consents = _ok(c.get(f"/cases/{case_id}/consents", headers=j["ex"].headers))
    return {"override": consents["overrides"][0],
            "item": _ok(c.get(f"/items/{j['blood']}", headers=j["ex"].headers)),
            "care": _ok(c.get(f"/cases/{case_id}/care", headers=j["ex"].headers))[0],
            "incident": _ok(c.get(f"/items/{j['kit']}/integrity-incidents", headers=j["ex"].headers))[0],
            "incidents": _ok(c.get("/integrity-incidents", params={"open_only": "false"},
                                   headers=j["auditor"].headers)),
            "history": _ok(c.get(f"/items/{j['blood']}/custody", headers=j["lab"].headers)),
            "kit_history": _ok(c.get(f"/items/{j['kit']}/custody", headers=j["lab"].headers)),
            "break_glass": _ok(c.get("/audit/break-glass", params={"case_id": case_id},
                                     headers=j["auditor"].headers))[0]}


# ledger field → marker name, for the bundle's texts section
LEDGERED = {("integrity:item:incident", "reason"): "IncReason", ("integrity:item:resolved", "finding"): "Finding",
            ("custody:item:collected", "late_justification"): "LateItem",
            ("exam:care:recorded", "late_justification"): "LateCare",
            ("consent:override:recorded", "legal_basis"): "LegalBasis",
            ("consent:override:recorded", "reference"): "OrderRef",
            ("custody:item:analysed", "report_ref"): "ReportRef",
            ("custody:destruction:proposed", "reason"): "DestroyReason",
            ("custody:destruction:proposed", "authority_ref"): "AuthorityRef",
            ("custody:item:destroyed", "authority_ref"): "AuthorityRef",
            ("access:case:break-glass", "reason"): "BreakGlass"}


def _shown(name: str) -> str:
    return M[name] if name.endswith("Ref") else _text(name)


def test_remaining_free_text_is_sealed_shown_proved_and_erased(harness, clock):
    h, c = harness, harness.client
    j = _journey(h, clock)
    case_id, auditor = j["case_id"], j["auditor"]

    # Nowhere in a ledger body, nowhere in clear in any table; the rows hold commitments.
    _assert_nowhere_in_clear(h.engine)
    with Session(h.engine) as s:
        [ov] = s.execute(sa.select(ConsentOverride).where(ConsentOverride.case_id == case_id)).scalars().all()
        [inc] = s.execute(sa.select(IntegrityIncident).where(IntegrityIncident.case_id == case_id)).scalars().all()
        [care] = s.execute(sa.select(CareRecord).where(CareRecord.case_id == case_id)).scalars().all()
        [prop] = s.execute(sa.select(DestructionProposal)).scalars().all()
        [grant] = s.execute(sa.select(BreakGlassGrant).where(BreakGlassGrant.case_id == case_id)).scalars().all()
        for value in (ov.legal_basis, ov.reference, inc.reason, inc.finding, care.late_justification, prop.reason,
                      prop.authority_ref, grant.reason):
            assert is_commitment(value), value
        purposes = {str(t.purpose) for t in s.execute(sa.select(CaseText).where(CaseText.case_id == case_id))
                    .scalars()}
        assert {"justification", "legal-basis", "reference", "finding", "break-glass", "reason"} <= purposes
        # the checkpoint's decision cites the override's entry, not its legal basis
        allowed = [e for e in s.execute(sa.select(ledger.LedgerEntry).where(
            ledger.LedgerEntry.kind == "checkpoint:handoff:allowed")).scalars() if b"court-order" in bytes(e.body)]
        assert allowed and all(f"override entry {ov.ledger_seq}".encode() in bytes(e.body) for e in allowed)

    # The reads show every text.
    r = _reads(h, j)
    assert (r["override"]["legal_basis"], r["override"]["reference"]) == (_text("LegalBasis"), M["OrderRef"])
    assert r["item"]["late_justification"] == _text("LateItem")
    assert r["care"]["late_justification"] == _text("LateCare")
    assert (r["incident"]["reason"], r["incident"]["finding"]) == (_text("IncReason"), _text("Finding"))
    assert {i["finding"] for i in r["incidents"] if i["case_id"] == case_id} == {_text("Finding")}
    assert _text("IncReason") in [e["reason"] for e in r["kit_history"]]
    assert _text("DestroyReason") in [e["reason"] for e in r["history"] if e["kind"] == "destroyed"]
    assert r["break_glass"]["reason"] == _text("BreakGlass")

    # The bundle's texts section shows each ledgered text, matching its entry; the court report proves it.
    bundle = _ok(c.get("/audit/export", params={"case_id": case_id}, headers=auditor.headers))
    assert not any(m in json.dumps(bundle["entries"]) for m in M.values())
    kinds = {e["seq"]: e["kind"] for e in _ledger_docs(h, case_id)}
    got = {(kinds[t["seq"]], t["field"]): t for t in bundle["texts"]}
    for key, name in LEDGERED.items():
        assert key in got, key
        assert got[key]["text"] == _shown(name) and got[key]["matches"] is True, (key, got[key])
    pdf = _pdf_text(h, auditor, case_id)
    for name in ("LegalBasis", "Finding", "LateItem", "BreakGlass", "DestroyReason"):
        assert M[name] in pdf, name
    assert "MISMATCH" not in pdf
    seq = next(t["seq"] for k, t in got.items() if k == ("custody:item:analysed", "report_ref"))
    assert f"text matches ledger entry {seq}" in pdf

    # Lawful erasure: every one reads "[erased]", the ledger verifies (deep), nothing in clear anywhere.
    first, second = h.user("coordinator"), h.user("coordinator")
    _ok(c.post(f"/cases/{case_id}/erasure", headers=first.headers, json={"basis": "survivor-request"}), 201)
    _ok(c.post(f"/cases/{case_id}/erasure/approve", headers=second.headers))
    r = _reads(h, j)
    assert r["override"]["legal_basis"] == r["override"]["reference"] == ERASED_TEXT
    assert r["item"]["late_justification"] == r["care"]["late_justification"] == ERASED_TEXT
    assert r["incident"]["reason"] == r["incident"]["finding"] == ERASED_TEXT
    assert r["break_glass"]["reason"] == ERASED_TEXT
    assert ERASED_TEXT in [e["reason"] for e in r["history"] if e["kind"] == "destroyed"]
    assert not any(m in json.dumps(r) for m in M.values())
    h.engine.dispose()
    _assert_nowhere_in_clear(h.engine)
    with Session(h.engine) as s:
        report = ledger.verify_ledger(s, deep=True)
        assert report.ok, report
    bundle = _ok(c.get("/audit/export", params={"case_id": case_id}, headers=auditor.headers))
    assert {t["text"] for t in bundle["texts"]} == {ERASED_TEXT}
    assert not any(m in json.dumps(bundle) for m in M.values())


def _ledger_docs(h, case_id) -> list[dict]:
    with Session(h.engine) as s:
        return [{"seq": e.seq, "kind": e.kind} for e in s.execute(
            sa.select(ledger.LedgerEntry).where(ledger.LedgerEntry.case_id == case_id)).scalars()]


def test_rows_written_in_clear_before_still_read(harness, clock):
    """Rows written before this change hold the clear text in the column: reads show it as it is."""
    h, c = harness, harness.client
    ex, auditor = h.user("examiner"), h.user("auditor")
    case_id = _ok(c.post("/cases", json={"reporting": "unrestricted"}, headers=ex.headers), 201)["id"]
    kit = _ok(c.post(f"/cases/{case_id}/items", json={"kind": "kit", "description": "kit"}, headers=ex.headers),
              201)["id"]
    incident = _ok(c.post(f"/items/{kit}/integrity-incidents", json={"reason": "seal torn", "source": "seal"},
                          headers=ex.headers), 201)
    grant = _ok(c.post(f"/cases/{case_id}/break-glass", json={"reason": "night emergency, old row"},
                       headers=h.user("examiner").headers), 201)
    with Session(h.engine) as s:  # as an older release wrote them (integrity_incident and the grant may change)
        s.execute(sa.update(IntegrityIncident).where(IntegrityIncident.id == incident["id"])
                  .values(reason="legacy clear reason"))
        s.execute(sa.update(BreakGlassGrant).where(BreakGlassGrant.id == grant["id"])
                  .values(reason="legacy clear break-glass reason"))
        s.commit()
    assert _ok(c.get(f"/items/{kit}/integrity-incidents", headers=ex.headers))[0]["reason"] == "legacy clear reason"
    shown = _ok(c.get("/audit/break-glass", params={"case_id": case_id}, headers=auditor.headers))
    assert [g["reason"] for g in shown] == ["legacy clear break-glass reason"]
    # `coc admin reencrypt` seals them where the row may change; they read the same after
    r = c.post("/admin/keys/reencrypt", headers=h.user("coordinator").headers)
    assert r.status_code == 200 and r.json()["texts_moved"] >= 1, r.text
    with Session(h.engine) as s:
        assert is_commitment(s.get(BreakGlassGrant, grant["id"]).reason)
    shown = _ok(c.get("/audit/break-glass", params={"case_id": case_id}, headers=auditor.headers))
    assert [g["reason"] for g in shown] == ["legacy clear break-glass reason"]
    assert _ok(c.get(f"/items/{kit}/integrity-incidents", headers=ex.headers))[0]["reason"] == "legacy clear reason"
