"""RFC 9162 §2.1 Merkle tree hashing, inclusion and consistency proofs (pure functions, no database).

Leaves are numbered from 0. A "node" (level, idx) is the root of the complete subtree that covers leaves
[idx * 2**level, (idx + 1) * 2**level); level 0 is a leaf hash. Every subtree the RFC's recursion touches
starts at a multiple of its largest power-of-two split, so its hash is a right fold of the aligned complete
nodes it decomposes into: a proof needs only O(log n) stored complete-subtree hashes (see `NodeSource`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

Node = tuple[int, int]  # (level, idx)
Range = tuple[int, int]  # [start, end) leaf indices

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = _sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw entries (RFC 9162 §2.1.1)."""
    return root_from_leaves([leaf_hash(e) for e in entries])


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-computed leaf hashes, iteratively (pairs, carrying an odd last node up)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def decompose(start: int, end: int) -> list[Node]:
    """The aligned complete subtrees covering [start, end), left to right (largest first)."""
    out: list[Node] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while (1 << level) > end - start:
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def completed_nodes(index: int) -> list[Node]:
    """Interior nodes (level >= 1) that become complete when leaf `index` is appended, bottom up."""
    out, level, n = [], 1, index + 1
    while n % (1 << level) == 0:
        out.append((level, (n >> level) - 1))
        level += 1
    return out


def frontier(size: int) -> list[Node]:
    """The complete subtrees whose fold is the root of a tree of `size` leaves (largest first)."""
    return decompose(0, size)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Subtree ranges whose hashes form PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """Subtree ranges whose hashes form PROOF(first, D[second]) (RFC 9162 §2.1.4.1)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    out: list[Range] = []
    m, lo, hi, whole = first, 0, second, True
    while True:
        n = hi - lo
        if m == n:
            if not whole:
                out.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    out.reverse()
    return out


class NodeSource(Protocol):
    """Anything that can return stored complete-subtree hashes by (level, idx)."""

    def nodes(self, keys: Iterable[Node]) -> Mapping[Node, bytes]:
        """Hashes for `keys` (every key must be a complete subtree of the tree)."""
        ...


def range_hash(start: int, end: int, get: Callable[[Node], bytes]) -> bytes:
    """MTH of leaves [start, end) as a right fold of its aligned complete subtrees."""
    parts = decompose(start, end)
    h = get(parts[-1])
    for node in reversed(parts[:-1]):
        h = node_hash(get(node), h)
    return h


def _hashes_for(ranges: Sequence[Range], source: NodeSource) -> list[bytes]:
    """Fetch every node the ranges need in one call, then fold each range."""
    keys = {node for r in ranges for node in decompose(*r)}
    found = source.nodes(keys)
    missing = keys - set(found)
    if missing:
        raise LookupError(f"Merkle store is missing nodes {sorted(missing)[:3]}")
    return [range_hash(a, b, found.__getitem__) for a, b in ranges]


def inclusion_proof(index: int, size: int, source: NodeSource) -> list[bytes]:
    """Inclusion proof of leaf `index` in the tree of `size` leaves."""
    return _hashes_for(inclusion_ranges(index, size), source)


def consistency_proof(first: int, second: int, source: NodeSource) -> list[bytes]:
    """Consistency proof between tree sizes `first` and `second`."""
    return _hashes_for(consistency_ranges(first, second), source)


def root(size: int, source: NodeSource) -> bytes:
    """The root hash of the first `size` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return _hashes_for([(0, size)], source)[0]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show leaf hash `leaf` at `index` in the tree with `root_hash`?"""
    if not 0 <= index < size or any(len(p) != 32 for p in proof) or len(leaf) != 32:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size `first` a prefix of the tree of size `second`?"""
    if not 0 < first <= second or any(len(p) != 32 for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


class MemoryTree:
    """An in-memory NodeSource over leaf hashes (tests, offline tools); keeps every complete level."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self.levels[0])

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add a leaf hash; returns the interior nodes it completed."""
        index = self.size
        self.levels[0].append(leaf)
        made = []
        for level, idx in completed_nodes(index):
            if len(self.levels) <= level:
                self.levels.append([])
            below = self.levels[level - 1]
            h = node_hash(below[2 * idx], below[2 * idx + 1])
            self.levels[level].append(h)
            made.append(((level, idx), h))
        return made

    def nodes(self, keys: Iterable[Node]) -> dict[Node, bytes]:
        """Stored hashes for complete subtrees."""
        out = {}
        for level, idx in keys:
            if level < len(self.levels) and idx < len(self.levels[level]):
                out[(level, idx)] = self.levels[level][idx]
        return out

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the first `size` leaves (default: all)."""
        return root(self.size if size is None else size, self)
