"""The pack's retention rule (policies.retention): every pack, every reporting choice, statute of limitations vs
the cap, anonymous and unreported periods, floors; extensions only ever later; packs validated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from core.cases import Reporting
from core.errors import ConfigError, ValidationFailed
from policies.jurisdictions import PACK_DIR, OffenceClass, RulePack, installed_packs, load_pack
from policies.retention import effective_retention, extended_until, minimum_retention, period_text

COLLECTED = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
PACKS = sorted(installed_packs())
BASE = yaml.safe_load((PACK_DIR / "default.yaml").read_text())


def _pack(**retention) -> RulePack:
    raw = {**BASE, "retention": {**BASE["retention"], **retention}}
    return RulePack.model_validate(raw)


# (pack, reporting) -> days the shipped packs keep an item, from domain.md: 18 USC 3772 (20 years, the cap with no
# limitation periods known), Idaho's 55 years for anonymous kits, Scotland's 26 months for self-referrals.
def _expected_days(code: str, reporting: Reporting) -> int:
    if code == "gb-sct":
        return 7300 if reporting is Reporting.UNRESTRICTED else 793
    if code == "us-id" and reporting is Reporting.ANONYMOUS:
        return 55 * 365
    return 7300


@pytest.mark.parametrize("code", PACKS)
@pytest.mark.parametrize("reporting", list(Reporting))
@pytest.mark.parametrize("kind", ["kit", "toxicology-blood", "photograph"])
def test_minimum_retention_for_every_pack_and_reporting_choice(code, reporting, kind):
    pack = installed_packs()[code]
    rule = minimum_retention(pack, reporting=reporting, kind=kind, collected_at=COLLECTED)
    days = _expected_days(code, reporting)
    assert rule.until == COLLECTED + timedelta(days=days)
    assert rule.rule.startswith(f"{pack.name}: ")
    if reporting is Reporting.UNRESTRICTED and pack.retention.cap_days:
        assert "statute of limitations or 20 years, whichever is shorter" in rule.rule
        assert "(no offence class given)" in rule.rule
    elif reporting is Reporting.ANONYMOUS and pack.retention.anonymous_retention_days:
        assert rule.rule.endswith(f"anonymous {kind}, 55 years from collection (retention.anonymous_retention_days)")
    elif reporting is not Reporting.UNRESTRICTED:
        assert rule.rule.endswith(f"unreported {kind}, {period_text(days)} from collection "
                                  "(kit.unreported_retention_days)")


def test_shipped_packs_carry_the_sourced_values():
    packs = installed_packs()
    assert {"us-id", "gb-sct"} <= set(packs)
    assert packs["us-id"].retention.anonymous_retention_days == 20075  # Idaho: anonymous kits 55 years
    assert packs["gb-sct"].kit.unreported_retention_days == 793  # Scotland: 26 months (never less)
    assert (packs["us-id"].kit.lab_submission_days, packs["us-id"].kit.lab_analysis_days) == (30, 90)
    for code in ("default", "us-wa", "us-tx", "us-mi", "us-id"):
        assert packs[code].retention.cap_days == 7300  # 18 USC 3772: 20 years
        assert packs[code].notice_days == 60
    assert packs["us-mi"].notice_days == 60  # Michigan: 60 days' notice before destruction


LIMITS = {"rape": None, "sexual-assault": 3650, "child-sexual-abuse": 9000}


@pytest.mark.parametrize(("offence", "days", "why"), [
    ("sexual-assault", 3650, "statute of limitations for sexual-assault (10 years), shorter than 20 years"),
    ("rape", 7300, "20 years (no statute of limitations for rape)"),
    ("child-sexual-abuse", 7300, "20 years (limitation for child-sexual-abuse not shorter)"),
    ("other-sexual-offence", 7300, "20 years (no limitation period listed for other-sexual-offence)"),
    (None, 7300, "20 years (no offence class given)"),
])
def test_reported_statute_of_limitations_or_the_cap_whichever_is_shorter(offence, days, why):
    pack = _pack(offence_classes=LIMITS)
    rule = minimum_retention(pack, reporting="unrestricted", kind="kit", collected_at=COLLECTED,
                             offence_class=offence)
    assert rule.until == COLLECTED + timedelta(days=days)
    assert why in rule.rule
    # the offence class never shortens an unreported kit
    unreported = minimum_retention(pack, reporting="restricted", kind="kit", collected_at=COLLECTED,
                                   offence_class=offence)
    assert unreported.until == COLLECTED + timedelta(days=7300)


def test_a_kind_floor_is_never_undercut():
    pack = _pack(offence_classes=LIMITS, minimum_days={"clothing": 5000})
    rule = minimum_retention(pack, reporting="unrestricted", kind="clothing", collected_at=COLLECTED,
                             offence_class="sexual-assault")
    assert rule.until == COLLECTED + timedelta(days=5000)
    assert "raised to the clothing floor of 5000 days (retention.minimum_days)" in rule.rule


@given(cap=st.integers(1, 40000), limit=st.one_of(st.none(), st.integers(1, 40000)),
       floor=st.one_of(st.none(), st.integers(1, 40000)), anonymous=st.one_of(st.none(), st.integers(1, 40000)),
       unreported=st.integers(1, 40000), reporting=st.sampled_from(list(Reporting)),
       offence=st.one_of(st.none(), st.sampled_from(list(OffenceClass))))
def test_the_rule_for_any_pack(cap, limit, floor, anonymous, unreported, reporting, offence):
    raw = {**BASE, "kit": {**BASE["kit"], "unreported_retention_days": unreported},
           "retention": {"cap_days": cap, "offence_classes": {str(c): limit for c in OffenceClass},
                         "anonymous_retention_days": anonymous,
                         "minimum_days": {} if floor is None else {"kit": floor}}}
    pack = RulePack.model_validate(raw)
    got = (minimum_retention(pack, reporting=reporting, kind="kit", collected_at=COLLECTED,
                             offence_class=offence).until - COLLECTED).days
    if reporting is Reporting.UNRESTRICTED:
        base = min(limit, cap) if (offence is not None and limit is not None) else cap
    elif reporting is Reporting.ANONYMOUS and anonymous is not None:
        base = anonymous
    else:
        base = unreported
    assert got == max(base, floor or 0)
    assert got >= (floor or 0)  # never shorter than the pack's other minimum
    if reporting is Reporting.UNRESTRICTED:
        assert got <= max(cap, floor or 0)  # the cap bounds the statute's period


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
    later = required.until + timedelta(days=365 * 35)
    assert effective_retention(required, later) == later


def test_an_extension_is_only_ever_later():
    current = COLLECTED + timedelta(days=7300)
    later = current + timedelta(days=1)
    assert extended_until(current, until=later, default_days=None, now=COLLECTED) == later
    for bad in (current, current - timedelta(days=1)):
        with pytest.raises(ValidationFailed, match="can only be extended: the item is kept until 2046-02-24"):
            extended_until(current, until=bad, default_days=None, now=COLLECTED)
    assert (extended_until(current, until=None, default_days=365, now=COLLECTED)
            == current + timedelta(days=365))
    with pytest.raises(ValidationFailed, match="sets no default extension"):
        extended_until(current, until=None, default_days=None, now=COLLECTED)


@pytest.mark.parametrize(("days", "text"), [(7300, "20 years"), (365, "1 year"), (400, "400 days"), (1, "1 day")])
def test_period_text(days, text):
    assert period_text(days) == text


@pytest.mark.parametrize(("old", "new", "names"), [
    ("  unreported_retention_days: 7300", "  # removed", "kit.unreported_retention_days: Field required"),
    ("  cap_days: 7300", "  # removed", "kit.reported_retention_days or retention.cap_days: give exactly one"),
    ("  offence_classes: {}", "  offence_classes: {burglary: 10}", "retention.offence_classes.burglary"),
    ("  offence_classes: {}", "  offence_classes: {rape: -5}", "retention.offence_classes.rape: a limitation"),
    ("  cap_days: 7300", "  cap_days: 7300\n  anonymous_days: 20075", "retention.anonymous_days: Extra inputs"),
])
def test_a_broken_retention_block_names_the_field(tmp_path, old, new, names):
    text = (PACK_DIR / "default.yaml").read_text()
    assert old in text
    path = tmp_path / "default.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as exc:
        load_pack(path)
    assert names in exc.value.detail
    assert exc.value.detail.startswith("default.yaml: ")
