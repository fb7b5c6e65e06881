"""Attacks on the survivor's status page (issue 16 as built), the history proof: checked by a second verifier
written here from RFC 6962/9162 (not the product's) against the published key, and attacked by a database
writer (an entry rewritten with its tree nodes; a timeline row edited or deleted). SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from sqlmodel import Session, select

from core.ledger import EventKind, LedgerEntry
from evidence.custody.models import CustodyEvent
from tests.api_helpers import api_harness
from tests.web.support import kit_with_card


@pytest.fixture
def harness(db_url, tmp_path, clock):
    h = api_harness(db_url, tmp_path, lookup_max_failures=3, lookup_rate_per_min=50)
    yield h
    h.close()


def _login(h, code, password):
    return h.client.post("/status", data={"code": code, "password": password, "lang": "en"})


# --- the history proof --------------------------------------------------------------------------------------

def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _root_from_path(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes:
    """RFC 6962 §2.1.1 PATH(m, D[n]) read backwards: the last hash is the sibling of the top split (recursive,
    unlike the product's iterative RFC 9162 verifier)."""
    if n == 1:
        assert not path, "a one-leaf tree has an empty path"
        return leaf
    assert path, "path too short"
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
    if m < k:
        return _h(b"\x01" + _root_from_path(leaf, m, k, path[:-1]) + path[-1])
    return _h(b"\x01" + path[-1] + _root_from_path(leaf, m - k, n - k, path[:-1]))


def _included(body: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    try:
        return _root_from_path(_h(b"\x00" + body), index, size, path) == root
    except AssertionError:
        return False


def _kit_entries(h, item_id) -> list[LedgerEntry]:
    with Session(h.engine) as s:
        return list(s.exec(select(LedgerEntry).where(LedgerEntry.item_id == item_id,
                                                      LedgerEntry.kind.startswith("custody:"))
                           .order_by(LedgerEntry.seq)).all())


def test_page_proof_checks_out_with_an_independent_verifier(harness, tmp_path):
    """The tree head the page relies on is signed by the published key (checked with `cryptography` directly);
    every custody entry of the kit is included (our own RFC 6962 audit-path check); the fingerprint the page
    shows is the SHA-256 of the published key; a proof with one byte changed, or for the wrong leaf, fails."""
    h = harness
    kit = kit_with_card(h, tmp_path)
    auditor = h.user("auditor")
    page = _login(h, kit.code, kit.password)
    assert "Verified:" in page.text
    published = h.client.get("/audit/public-key", headers=auditor.headers).json()
    key = load_pem_public_key(published["public_key_pem"].encode())
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert f"<code>{hashlib.sha256(raw).hexdigest()[:16]}</code>" in page.text
    sth = h.client.get("/audit/tree-head", headers=auditor.headers).json()
    message = json.dumps({"root_hash": sth["root_hash"], "timestamp": sth["timestamp"],
                          "tree_size": sth["tree_size"]}, sort_keys=True, separators=(",", ":")).encode()
    key.verify(base64.b64decode(sth["signature"]), message)  # raises InvalidSignature if not
    size, root = sth["tree_size"], bytes.fromhex(sth["root_hash"])
    entries = _kit_entries(h, kit.item_id)
    assert len(entries) >= 5
    for e in entries:
        proof = h.client.get(f"/audit/proofs/inclusion?seq={e.seq}&tree_size={size}", headers=auditor.headers)
        path = [bytes.fromhex(p) for p in proof.json()["path"]]
        assert _included(bytes(e.body), e.seq - 1, size, path, root), e.seq
        assert not _included(bytes(e.body) + b" ", e.seq - 1, size, path, root)
        if path:
            bent = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
            assert not _included(bytes(e.body), e.seq - 1, size, bent, root)
            other = e.seq % size  # the next leaf (or the first): the same proof does not place it there
            assert not _included(bytes(e.body), other, size, path, root)


def _unlock(conn, *tables: str) -> None:
    for table in tables:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def _rewrite_entry_and_tree(conn, seq: int, new_body: bytes) -> str:
    """What a database writer who knows the format does: the entry's body and hash, its leaf node and every
    stored complete subtree above it, recomputed (the tree's root changes consistently)."""
    new_hash = hashlib.sha256(new_body).hexdigest()
    conn.execute(sa.text("UPDATE ledger_entry SET body = :b, entry_hash = :h WHERE seq = :s"),
                 {"b": new_body, "h": new_hash, "s": seq})
    size = conn.execute(sa.text("SELECT max(seq) FROM ledger_entry")).scalar_one()
    index, level = seq - 1, 0

    def node(lv, ix):
        return bytes(conn.execute(sa.text("SELECT hash FROM ledger_node WHERE level = :l AND idx = :i"),
                                  {"l": lv, "i": ix}).scalar_one())

    while ((index >> level) + 1) << level <= size:
        ix = index >> level
        value = _h(b"\x00" + new_body) if level == 0 else _h(b"\x01" + node(level - 1, 2 * ix) +
                                                             node(level - 1, 2 * ix + 1))
        conn.execute(sa.text("UPDATE ledger_node SET hash = :h WHERE level = :l AND idx = :i"),
                     {"h": value, "l": level, "i": ix})
        level += 1
    return new_hash


def test_an_entry_rewritten_with_its_tree_nodes_is_not_verified(harness, tmp_path):
    """The release entry says the seal was broken instead of intact; the writer also recomputes the entry's
    hash, the tree nodes above it and the timeline row's copy of the hash: the freshly signed tree head then
    covers the forgery, so only the hash chain (the next entry still names the old hash) can tell."""
    h = harness
    kit = kit_with_card(h, tmp_path)
    assert "Verified:" in _login(h, kit.code, kit.password).text
    [released] = [e for e in _kit_entries(h, kit.item_id) if e.kind == EventKind.RELEASED]
    forged = bytes(released.body).replace(b'"seal_intact":true', b'"seal_intact":false')
    assert forged != bytes(released.body)
    with h.engine.begin() as conn:
        _unlock(conn, "ledger_entry", "ledger_node", "custody_event")
        new_hash = _rewrite_entry_and_tree(conn, released.seq, forged)
        conn.execute(sa.text("UPDATE custody_event SET ledger_hash = :h WHERE ledger_seq = :s"),
                     {"h": new_hash, "s": released.seq})
    page = _login(h, kit.code, kit.password)
    assert page.status_code == 200 and "Could not be verified:" in page.text and "Verified:" not in page.text


def test_an_untouched_kit_with_an_integrity_incident_is_verified(harness, tmp_path):
    """The proof's binding of timeline rows must not refuse an honest history: an integrity incident (its
    custody_event row points at an integrity:* entry, not a custody:* one) leaves the kit verified."""
    h = harness
    kit = kit_with_card(h, tmp_path, released=False)
    r = h.client.post(f"/items/{kit.item_id}/integrity-incidents", headers=kit.lab.headers,
                      json={"reason": "seal looked loose on the shelf"})
    assert r.status_code == 201, r.text
    page = _login(h, kit.code, kit.password)
    assert page.status_code == 200 and "Verified:" in page.text and "Could not be verified" not in page.text


@pytest.mark.parametrize("edit", ["kind", "at", "delete"])
def test_an_edited_or_deleted_timeline_row_is_not_verified(harness, tmp_path, edit):
    """The timeline is read from custody_event rows, the proof from ledger entries: a row changed to say the
    kit was analysed, a release moved a month earlier, or the release row deleted (the ledger untouched) changes
    what the page shows, so the page must not call that history verified."""
    h = harness
    kit = kit_with_card(h, tmp_path)
    before = _login(h, kit.code, kit.password).text
    assert "Verified:" in before and "With law enforcement since" in before
    table = CustodyEvent.__table__
    where = (table.c.item_id == kit.item_id) & (table.c.kind == "released")
    with h.engine.begin() as conn:
        _unlock(conn, "custody_event")
        at = conn.execute(sa.select(table.c.at).where(where)).scalar_one()
        change = {"kind": sa.update(table).where(where).values(kind="analysed"),
                  "at": sa.update(table).where(where).values(at=at - timedelta(days=30)),
                  "delete": sa.delete(table).where(where)}[edit]
        assert conn.execute(change).rowcount == 1
    page = _login(h, kit.code, kit.password)
    assert page.status_code == 200 and "Could not be verified:" in page.text and "Verified:" not in page.text
