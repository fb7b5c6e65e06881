"""Lawful erasure of a case's personal data (two people; crypto-shredding) and centre-key administration
(rotation: rewrap every case key; re-encryption of legacy values)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CommitRoute, SessionDep, SettingsDep, require
from core import crypto
from core.actors import Actor
from evidence import erasure
from evidence.erasure import ErasureProposal, ErasurePublic, ErasureState
from evidence.texts_move import move_clear_texts
from policies.permissions import Permission as P
from policies.reencrypt import ReencryptReport, reencrypt_legacy

router = APIRouter(tags=["erasure"], route_class=CommitRoute)


@router.post("/cases/{case_id}/erasure", response_model=ErasurePublic, status_code=201)
def propose(case_id: str, body: ErasureProposal, session: SessionDep,
            actor: Actor = require(P.ERASURE_PROPOSE)) -> ErasurePublic:
    """Propose the lawful erasure of the case's personal data, with its legal basis (a second person approves)."""
    row = erasure.propose_erasure(session, actor=actor, case_id=case_id, data=body)
    return erasure.to_public(session, row)


@router.post("/cases/{case_id}/erasure/approve", response_model=ErasurePublic)
def approve(case_id: str, session: SessionDep, settings: SettingsDep,
            actor: Actor = require(P.ERASURE_APPROVE)) -> ErasurePublic:
    """Approve another person's proposal: the case key is destroyed; its personal data can never be read again."""
    row = erasure.approve_erasure(session, actor=actor, case_id=case_id,
                                  keyring=crypto.keyring_from_settings(settings))
    return erasure.to_public(session, row)


@router.post("/cases/{case_id}/erasure/withdraw", response_model=ErasurePublic)
def withdraw(case_id: str, session: SessionDep, actor: Actor = require(P.ERASURE_PROPOSE)) -> ErasurePublic:
    """Withdraw the case's open erasure proposal (its proposer or another person allowed to propose one); a
    withdrawn proposal can no longer be approved."""
    return erasure.to_public(session, erasure.withdraw_erasure(session, actor=actor, case_id=case_id))


@router.get("/cases/{case_id}/erasure", response_model=ErasureState)
def state(case_id: str, session: SessionDep, actor: Actor = require(P.ERASURE_PROPOSE)) -> ErasureState:
    """Whether (and when) the case was erased, and its erasure requests."""
    return erasure.erasure_state(session, case_id)


@router.post("/admin/keys/rotate", response_model=crypto.RewrapReport)
def rotate(session: SessionDep, settings: SettingsDep, actor: Actor = require(P.KEY_ADMIN)) -> crypto.RewrapReport:
    """Rewrap every case key under the current centre key (COC_IDENTITY_KEY); retired keys may then go."""
    return crypto.rewrap_case_keys(session, actor=actor, keyring=crypto.keyring_from_settings(settings))


@router.post("/admin/keys/reencrypt", response_model=ReencryptReport)
def reencrypt(session: SessionDep, settings: SettingsDep, actor: Actor = require(P.KEY_ADMIN)) -> ReencryptReport:
    """Rewrite values stored before per-case keys (Fernet) row-bound under their case keys, and move free text
    stored in clear before revision 0023 into case_text where the row may change."""
    keyring = crypto.keyring_from_settings(settings)
    report = reencrypt_legacy(session, actor=actor, keyring=keyring)
    texts = move_clear_texts(session, actor=actor, keyring=keyring)
    return report.model_copy(update={"texts_moved": texts.texts_moved, "texts_left": texts.texts_left,
                                     "skipped_erased": report.skipped_erased + texts.skipped_erased})
