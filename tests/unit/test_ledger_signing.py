"""Ed25519 signed tree heads: key file created owner-only, signatures verify with the public key alone."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest

from core.ledger import signing


@pytest.fixture
def key_file(tmp_path):
    previous = signing.set_key_path(tmp_path / "keys" / "ledger.pem")
    yield tmp_path / "keys" / "ledger.pem"
    signing.set_key_path(previous)


def test_key_is_created_once_with_owner_only_permissions(key_file):
    pem = signing.public_key_pem()
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert signing.public_key_pem() == pem
    assert len(signing.fingerprint(pem)) == 64


def test_signed_tree_head_verifies_and_any_change_fails(key_file, tmp_path):
    sth = signing.sign_tree_head(42, bytes(range(32)), datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    pem = signing.public_key_pem()
    assert sth["timestamp"] == "2026-03-01T22:00:00.000000Z"
    assert signing.tree_head_message(42, sth["root_hash"], sth["timestamp"]) == (
        b'{"root_hash":"' + bytes(range(32)).hex().encode() + b'","timestamp":"2026-03-01T22:00:00.000000Z",'
        b'"tree_size":42}')
    assert signing.verify_tree_head(sth, pem)
    for field, value in [("tree_size", 43), ("root_hash", "00" * 32), ("timestamp", "2026-03-01T22:00:01.000000Z"),
                         ("signature", "AAAA"), ("tree_size", "42"), ("root_hash", "zz")]:
        assert not signing.verify_tree_head({**sth, field: value}, pem), field
    signing.set_key_path(tmp_path / "other.pem")
    assert not signing.verify_tree_head(sth, signing.public_key_pem())
    assert not signing.verify_tree_head(sth, b"not a key")
