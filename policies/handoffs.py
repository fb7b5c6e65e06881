"""The closed sets of consent scopes, handoffs and item kinds (names shared by consent, checkpoint, evidence, flows)."""

from __future__ import annotations

from enum import StrEnum


class ConsentScope(StrEnum):
    """What a survivor (or guardian) can consent to, separately."""

    MEDICAL_CARE = "medical-care"
    FORENSIC_EXAM = "forensic-exam"
    EVIDENCE_SWABS = "evidence-swabs"
    EVIDENCE_CLOTHING = "evidence-clothing"
    EVIDENCE_TOXICOLOGY = "evidence-toxicology"
    PHOTO_RECORD = "photography-record"
    PHOTO_TEACHING = "photography-teaching"
    PHOTO_PUBLICATION = "photography-publication"
    SHARE_ADVOCATE = "share-with-advocate"  # written, with an expiry date (VAWA/FVPSA)
    RELEASE_LAW_ENFORCEMENT = "release-to-law-enforcement"  # written
    LAB_TESTING = "lab-testing"
    REPORT_POLICE = "report-to-police"  # disclosing identity
    STATUS_LOOKUP = "status-lookup"  # enrolment in the anonymous kit-status lookup


class Handoff(StrEnum):
    """Every action the consent checkpoint decides. Each maps to required scopes in policies.checkpoint."""

    MEDICAL_CARE = "medical-care"
    FORENSIC_EXAM = "forensic-exam"
    COLLECT_SWABS = "collect-swabs"
    COLLECT_CLOTHING = "collect-clothing"
    COLLECT_TOXICOLOGY = "collect-toxicology"
    PHOTO_TAKE = "photograph-take"
    PHOTO_VIEW = "photograph-view"
    PHOTO_SHARE_TEACHING = "photograph-share-teaching"
    PHOTO_SHARE_PUBLICATION = "photograph-share-publication"
    ADVOCATE_SHARE = "advocate-read-exam"
    RELEASE_LAW_ENFORCEMENT = "release-to-law-enforcement"
    LAB_TESTING = "lab-testing"
    DISCLOSE_IDENTITY_POLICE = "disclose-identity-to-police"
    STATUS_LOOKUP_ENROL = "status-lookup-enrol"


class ItemKind(StrEnum):
    """What was collected."""

    KIT = "kit"
    SWAB = "swab"
    CLOTHING = "clothing"
    TOXICOLOGY_BLOOD = "toxicology-blood"
    TOXICOLOGY_URINE = "toxicology-urine"
    PHOTOGRAPH = "photograph"
    DOCUMENT = "document"
    DIGITAL_FILE = "digital-file"
    OTHER = "other"


# Kinds handed to law enforcement as items once the release is consented (photographs, documents and files are
# shared, not handed over). The one definition: evidence (the pathway's offers) and the clocks read it.
RELEASABLE_KINDS = frozenset({ItemKind.KIT, ItemKind.SWAB, ItemKind.CLOTHING, ItemKind.TOXICOLOGY_BLOOD,
                              ItemKind.TOXICOLOGY_URINE, ItemKind.OTHER})
