"""The composition root (evidence.bootstrap) in a separate process started the way `coc up` starts the flow
runner: same interpreter, the supervisor's child environment, the runner's own start-up (flows.serve).

A withdrawal recorded there cancels the open release offer (the hook is wired by the runner's start-up, not by
importing some module); a process that skipped the composition root cannot record the withdrawal at all
(fail closed), so the offer is never silently left open.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlmodel import Session

from api.stack.supervisor import child_env
from evidence.custody import TransferCreate, TransferStatus, get_transfer, offer_release
from evidence.items import get_custody
from policies.consent import consent_state
from policies.handoffs import ConsentScope
from tests.api_helpers import test_settings
from tests.evidence_support import EXAMINER, OFFICER, new_case, new_item

ROOT = Path(__file__).resolve().parents[2]

WITHDRAW = """
import sys
{prepare}
from core.actors import Actor
from core.db import get_engine, transaction
from core.settings import get_settings
from policies.consent import ConsentDecisionCreate, Decision, Method, record_decision

examiner = Actor(id=sys.argv[2], role="examiner")
with transaction(get_engine(get_settings().database_url)) as session:
    record_decision(session, actor=examiner, case_id=sys.argv[1], data=ConsentDecisionCreate(
        scope="release-to-law-enforcement", decision=Decision.WITHDRAWN, method=Method.WRITTEN, form_ref="FORM-W"))
print("withdrawn")
"""


def _open_offer(session: Session) -> tuple[str, str, str]:
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    transfer = offer_release(session, actor=EXAMINER, item_id=item_id,
                            data=TransferCreate(to_user=OFFICER.id, reason="report", condition="sealed"))
    session.commit()
    return case_id, item_id, transfer.id


def _run_child(db_url: str, tmp_path: Path, case_id: str, prepare: str) -> subprocess.CompletedProcess[str]:
    settings = test_settings(db_url, tmp_path / "stack")
    return subprocess.run([sys.executable, "-c", WITHDRAW.format(prepare=prepare), case_id, EXAMINER.id],
                          env=child_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)


def test_withdrawal_in_the_flow_runner_process_cancels_the_open_offer(db_url, session, tmp_path):
    case_id, item_id, transfer_id = _open_offer(session)
    done = _run_child(db_url, tmp_path, case_id, "from flows.serve import prepare_process\nprepare_process()")
    assert done.returncode == 0, done.stderr[-2000:]
    session.expire_all()
    assert str(get_transfer(session, transfer_id).status) == TransferStatus.CANCELLED
    assert get_custody(session, item_id).pending_transfer_id is None
    assert str(consent_state(session, case_id)[ConsentScope.RELEASE_LAW_ENFORCEMENT].status) == "withdrawn"


def test_a_process_that_skipped_the_composition_root_cannot_record_a_withdrawal(db_url, session, tmp_path):
    case_id, item_id, transfer_id = _open_offer(session)
    done = _run_child(db_url, tmp_path, case_id, "")
    assert done.returncode != 0
    assert "withdrawal hooks are not wired" in done.stderr
    session.expire_all()
    assert str(get_transfer(session, transfer_id).status) == TransferStatus.OFFERED  # nothing half-done
    assert str(consent_state(session, case_id)[ConsentScope.RELEASE_LAW_ENFORCEMENT].status) == "granted"
