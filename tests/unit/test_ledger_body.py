"""The append fast path builds the canonical body from a prefix: it must equal canonical() byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core import ledger
from core.actors import Actor
from core.ledger import codec

ids = st.one_of(st.none(), st.text(min_size=1, max_size=20))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=30))
data = st.dictionaries(st.sampled_from(["reason", "seal_number", "location", "note", "zeta", "a"]),
                       st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=5)


@given(seq=st.integers(1, 10**12), prev=st.text("0123456789abcdef", min_size=64, max_size=64),
       kind=st.sampled_from(list(ledger.EventKind)), case_id=ids, item_id=ids, data=data,
       offset=st.integers(0, 10**9), actor_id=st.text(min_size=1, max_size=12))
def test_prefix_body_equals_canonical(seq, prev, kind, case_id, item_id, data, offset, actor_id):
    """prefix + prev + seq renders exactly the sorted-key canonical JSON of the whole entry."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=offset)
    actor = Actor(id=actor_id, role="lab")
    whole = ledger.canonical({"v": ledger.FORMAT_VERSION, "seq": seq, "prev": prev, "kind": str(kind), "at": at,
                              "actor": actor.ledger_ref(), "case": case_id, "item": item_id, "data": data})
    prefix = ledger.canonical({"actor": actor.ledger_ref(), "at": at, "case": case_id, "data": data,
                               "item": item_id, "kind": str(kind)})[:-1] + b',"prev":"'
    assert codec._body(prefix, prev, seq) == whole
