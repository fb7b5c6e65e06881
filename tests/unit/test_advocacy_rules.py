"""Pure advocacy rules: the follow-up plan from the pack, when follow-ups end, when tasks may be raised."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from policies.advocacy_rules import FollowUpCheck, ends_follow_ups, next_due, plan_follow_ups, tasks_may_be_raised
from policies.jurisdictions import get_pack, load_pack

EXAM = datetime(2026, 3, 1, 22, tzinfo=UTC)


def test_the_default_pack_plans_1_week_6_weeks_3_months_after_the_exam():
    rules = [(r.name, r.days_after_exam, tuple(r.checks)) for r in get_pack("default").followups]
    plan = plan_follow_ups(EXAM, rules)
    assert [(p.name, p.due_at - EXAM) for p in plan] == [
        ("1-week", timedelta(days=7)), ("6-weeks", timedelta(days=42)), ("3-months", timedelta(days=90))]
    assert FollowUpCheck.PEP_ADHERENCE in plan[0].checks and FollowUpCheck.PREGNANCY_TEST in plan[0].checks
    assert FollowUpCheck.HIV_RETEST in plan[2].checks
    for code in ("us-tx", "us-wa", "us-mi"):  # packs without a followups block get the same defaults
        assert [r.days_after_exam for r in get_pack(code).followups] == [7, 42, 90]


def test_a_pack_with_an_unknown_check_is_refused(tmp_path):
    raw = json.loads(get_pack("default").model_dump_json())
    raw["followups"] = [{"name": "1-week", "days_after_exam": 7, "checks": ["horoscope"]}]
    path = tmp_path / "default.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="followups"):
        load_pack(path)


@pytest.mark.parametrize(("statuses", "ends"), [
    ({"share-with-advocate": "withdrawn", "medical-care": "granted"}, True),
    ({"share-with-advocate": "granted", "medical-care": "declined"}, True),
    ({"share-with-advocate": "declined"}, True),
    ({"share-with-advocate": "expired", "medical-care": "granted"}, False),  # pauses, does not end
    ({"share-with-advocate": "none", "medical-care": "granted"}, False),
    ({"share-with-advocate": "granted", "medical-care": "granted"}, False),
])
def test_a_declined_or_withdrawn_release_or_medical_consent_ends_follow_ups(statuses, ends):
    assert (ends_follow_ups(statuses) is not None) is ends


def test_tasks_reach_the_advocate_only_under_the_release():
    assert tasks_may_be_raised({"share-with-advocate": "granted"})
    assert not tasks_may_be_raised({"share-with-advocate": "expired"})
    assert not tasks_may_be_raised({})


@given(st.lists(st.integers(min_value=-100, max_value=100), max_size=6), st.integers(min_value=-100, max_value=100))
def test_next_due_is_the_earliest_strictly_future_date(offsets, now_offset):
    dates = [EXAM + timedelta(days=d) for d in offsets]
    now = EXAM + timedelta(days=now_offset)
    got = next_due(dates, now)
    future = [d for d in dates if d > now]
    assert got == (min(future) if future else None)
