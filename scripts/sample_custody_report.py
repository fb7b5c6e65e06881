"""Write docs/sample-custody-report.pdf (+ its first page as PNG and its bundle) from SYNTHETIC data.

A throwaway SQLite database and signing key: a kit is collected and sealed by a nurse examiner, released to a
police detective (consent checkpoint), who submits it to a crime-lab analyst. Every step goes through the real
services, and the bundle is exported and verified offline, exactly as `coc audit export` would.

    .venv/bin/python scripts/sample_custody_report.py   # needs pdftoppm (poppler-utils) for the PNG
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from core import migrate  # noqa: E402
from core.actors import Actor, system_actor  # noqa: E402
from core.cases import CaseCreate, Reporting  # noqa: E402
from core.clock import ManualClock, set_clock  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.ledger import signing  # noqa: E402
from evidence import audit, verification  # noqa: E402
from evidence.bootstrap import wire  # noqa: E402
from evidence.custody import (  # noqa: E402
    SealCreate,
    TransferAccept,
    TransferCreate,
    accept_transfer,
    offer_lab_submission,
    offer_release,
    seal_item,
)
from evidence.items import EvidenceItemCreate, ItemKind, collect_item  # noqa: E402
from policies.agencies import AgencyCreate, create_agency  # noqa: E402
from policies.authz import User  # noqa: E402
from policies.cases import open_case  # noqa: E402
from policies.consent import ConsentDecisionCreate, Decision, Method, record_decision  # noqa: E402
from policies.handoffs import ConsentScope  # noqa: E402

NURSE = Actor(id="U0000000000000E01", role="examiner")
DETECTIVE = Actor(id="U00000000000000P1", role="law_enforcement")
ANALYST = Actor(id="U00000000000000X1", role="lab")
AUDITOR = Actor(id="U00000000000000A1", role="auditor")


def _staff(session: Session, actor: Actor, username: str, agency_id: str) -> None:
    session.add(User(id=actor.id, username=username, role=actor.role, subject=actor.id, password_hash=None,
                     active=True, created_at=datetime(2026, 3, 1, tzinfo=UTC), agency_id=agency_id))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="coc-sample-"))
    url = f"sqlite:///{work / 'sample.db'}"
    migrate.upgrade(url)
    wire()
    signing.set_key_path(work / "ledger.pem")
    clock = ManualClock(datetime(2026, 3, 1, 22, 0, 5, 417000, tzinfo=UTC))
    set_clock(clock)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as s:
        police = create_agency(s, actor=system_actor("sample"), data=AgencyCreate(name="Metro Police", kind="police"))
        lab = create_agency(s, actor=system_actor("sample"), data=AgencyCreate(name="State Crime Laboratory",
                                                                               kind="crime-lab"))
        from policies.agencies import CENTRE_AGENCY_ID

        _staff(s, NURSE, "r.okafor", CENTRE_AGENCY_ID)
        _staff(s, DETECTIVE, "det.garcia", police.id)
        _staff(s, ANALYST, "m.chen", lab.id)
        _staff(s, AUDITOR, "audit.lee", CENTRE_AGENCY_ID)
        case = open_case(s, actor=NURSE, data=CaseCreate(reporting=Reporting.UNRESTRICTED))
        for scope in (ConsentScope.FORENSIC_EXAM, ConsentScope.EVIDENCE_SWABS, ConsentScope.RELEASE_LAW_ENFORCEMENT,
                      ConsentScope.LAB_TESTING):
            record_decision(s, actor=NURSE, case_id=case.id, data=ConsentDecisionCreate(
                scope=scope, decision=Decision.GRANTED, method=Method.WRITTEN, form_ref=f"FORM-{scope}"))
        item = collect_item(s, actor=NURSE, case_id=case.id, data=EvidenceItemCreate(kind=ItemKind.KIT,
                                                                                      description="synthetic kit"))
        clock.advance(timedelta(minutes=12))
        seal_item(s, actor=NURSE, item_id=item.id, data=SealCreate(seal_number="SEAL-2026-0042"))
        t = offer_release(s, actor=NURSE, item_id=item.id, data=TransferCreate(
            to_user=DETECTIVE.id, reason="reported assault: police investigation", condition="sealed, labelled"))
        clock.advance(timedelta(hours=1, minutes=7))
        accept_transfer(s, actor=DETECTIVE, transfer_id=t.id,
                        data=TransferAccept(condition="sealed, labelled", seal_intact=True))
        clock.advance(timedelta(days=1, hours=2))
        t = offer_lab_submission(s, actor=DETECTIVE, item_id=item.id, data=TransferCreate(
            to_user=ANALYST.id, reason="DNA analysis requested", condition="sealed"))
        clock.advance(timedelta(hours=3, minutes=41))
        accept_transfer(s, actor=ANALYST, transfer_id=t.id, data=TransferAccept(condition="sealed", seal_intact=True))
        s.commit()
        outcome = verification.verify_and_record(s, actor=AUDITOR, trigger="export")
        bundle = audit.export_bundle(s, item_id=item.id, verification=verification.statement(outcome.record))
        s.commit()
    report = audit.verify_bundle(bundle, signing.public_key_pem())
    assert report.ok and not report.warnings, (report.errors, report.warnings)
    docs = ROOT / "docs"
    (docs / "sample-custody-bundle.json").write_text(json.dumps(bundle, indent=1))
    (docs / "sample-public.pem").write_bytes(signing.public_key_pem())
    pdf = docs / "sample-custody-report.pdf"
    pdf.write_bytes(audit.render_custody_pdf(bundle))
    subprocess.run(["pdftoppm", "-r", "80", "-png", "-singlefile", "-f", "1", "-l", "1", str(pdf),
                    str(docs / "sample-custody-report-page1")], check=True)
    print(f"wrote {pdf} (+ page 1 PNG, bundle, public key); {report.complete}")


if __name__ == "__main__":
    main()
