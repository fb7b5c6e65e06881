"""Jurisdiction rule packs: every shipped pack loads; a broken pack names file, key and problem."""

from __future__ import annotations

import pytest

from core.errors import ConfigError, NotFound
from policies.jurisdictions import PACK_DIR, get_pack, installed_packs, load_dir, load_pack

GOOD = (PACK_DIR / "default.yaml").read_text()


@pytest.mark.parametrize("path", sorted(PACK_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_shipped_pack_loads(path):
    pack = load_pack(path)
    assert pack.code == path.stem
    assert pack.clinical.hiv_pep_hours == 72 and pack.clinical.emergency_contraception_hours == 120
    assert pack.consent.release_requires_written


def test_installed_packs_and_statutory_numbers():
    packs = installed_packs()
    assert {"default", "us-wa", "us-tx", "us-mi"} <= set(packs)
    assert (packs["us-wa"].kit.lab_submission_days, packs["us-wa"].kit.lab_analysis_days) == (30, 45)
    assert (packs["us-tx"].kit.lab_submission_days, packs["us-tx"].kit.lab_analysis_days) == (30, 90)
    mi = packs["us-mi"]
    assert (mi.kit.police_pickup_days, mi.kit.lab_submission_days, mi.kit.lab_analysis_days) == (14, 14, 90)
    assert mi.kit.destruction_notice_days == 60 and mi.consent.facility_notifies_police_hours == 24
    assert packs["us-tx"].consent.age_of_consent == 14


def test_unknown_jurisdiction_lists_installed():
    with pytest.raises(NotFound, match="installed: default"):
        get_pack("xx-nowhere")


@pytest.mark.parametrize(("mutation", "key", "problem"), [
    (("hiv_pep_hours: 72", "hiv_pep_hours: -1"), "clinical.hiv_pep_hours", "greater than 0"),
    (("hiv_pep_hours: 72", "hiv_pep_hours: soon"), "clinical.hiv_pep_hours", "valid integer"),
    (("lab_analysis_days: 90", "lab_analysis_dayz: 90"), "kit.lab_analysis_dayz", "Extra inputs"),
    (("release_requires_written: true", "# removed"), "consent.release_requires_written", "Field required"),
    (("code: default", "code: elsewhere"), "code", "does not match"),
])
def test_broken_pack_names_file_key_and_problem(tmp_path, mutation, key, problem):
    old, new = mutation
    assert old in GOOD
    path = tmp_path / "default.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as exc:
        load_pack(path)
    problems = exc.value.detail.split("; ")
    assert any(p.startswith(f"default.yaml: {key}: ") and problem in p for p in problems), problems


def test_invalid_yaml_and_non_mapping(tmp_path):
    (tmp_path / "a.yaml").write_text("code: [unclosed")
    with pytest.raises(ConfigError, match=r"^a\.yaml: not valid YAML"):
        load_dir(tmp_path)
    (tmp_path / "a.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"^a\.yaml: \(top level\)"):
        load_dir(tmp_path)


def test_incoherent_ages_are_refused(tmp_path):
    path = tmp_path / "default.yaml"
    path.write_text(GOOD.replace("mandatory_report_under_age: 18", "mandatory_report_under_age: 10"))
    with pytest.raises(ConfigError, match="mandatory_report_under_age must not be below"):
        load_pack(path)
