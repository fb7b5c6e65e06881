"""core.ledger.merkle against a separate, straightforward recursive RFC 9162 §2.1 implementation written here."""

from __future__ import annotations

import functools
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ledger import merkle

N = 300


# -- the reference: RFC 9162 §2.1 transcribed literally (recursion over lists of entries) ------------------

def ref_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


# The reference works on slices D[lo:hi] of ENTRIES (defined below); MTH is memoized by slice so that
# checking every pair of sizes stays quick. The recursion itself is the RFC's, line for line.

@functools.cache
def ref_mth(lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 0:
        return ref_hash(b"")
    if n == 1:
        return ref_hash(b"\x00" + ENTRIES[lo])
    k = ref_k(n)
    return ref_hash(b"\x01" + ref_mth(lo, lo + k) + ref_mth(lo + k, hi))


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return ref_path(m, lo, lo + k) + [ref_mth(lo + k, hi)]
    return ref_path(m - k, lo + k, hi) + [ref_mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if b else [ref_mth(lo, hi)]
    k = ref_k(n)
    if m <= k:
        return ref_subproof(m, lo, lo + k, b) + [ref_mth(lo + k, hi)]
    return ref_subproof(m - k, lo + k, hi, False) + [ref_mth(lo, lo + k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    return ref_subproof(m, 0, n, True)


# -- fixtures ---------------------------------------------------------------------------------------------

ENTRIES = [f"entry-{i}".encode() for i in range(N)]


@pytest.fixture(scope="module")
def tree() -> merkle.MemoryTree:
    return merkle.MemoryTree(merkle.leaf_hash(e) for e in ENTRIES)


@pytest.fixture(scope="module")
def roots() -> list[bytes]:
    return [ref_mth(0, n) for n in range(N + 1)]


def test_hash_primitives_match_rfc():
    assert merkle.leaf_hash(b"abc") == ref_hash(b"\x00abc")
    assert merkle.node_hash(b"l" * 32, b"r" * 32) == ref_hash(b"\x01" + b"l" * 32 + b"r" * 32)
    assert merkle.mth([]) == ref_hash(b"")
    assert merkle.mth(ENTRIES[:5]) == ref_mth(0, 5)


def test_roots_for_every_size(tree, roots):
    for n in range(N + 1):
        assert tree.root(n) == roots[n]
        assert merkle.mth(ENTRIES[:n]) == roots[n]


def test_inclusion_proofs_for_every_size_and_leaf(tree, roots):
    for n in range(1, N + 1):
        for m in range(n):
            proof = merkle.inclusion_proof(m, n, tree)
            assert proof == ref_path(m, 0, n), (m, n)
            leaf = merkle.leaf_hash(ENTRIES[m])
            assert merkle.verify_inclusion(leaf, m, n, proof, roots[n])
        # the first and last leaves against a wrong root / wrong index must fail
        leaf = merkle.leaf_hash(ENTRIES[n - 1])
        proof = merkle.inclusion_proof(n - 1, n, tree)
        assert not merkle.verify_inclusion(leaf, n - 1, n, proof, roots[n - 1] if n > 1 else b"\0" * 32)
        if n > 1:
            assert not merkle.verify_inclusion(leaf, n - 2, n, proof, roots[n])
        assert not merkle.verify_inclusion(leaf, n - 1, n + 1, proof, roots[n])


def test_consistency_proofs_for_every_pair_of_sizes(tree, roots):
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, tree)
            assert proof == ref_proof(m, n), (m, n)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
    for m, n in [(1, 2), (3, 7), (4, 8), (5, 300), (256, 300), (299, 300)]:
        proof = merkle.consistency_proof(m, n, tree)
        assert not merkle.verify_consistency(m, n, roots[m - 1] if m > 1 else b"\1" * 32, roots[n], proof)
        assert not merkle.verify_consistency(m, n, roots[m], roots[n - 1], proof)
        assert not merkle.verify_consistency(m, n, roots[m], roots[n], proof[:-1])
        assert not merkle.verify_consistency(m, n, roots[m], roots[n], [*proof, proof[-1]])


def test_edge_cases_are_refused(roots):
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"x"), 0, 0, [], roots[0])
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"x"), -1, 1, [], roots[1])
    assert merkle.verify_inclusion(merkle.leaf_hash(ENTRIES[0]), 0, 1, [], roots[1])
    assert not merkle.verify_consistency(0, 5, roots[0], roots[5], [])
    assert not merkle.verify_consistency(5, 4, roots[5], roots[4], [])
    assert merkle.verify_consistency(5, 5, roots[5], roots[5], [])
    assert not merkle.verify_consistency(5, 5, roots[5], roots[4], [])
    assert not merkle.verify_consistency(4, 5, roots[4], roots[5], [])  # empty proof for a real extension
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(0, 3)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_forged_proofs_fail(tree, roots, data):
    """Changing any byte of any proof hash, or swapping/dropping hashes, never verifies."""
    n = data.draw(st.integers(2, N))
    m = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(m, n, tree)
    leaf = merkle.leaf_hash(ENTRIES[m])
    i = data.draw(st.integers(0, len(proof) - 1))
    b = data.draw(st.integers(0, 31))
    forged = list(proof)
    forged[i] = forged[i][:b] + bytes([forged[i][b] ^ data.draw(st.integers(1, 255))]) + forged[i][b + 1:]
    assert not merkle.verify_inclusion(leaf, m, n, forged, roots[n])
    assert not merkle.verify_inclusion(leaf, m, n, proof[:i] + proof[i + 1:], roots[n])
    first = data.draw(st.integers(1, n - 1))
    cproof = merkle.consistency_proof(first, n, tree)
    j = data.draw(st.integers(0, len(cproof) - 1))
    cforged = list(cproof)
    cforged[j] = bytes([cforged[j][0] ^ 1]) + cforged[j][1:]
    assert not merkle.verify_consistency(first, n, roots[first], roots[n], cforged)


def test_decompose_and_completed_nodes():
    assert merkle.decompose(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.decompose(4, 7) == [(1, 2), (0, 6)]
    assert merkle.completed_nodes(0) == []
    assert merkle.completed_nodes(3) == [(1, 1), (2, 0)]
    assert merkle.completed_nodes(7) == [(1, 3), (2, 1), (3, 0)]
    # a proof at a million leaves stays within 20 hashes
    assert len(merkle.inclusion_ranges(123_456, 1_000_000)) <= 20
