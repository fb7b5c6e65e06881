"""The append-only, hash-chained audit ledger.

Canonical serialization (version 1) of an entry — these exact bytes are stored in `body` and hashed:
  * a JSON object with keys v, seq, prev, kind, at, actor, case, item, data;
  * keys sorted, separators "," and ":" (no whitespace), UTF-8, non-ASCII kept as is (ensure_ascii off);
  * no floats anywhere (amounts are integers or strings), no NaN; datetimes as ISO-8601 UTC strings
    with microseconds and a trailing "Z";
  * `prev` is the hex SHA-256 of the previous entry's body (64 zeros for seq 1), `seq` starts at 1.
entry_hash = SHA-256(body); Merkle leaf = SHA-256(0x00 || body) (RFC 9162 §2.1), leaf index = seq - 1.
No personal data goes in: pseudonymous case/item ids and staff ids only.

Because keys are sorted, every canonical body ends with the fixed tail
  ,"item":<item|null>,"kind":"<kind>","prev":"<prev>","seq":<seq>,"v":1}
which the fast verifier checks byte for byte (the deep verifier also re-parses and re-renders each body).

Merkle tree (core.ledger.merkle): `ledger_node(level, idx, hash)` holds the hash of every complete subtree
(level 0 = leaf hashes, idx = leaf index) and is written by `append` in the same transaction as the entry,
so an inclusion or consistency proof at any size needs O(log n) row lookups. Both tables are append-only.

Layout: `model` (tables, EventKind), `codec` (the canonical bytes), `nodes` (table reads), `writer` (append),
`verify` (chain + tree), `proofs` (tree heads, inclusion/consistency), `merkle` (RFC 9162 arithmetic),
`signing` (Ed25519 tree-head signatures). The offline bundle verifier is `bundle` (export and PDF: evidence.audit).
"""

from core.ledger.codec import canonical, decode, iso, leaf_hash, sha256_hex
from core.ledger.model import FORMAT_VERSION, GENESIS, EventKind, LedgerEntry, LedgerNode
from core.ledger.nodes import DbNodes, count, head
from core.ledger.proofs import consistency_proof, inclusion_proof, signed_tree_head, tree_root
from core.ledger.verify import ChainReport, verify_chain, verify_ledger, verify_rows
from core.ledger.writer import AppendedEntry, append, install_durability_barrier

__all__ = [
    "FORMAT_VERSION", "GENESIS", "AppendedEntry", "ChainReport", "DbNodes", "EventKind", "LedgerEntry", "LedgerNode",
    "append", "canonical", "consistency_proof", "count", "decode", "head", "inclusion_proof",
    "install_durability_barrier", "iso", "leaf_hash", "sha256_hex", "signed_tree_head", "tree_root", "verify_chain",
    "verify_ledger", "verify_rows",
]
