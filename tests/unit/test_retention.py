"""The pack's retention rule (policies.retention): every pack, every reporting choice, only extensions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.cases import Reporting
from core.errors import ValidationFailed
from policies.jurisdictions import installed_packs
from policies.retention import effective_retention, minimum_retention, period_text

COLLECTED = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
PACKS = sorted(installed_packs())


@pytest.mark.parametrize("code", PACKS)
@pytest.mark.parametrize("reporting", list(Reporting))
@pytest.mark.parametrize("kind", ["kit", "toxicology-blood", "photograph"])
def test_minimum_retention_for_every_pack_and_reporting_choice(code, reporting, kind):
    pack = installed_packs()[code]
    rule = minimum_retention(pack, reporting=reporting, kind=kind, collected_at=COLLECTED)
    reported = reporting is Reporting.UNRESTRICTED
    days = pack.kit.reported_retention_days if reported else pack.kit.unreported_retention_days
    assert rule.until == COLLECTED + timedelta(days=days)
    key = "reported_retention_days" if reported else "unreported_retention_days"
    word = "reported" if reported else "unreported"
    assert rule.rule == f"{pack.name}: {word} {kind}, 20 years from collection (kit.{key})"
    # the shipped packs carry the federal floor (18 USC 3772: 20 years) for both choices
    assert rule.until.year == 2046


def test_retention_counts_from_collection_not_from_recording():
    pack = installed_packs()["us-mi"]
    earlier = COLLECTED - timedelta(hours=30)
    assert (minimum_retention(pack, reporting="restricted", kind="kit", collected_at=earlier).until
            == earlier + timedelta(days=7300))


def test_the_exact_short_request_is_refused_with_the_packs_date_and_rule():
    pack = installed_packs()["default"]
    required = minimum_retention(pack, reporting=Reporting.RESTRICTED, kind="kit", collected_at=COLLECTED)
    with pytest.raises(ValidationFailed) as exc:
        effective_retention(required, COLLECTED + timedelta(seconds=90))
    assert "at least until 2046-02-24" in exc.value.detail
    assert "unreported kit, 20 years from collection" in exc.value.detail
    with pytest.raises(ValidationFailed, match="never an earlier one"):
        effective_retention(required, required.until - timedelta(seconds=1))


def test_no_request_gives_the_packs_date_and_a_later_one_extends():
    pack = installed_packs()["us-tx"]
    required = minimum_retention(pack, reporting=Reporting.UNRESTRICTED, kind="kit", collected_at=COLLECTED)
    assert effective_retention(required, None) == required.until
    assert effective_retention(required, required.until) == required.until
    later = required.until + timedelta(days=365 * 35)
    assert effective_retention(required, later) == later


@pytest.mark.parametrize(("days", "text"), [(7300, "20 years"), (365, "1 year"), (400, "400 days"), (1, "1 day")])
def test_period_text(days, text):
    assert period_text(days) == text
