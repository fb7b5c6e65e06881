"""The court report's free-text pieces (pure, no database): a bundle's texts replace only the commitment the
entry's verified bytes hold, and each shown text says whether it matches its ledger entry."""

from __future__ import annotations

from evidence.audit.custody_rows import texts_of, with_texts
from evidence.audit.report_pdf import text_check

C = "a" * 64


def test_texts_replace_only_the_committed_value_of_their_entry():
    bundle = {"texts": [{"seq": 3, "field": "reason", "commitment": C, "text": "to the lab", "matches": True},
                        {"seq": "x", "field": "reason", "commitment": C, "text": "junk"},  # ignored: bad seq
                        "not a dict"]}
    texts = texts_of(bundle)
    assert list(texts) == [(3, "reason")]
    assert with_texts({"reason": C, "location": "lab-1"}, 3, texts) == {"reason": "to the lab", "location": "lab-1"}
    # another entry, or a commitment the entry does not hold, is never replaced
    assert with_texts({"reason": C}, 4, texts) == {"reason": C}
    assert with_texts({"reason": "b" * 64}, 3, texts) == {"reason": "b" * 64}
    assert texts_of({"texts": "nope"}) == {} and texts_of(None) == {}


def test_each_text_says_whether_it_matches_its_entry():
    assert text_check({"seq": 7, "text": "x", "matches": True}) == "text matches ledger entry 7"
    assert text_check({"seq": 7, "text": "x", "matches": False}).startswith("MISMATCH")
    assert "ledger entry 7" in text_check({"seq": 7, "text": "x", "matches": False})
    assert text_check({"seq": 7, "text": "[erased]", "matches": None}).startswith("erased (lawful erasure)")
