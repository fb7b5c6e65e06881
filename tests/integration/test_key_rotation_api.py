"""Centre-key rotation and re-encryption of legacy values through the API (SQLite and PostgreSQL): a case written
under key A is read after rotating to B with A retired, and after `POST /admin/keys/rotate` with A removed."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session

from core import crypto
from core.cases import CaseIdentity
from core.crypto import CaseKey
from tests.api_helpers import api_harness

A, B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _as(h, staff) -> dict[str, str]:
    """`staff`'s headers for app `h` (each app has its own token issuer)."""
    return {"Authorization": f"Bearer {h.token_for(staff.user)}"}


@pytest.fixture
def apps(db_url, tmp_path, clock):
    made = []

    def make(current: str, retired: str | None = None):
        h = api_harness(db_url, tmp_path / f"data{len(made)}", identity_key=current,
                        **({"identity_keys_retired": retired} if retired else {}))
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def test_rotation_with_a_retired_key_then_without_it(apps):
    under_a = apps(A)
    examiner = under_a.user("examiner")
    case_id = under_a.client.post("/cases", json={}, headers=examiner.headers).json()["id"]
    assert under_a.client.put(f"/cases/{case_id}/identity", headers=examiner.headers,
                              json={"full_name": "Rotation Person"}).status_code == 204

    b_only = apps(B)
    r = b_only.client.get(f"/cases/{case_id}/identity", headers=_as(b_only, examiner))
    assert r.status_code == 500 and "misconfigured" in r.json()["detail"]  # A was dropped before the rewrap

    b_with_a = apps(B, f"{A}")
    headers = _as(b_with_a, examiner)
    assert b_with_a.client.get(f"/cases/{case_id}/identity", headers=headers).json()["full_name"] == "Rotation Person"
    assert b_with_a.client.post("/admin/keys/rotate", headers=headers).status_code == 403  # examiners may not
    admin = b_with_a.user("coordinator")
    report = b_with_a.client.post("/admin/keys/rotate", headers=admin.headers).json()
    assert (report["rewrapped"], report["already_current"], report["erased"], report["total"]) == (1, 0, 0, 1)
    with Session(b_with_a.engine) as s:
        assert s.get(CaseKey, case_id).key_id == crypto.Keyring.from_secrets(B).current.key_id

    r = b_only.client.get(f"/cases/{case_id}/identity", headers=_as(b_only, examiner))
    assert r.status_code == 200 and r.json()["full_name"] == "Rotation Person"


def test_legacy_identity_read_then_reencrypted(apps, clock):
    h = apps(A)
    examiner = h.user("examiner")
    case_id = h.client.post("/cases", json={}, headers=examiner.headers).json()["id"]
    with Session(h.engine) as s:  # as the code before 0015 stored it
        s.add(CaseIdentity(case_id=case_id, stored_at=clock.now(), ciphertext=crypto.encrypt_text(
            json.dumps({"full_name": "Legacy Person", "date_of_birth": None, "contact": None}), key=A)))
        s.commit()
    assert h.client.get(f"/cases/{case_id}/identity", headers=examiner.headers).json()["full_name"] == "Legacy Person"
    admin = h.user("coordinator")
    report = h.client.post("/admin/keys/reencrypt", headers=admin.headers).json()
    assert report["rewritten"] == 1 and report["cases"] == 1
    with Session(h.engine) as s:
        assert crypto.is_sealed(s.get(CaseIdentity, case_id).ciphertext)
    assert h.client.get(f"/cases/{case_id}/identity", headers=examiner.headers).json()["full_name"] == "Legacy Person"
    assert h.client.post("/admin/keys/reencrypt", headers=admin.headers).json()["rewritten"] == 0
