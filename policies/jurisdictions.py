"""Jurisdiction rule packs: every clinical and statutory number lives in policies/jurisdictions/*.yaml.

Each pack is validated on load by a pydantic model (unknown keys are refused, every number is checked);
an error names the file, the key and the problem. Code never holds these numbers.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError, NotFound
from policies.advocacy_rules import FollowUpCheck
from policies.handoffs import ItemKind

PACK_DIR = Path(__file__).resolve().parent / "jurisdictions"


class _Strict(BaseModel):
    """Packs are legal text turned into data: a typo must fail loudly, never be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ClinicalRules(_Strict):
    """Clinical windows, in hours from the assault (or last contact)."""

    evidence_collection_hours: int = Field(gt=0)
    hiv_pep_hours: int = Field(gt=0)
    emergency_contraception_hours: int = Field(gt=0)
    hepatitis_b_hours: int = Field(gt=0)
    toxicology_blood_hours: int = Field(gt=0)
    toxicology_urine_hours: int = Field(gt=0)


class KitRules(_Strict):
    """Kit-tracking deadlines, in days."""

    police_pickup_days: int | None = Field(default=None, gt=0)  # None: the jurisdiction sets none
    lab_submission_days: int = Field(gt=0)  # law enforcement → lab
    lab_analysis_days: int = Field(gt=0)  # lab receipt → analysed
    unreported_retention_days: int = Field(gt=0)  # restricted/anonymous/undecided: kept this long from collection
    # unrestricted (reported) case's items: kept this long from collection; None when `retention.cap_days` gives
    # the federal-style rule instead (statute of limitations or the cap, whichever is shorter)
    reported_retention_days: int | None = Field(default=None, gt=0)
    destruction_notice_days: int = Field(default=60, gt=0)  # notice before destruction (RulePack.notice_days)


class OffenceClass(StrEnum):
    """Closed set of offence classes a pack may give a statute of limitations for (chosen at collection)."""

    RAPE = "rape"
    SEXUAL_ASSAULT = "sexual-assault"
    CHILD_SEXUAL_ABUSE = "child-sexual-abuse"
    OTHER_SEXUAL_OFFENCE = "other-sexual-offence"


class RetentionRules(_Strict):
    """How long items are kept beyond the kit block's periods (policies.retention applies them).

    `cap_days` set: a reported case's items are kept for the offence class's statute of limitations or
    `cap_days`, whichever is shorter (18 USC 3772 style); an item with no class, a class the pack does not list
    or a class with no limitation (null) gets the cap. `anonymous_retention_days`: anonymous reports (Idaho:
    55 years); None keeps them for `kit.unreported_retention_days`. `minimum_days`: a floor per item kind that
    no rule goes below. `default_extension_days`: an extension of preservation with no date given.
    """

    cap_days: int | None = Field(default=None, gt=0)
    offence_classes: dict[OffenceClass, int | None] = Field(default_factory=dict)  # limitation period in days
    anonymous_retention_days: int | None = Field(default=None, gt=0)
    minimum_days: dict[ItemKind, int] = Field(default_factory=dict)  # item kind -> floor (days from collection)
    default_extension_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _periods(self) -> RetentionRules:
        for cls, days in self.offence_classes.items():
            if days is not None and days <= 0:
                raise ValueError(f"retention.offence_classes.{cls}: a limitation period must be > 0 days or null")
        for kind, days in self.minimum_days.items():
            if days <= 0:
                raise ValueError(f"retention.minimum_days.{kind}: must be > 0 days")
        return self


class ConsentRules(_Strict):
    """Consent, age and reporting rules."""

    age_of_consent: int = Field(ge=0, le=21)  # youngest age that can consent to their own care
    mandatory_report_under_age: int = Field(ge=0, le=21)  # a mandatory report applies below this age
    release_requires_written: bool
    facility_notifies_police_hours: int | None = Field(default=None, gt=0)  # None: no facility duty


class AlertRules(_Strict):
    """How early deadline alerts are raised."""

    clinical_lead_hours: int = Field(gt=0)  # "PEP window closes in 6 h"
    kit_lead_days: int = Field(ge=0)  # 0: alert only once a kit deadline has passed


class FollowUpRule(_Strict):
    """One follow-up after the exam (domain.md: 1 week, 6 weeks, 3 months): its name, days after, what it covers."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    days_after_exam: int = Field(gt=0, le=3650)
    checks: tuple[FollowUpCheck, ...] = Field(min_length=1)


DEFAULT_FOLLOWUPS = (
    FollowUpRule(name="1-week", days_after_exam=7, checks=("pep-adherence", "sti-retest", "pregnancy-test")),
    FollowUpRule(name="6-weeks", days_after_exam=42, checks=("hiv-retest", "sti-retest")),
    FollowUpRule(name="3-months", days_after_exam=90, checks=("hiv-retest",)),
)


class RulePack(_Strict):
    """One jurisdiction's rules; `code` must equal the file's stem."""

    code: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    name: str = Field(min_length=1, max_length=100)
    clinical: ClinicalRules
    kit: KitRules
    consent: ConsentRules
    alerts: AlertRules
    retention: RetentionRules = Field(default_factory=RetentionRules)
    followups: tuple[FollowUpRule, ...] = DEFAULT_FOLLOWUPS  # advocacy follow-ups (policies.advocacy_followups)

    @model_validator(mode="after")
    def _coherent(self) -> RulePack:
        if self.consent.mandatory_report_under_age < self.consent.age_of_consent:
            raise ValueError("consent.mandatory_report_under_age must not be below consent.age_of_consent")
        if (self.kit.reported_retention_days is None) == (self.retention.cap_days is None):
            raise ValueError("kit.reported_retention_days or retention.cap_days: give exactly one (a fixed period "
                             "for reported items, or the cap of 'statute of limitations or cap, whichever is "
                             "shorter')")
        return self

    @property
    def notice_days(self) -> int:
        """Days of notice before destruction (kit.destruction_notice_days; 60 when the pack does not say)."""
        return self.kit.destruction_notice_days

    def hours(self, name: str) -> timedelta:
        """A clinical window as a timedelta, e.g. pack.hours('hiv_pep_hours')."""
        return timedelta(hours=getattr(self.clinical, name))

    def days(self, name: str) -> timedelta:
        """A kit deadline as a timedelta, e.g. pack.days('lab_submission_days')."""
        return timedelta(days=getattr(self.kit, name))


def load_pack(path: Path) -> RulePack:
    """Load and validate one YAML pack; ConfigError names the file, the key and the problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: (top level): must be a mapping of keys to values")
    try:
        pack = RulePack.model_validate(raw)
    except ValidationError as exc:
        # Every problem at once (a misspelt key shows as "missing" and "extra"), each as "file: key: problem".
        problems = [f"{path.name}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                    for e in exc.errors()]
        raise ConfigError("; ".join(problems)) from None
    if pack.code != path.stem:
        raise ConfigError(f"{path.name}: code: {pack.code!r} does not match the file name {path.stem!r}")
    return pack


def load_dir(directory: Path) -> dict[str, RulePack]:
    """Load every *.yaml pack in `directory`; the first invalid file stops the load (fail closed)."""
    return {p.stem: load_pack(p) for p in sorted(directory.glob("*.yaml"))}


@lru_cache(maxsize=1)
def installed_packs() -> dict[str, RulePack]:
    """The packs shipped in policies/jurisdictions/, loaded once."""
    packs = load_dir(PACK_DIR)
    if "default" not in packs:
        raise ConfigError("jurisdictions: the 'default' pack is missing")
    return packs


def get_pack(code: str) -> RulePack:
    """The pack for `code`, or NotFound listing the installed ones."""
    packs = installed_packs()
    try:
        return packs[code]
    except KeyError:
        raise NotFound(f"unknown jurisdiction {code!r}; installed: {', '.join(sorted(packs))}") from None
