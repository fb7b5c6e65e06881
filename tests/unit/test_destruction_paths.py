"""Only the second of two people reaches the `destroyed` state: the custody rule `destroy` is applied by
evidence.custody.service.record_destruction alone, and that is called by evidence.destruction alone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for d in ("api", "core", "evidence", "flows", "policies") for p in (ROOT / d).rglob("*.py")]


def _callers(pattern: str) -> set[str]:
    rx = re.compile(pattern)
    return {str(p.relative_to(ROOT)) for p in SOURCES if rx.search(p.read_text(encoding="utf-8"))}


def test_the_destroy_rule_and_record_destruction_have_one_caller_each():
    assert _callers(r"rules\.destroy\(") == {"evidence/custody/service.py"}
    assert _callers(r"\brecord_destruction\(") == {"evidence/custody/service.py", "evidence/destruction.py"}
    assert _callers(r"status\s*=\s*ItemStatus\.DESTROYED") == {"evidence/custody/rules.py"}
    assert not _callers(r"\bdestroy_item\b"), "the single-person destroy service is gone"
