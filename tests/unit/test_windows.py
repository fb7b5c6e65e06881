"""The clinical-window rule (policies.windows): late or in time, how late in words, justification required."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ValidationFailed
from policies.jurisdictions import installed_packs
from policies.windows import CARE_WINDOW, ITEM_WINDOW, check_window, clean_justification, duration_text, lateness

ASSAULT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
PACK = installed_packs()["default"]


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(hours=16), "16 h"), (timedelta(hours=42), "1 d 18 h"), (timedelta(days=5), "5 d"),
    (timedelta(hours=2, minutes=5), "2 h 5 min"), (timedelta(minutes=40), "40 min"),
    (timedelta(days=1, hours=2, minutes=3), "1 d 2 h"), (timedelta(seconds=20), "0 min"),
])
def test_duration_text(delta, text):
    assert duration_text(delta) == text


def test_blood_toxicology_at_40h_is_16h_late():
    result = lateness(PACK, "toxicology_blood_hours", assault_at=ASSAULT, at=ASSAULT + timedelta(hours=40))
    assert result.late == timedelta(hours=16) and result.hours == 24
    assert result.text("collected") == "collected 16 h after its 24 h window"


def test_pep_given_on_day_8_is_late_and_in_window_is_not():
    day8 = lateness(PACK, "hiv_pep_hours", assault_at=ASSAULT, at=ASSAULT + timedelta(days=7, hours=10))
    assert day8.text("given") == "given 4 d 10 h after its 72 h window"
    at_deadline = lateness(PACK, "hiv_pep_hours", assault_at=ASSAULT, at=ASSAULT + timedelta(hours=72))
    assert at_deadline.late is None and at_deadline.text("given") is None


def test_check_window_refuses_late_without_justification_and_accepts_with_it():
    kw = {"assault_at": ASSAULT, "at": ASSAULT + timedelta(hours=40), "what": "toxicology-blood evidence",
          "verb": "collected"}
    with pytest.raises(ValidationFailed) as exc:
        check_window(PACK, "toxicology_blood_hours", justification=None, **kw)
    assert "collected 16 h after its 24 h window" in exc.value.detail and "late_justification" in exc.value.detail
    ok = check_window(PACK, "toxicology_blood_hours", justification="survivor arrived at 38 h", **kw)
    assert ok.late == timedelta(hours=16)
    # in time: nothing needed; no window (kind without one, or assault time unknown): nothing checked
    kw["at"] = ASSAULT + timedelta(hours=20)
    assert check_window(PACK, "toxicology_blood_hours", justification=None, **kw).late is None
    assert check_window(PACK, None, justification=None, **kw) is None
    assert check_window(PACK, "toxicology_blood_hours", justification=None,
                        **{**kw, "assault_at": None, "at": ASSAULT + timedelta(days=30)}) is None


def test_every_window_names_a_pack_field():
    for field in {*ITEM_WINDOW.values(), *CARE_WINDOW.values()}:
        assert getattr(PACK.clinical, field) > 0


def test_justification_is_trimmed_not_blank_and_bounded():
    assert clean_justification("  arrived late  ") == "arrived late"
    assert clean_justification(None) is None
    with pytest.raises(ValueError, match="blank"):
        clean_justification("   ")
    with pytest.raises(ValueError, match="500"):
        clean_justification("x" * 501)
