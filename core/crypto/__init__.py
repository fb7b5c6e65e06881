"""Encryption at rest: per-case keys wrapped by the centre's keyring, values bound to their row (AES-256-GCM with
associated data "<table>:<column>:<row id>"), keyed commitments, rotation and crypto-shredding.

Layout: `envelope` (PURE: Keyring, wrap_key/unwrap_key, seal/open_sealed, aad_for, commitment) · `models`
(case_key) · `service` (with a Session: seal_text/open_text, commit_text/verify_commitment, rewrap_case_keys,
destroy_case_key, next_row_id) · `texts` (case_text: free text
out of the ledger, keep_text/show_text/check_text) · `legacy` (the Fernet format of rows written before revision 0015).

Commitments, for text that must stay out of the permanent ledger (the ledger holds only the commitment):
    commit_text(session, case_id, text) -> str            # hex HMAC-SHA256 under HKDF(case key, "coc/commit/v1")
    verify_commitment(session, case_id, text, commitment) -> bool
After a lawful erasure the case key is gone: both raise core.errors.Erased and the text can never be matched
again, while the ledger entry holding the commitment (and every proof over it) still verifies.
"""

from core.crypto.envelope import (
    CentreKey,
    Keyring,
    aad_for,
    commitment,
    is_sealed,
    new_data_key,
    open_legacy,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)
from core.crypto.legacy import decrypt_text, encrypt_text
from core.crypto.models import CaseKey
from core.crypto.service import (
    KeyringLike,
    RewrapReport,
    commit_text,
    destroy_case_key,
    erased_at,
    erased_error,
    keyring_from_settings,
    load_case_key,
    next_row_id,
    open_text,
    resolve_keyring,
    rewrap_case_keys,
    seal_text,
    using_keyring,
    verify_commitment,
)
from core.crypto.texts import (
    ERASED_TEXT,
    CaseText,
    TextPurpose,
    check_text,
    is_commitment,
    keep_text,
    keep_value,
    show_text,
    text_rows,
)

__all__ = [
    "ERASED_TEXT", "CaseKey", "CaseText", "CentreKey", "TextPurpose", "check_text", "is_commitment",
    "keep_text", "keep_value", "show_text",
    "text_rows", "Keyring", "KeyringLike", "RewrapReport", "aad_for", "commit_text", "commitment",
    "decrypt_text",
    "destroy_case_key", "encrypt_text", "erased_at", "erased_error", "is_sealed", "keyring_from_settings",
    "load_case_key", "new_data_key", "next_row_id", "open_legacy", "open_sealed", "open_text", "resolve_keyring",
    "rewrap_case_keys", "seal", "seal_text", "unwrap_key", "using_keyring", "verify_commitment", "wrap_key",
]
