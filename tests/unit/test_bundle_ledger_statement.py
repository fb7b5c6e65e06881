"""How an audit bundle's `ledger_verification` statement is read (pure: no database)."""

from __future__ import annotations

from core.ledger.bundle import BundleReport, _check_ledger_statement, ledger_status

GOOD = {"ok": True, "verified_at": "2026-12-04T10:00:00.000000Z", "entries_checked": 12, "first_bad_seq": None,
        "reason": None}


def test_an_intact_statement_reads_as_verified():
    assert ledger_status(GOOD) == (True, "ledger verified at 2026-12-04 10:00:00 UTC, 12 entries")


def test_a_broken_or_malformed_statement_fails_the_bundle():
    bad = GOOD | {"ok": False, "first_bad_seq": 7, "reason": "stored hash does not match the entry's bytes"}
    for statement, text in ((bad, "LEDGER NOT INTACT — first bad entry 7"),
                            ({"ok": "yes"}, "LEDGER NOT INTACT — the bundle's ledger_verification is malformed"),
                            ("ok", "LEDGER NOT INTACT")):
        report = BundleReport()
        _check_ledger_statement(statement, report)
        assert not report.ok and report.ledger.startswith(text) and report.errors, statement


def test_a_bundle_that_does_not_say_only_warns():
    report = BundleReport()
    _check_ledger_statement(None, report)
    assert report.ok and report.ledger == report.warnings[0] and "does not state" in report.ledger
