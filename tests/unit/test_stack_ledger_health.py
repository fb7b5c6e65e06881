"""`coc up`'s start-up wait: a /health whose only failing part is the ledger starts the stack, loudly."""

from __future__ import annotations

from api.stack.supervisor import health_ready, ledger_not_intact, ledger_warning

UP = {"ok": True, "detail": "reachable"}
BROKEN = {"ok": False, "detail": "LEDGER NOT INTACT: the last verification found entry 7 bad", "first_bad_seq": 7}


def test_only_the_ledger_failing_is_accepted_with_its_detail():
    body = {"status": "ledger-not-intact", "parts": {"database": UP, "object_store": UP, "prefect": UP,
                                                     "ledger": BROKEN}}
    assert not health_ready(body)
    assert ledger_not_intact(body) == BROKEN["detail"]


def test_a_service_down_is_not_accepted_even_with_a_broken_ledger():
    body = {"status": "unavailable", "parts": {"database": UP, "object_store": {"ok": False, "detail": "down"},
                                               "prefect": UP, "ledger": BROKEN}}
    assert ledger_not_intact(body) is None
    body["status"] = "ledger-not-intact"  # a body that claims it but lists another failing part
    assert ledger_not_intact(body) is None


def test_a_ready_stack_is_not_a_broken_ledger():
    body = {"status": "ready", "parts": {"database": UP, "ledger": UP}}
    assert health_ready(body) and ledger_not_intact(body) is None


def test_the_warning_names_the_problem_and_what_to_do():
    text = ledger_warning("first bad entry 7 (stored hash does not match the entry's bytes)")
    assert "LEDGER IS NOT INTACT" in text and "first bad entry 7" in text
    assert "coc audit verify" in text and "auditor" in text
