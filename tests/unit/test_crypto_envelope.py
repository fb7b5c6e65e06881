"""core.crypto.envelope (pure): row-bound sealing, wrapping under a keyring, legacy detection, commitments;
evidence.erasure.rules (pure): the two-person rule, holds, erased cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from core.crypto import envelope
from core.crypto.envelope import Keyring, aad_for, open_sealed, seal
from core.errors import ConfigError, Conflict, IntegrityViolation, PermissionDenied
from evidence.erasure import rules

A, B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@given(st.text(max_size=200), st.integers(min_value=1, max_value=10**9))
def test_seal_open_round_trip(text, row_id):
    key = envelope.new_data_key()
    token = seal(key, text.encode(), aad=aad_for("exam_record", "narrative_ciphertext", row_id))
    assert envelope.is_sealed(token)
    assert open_sealed(key, token, aad=aad_for("exam_record", "narrative_ciphertext", row_id)).decode() == text


def test_a_value_moved_to_another_row_column_or_key_fails():
    key = envelope.new_data_key()
    token = seal(key, b"narrative", aad=aad_for("exam_record", "narrative_ciphertext", 7))
    for aad in (aad_for("exam_record", "narrative_ciphertext", 8), aad_for("advocacy_record", "notes_ciphertext", 7),
                aad_for("exam_record", "other", 7)):
        with pytest.raises(IntegrityViolation, match="does not belong to this row"):
            open_sealed(key, token, aad=aad)
    with pytest.raises(IntegrityViolation):
        open_sealed(envelope.new_data_key(), token, aad=aad_for("exam_record", "narrative_ciphertext", 7))
    tampered = token[:-1] + bytes([token[-1] ^ 1])
    with pytest.raises(IntegrityViolation):
        open_sealed(key, tampered, aad=aad_for("exam_record", "narrative_ciphertext", 7))


def test_wrapped_keys_unwrap_only_for_their_case_under_their_centre_key():
    ring = Keyring.from_secrets(A)
    data_key = envelope.new_data_key()
    wrapped = envelope.wrap_key(ring.current, "C1", data_key)
    assert envelope.unwrap_key(ring.current, "C1", wrapped) == data_key
    with pytest.raises(IntegrityViolation, match="cannot be unwrapped"):
        envelope.unwrap_key(ring.current, "C2", wrapped)
    with pytest.raises(IntegrityViolation):
        envelope.unwrap_key(Keyring.from_secrets(B).current, "C1", wrapped)


def test_keyring_current_and_retired_keys():
    old, new = Keyring.from_secrets(A), Keyring.from_secrets(B, [A, B])
    assert new.current.key_id != old.current.key_id
    assert [k.key_id for k in new.retired] == [old.current.key_id]  # the current key is not also retired
    assert new.get(old.current.key_id).kek == old.current.kek
    with pytest.raises(ConfigError, match="COC_IDENTITY_KEYS_RETIRED"):
        Keyring.from_secrets(B).get(old.current.key_id)
    with pytest.raises(ConfigError):
        Keyring.from_secrets("not-a-key")
    assert envelope.parse_retired(f" {A}, {B} ") == [A, B] and envelope.parse_retired(None) == []
    assert A not in repr(new) and "kek=" not in repr(new.current)


def test_legacy_fernet_values_are_detected_and_read_with_any_key_of_the_ring():
    token = Fernet(A.encode()).encrypt(b"legacy")
    assert not envelope.is_sealed(token)
    assert envelope.open_legacy(Keyring.from_secrets(B, [A]), token) == b"legacy"
    with pytest.raises(IntegrityViolation, match="COC_IDENTITY_KEYS_RETIRED"):
        envelope.open_legacy(Keyring.from_secrets(B), token)
    with pytest.raises(IntegrityViolation, match="not in the sealed format"):
        open_sealed(envelope.new_data_key(), token, aad=b"x")


def test_commitments_are_keyed_deterministic_and_checked():
    k1, k2 = envelope.new_data_key(), envelope.new_data_key()
    c = envelope.commitment(k1, "transfer reason")
    assert c == envelope.commitment(k1, "transfer reason") and len(c) == 64 and int(c, 16) >= 0
    assert c != envelope.commitment(k2, "transfer reason") and c != envelope.commitment(k1, "transfer reason.")
    assert envelope.commitment_matches(k1, "transfer reason", c)
    assert not envelope.commitment_matches(k2, "transfer reason", c)


NOW = datetime(2026, 12, 4, 9, 15, tzinfo=UTC)


def test_erasure_rules_two_people_no_hold_not_twice():
    rules.check_can_propose(erased_at=None, open_proposal=False, held_item_ids=[])
    rules.check_can_approve(erased_at=None, proposer="U1", approver="U2", held_item_ids=[])
    with pytest.raises(Conflict, match="already proposed"):
        rules.check_can_propose(erased_at=None, open_proposal=True, held_item_ids=[])
    with pytest.raises(Conflict, match="legal hold .*E1"):
        rules.check_can_propose(erased_at=None, open_proposal=False, held_item_ids=["E1"])
    with pytest.raises(Conflict, match="already erased on 2026-12-04 09:15 UTC"):
        rules.check_can_propose(erased_at=NOW, open_proposal=False, held_item_ids=[])
    with pytest.raises(Conflict, match="no erasure of this case is proposed"):
        rules.check_can_approve(erased_at=None, proposer=None, approver="U2", held_item_ids=[])
    with pytest.raises(PermissionDenied, match="different authorised person"):
        rules.check_can_approve(erased_at=None, proposer="U1", approver="U1", held_item_ids=[])
    with pytest.raises(Conflict, match="legal hold"):
        rules.check_can_approve(erased_at=None, proposer="U1", approver="U2", held_item_ids=["E9"])
    with pytest.raises(Conflict, match="already erased"):
        rules.check_can_approve(erased_at=NOW, proposer="U1", approver="U2", held_item_ids=[])


def test_erasure_withdrawal_rule_only_an_open_proposal():
    rules.check_can_withdraw(erased_at=None, open_proposal=True, last_status="proposed", last_by=None)
    with pytest.raises(Conflict, match="already withdrawn by alice"):
        rules.check_can_withdraw(erased_at=None, open_proposal=False, last_status="withdrawn", last_by="alice")
    with pytest.raises(Conflict, match="nothing to withdraw"):
        rules.check_can_withdraw(erased_at=None, open_proposal=False, last_status=None, last_by=None)
    with pytest.raises(Conflict, match="already erased"):  # approved: the case key is gone
        rules.check_can_withdraw(erased_at=NOW, open_proposal=False, last_status="approved", last_by=None)


def test_erasure_approval_refuses_one_person_behind_two_accounts_and_a_lapsed_proposer():
    with pytest.raises(PermissionDenied, match="created the other's account"):
        rules.check_can_approve(erased_at=None, proposer="U1", approver="U2", held_item_ids=[], one_person=True)
    with pytest.raises(Conflict, match="no longer stands: deactivated. Withdraw it"):
        rules.check_can_approve(erased_at=None, proposer="U1", approver="U2", held_item_ids=[],
                                proposer_lapsed="deactivated")
