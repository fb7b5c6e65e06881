"""Request and response shapes of consent decisions and overrides (validation of what a caller sends)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, field_validator, model_validator

from core.clock import require_offset
from policies.consent.models import ConsentDecisionBase, ConsentOverrideBase, Decision, Method, OverrideBasis
from policies.consent.rules import EXPIRY_REQUIRED, OVERRIDABLE, check_ref


class ConsentDecisionCreate(ConsentDecisionBase):
    """Request body for recording a consent decision."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    @field_validator("expires_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    @field_validator("form_ref")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return check_ref(v, "form_ref")

    @model_validator(mode="after")
    def _rules(self) -> ConsentDecisionCreate:
        if self.method is Method.WRITTEN and not self.form_ref:
            raise ValueError("a written decision needs form_ref, the signed form's reference")
        if self.decision is Decision.GRANTED and self.scope in EXPIRY_REQUIRED and self.expires_at is None:
            raise ValueError(f"consent to {self.scope} must have an expiry date (expires_at)")
        if self.decision is not Decision.GRANTED and self.expires_at is not None:
            raise ValueError("only a grant can carry an expiry date")
        return self


class ConsentDecisionPublic(ConsentDecisionBase):
    """A decision as shown through the API."""

    id: int
    case_id: str
    decided_at: datetime
    recorded_by: str
    ledger_seq: int
    ledger_hash: str


class ConsentOverrideCreate(ConsentOverrideBase):
    """Request body for recording an override."""

    model_config = ConfigDict(extra="forbid")  # unknown fields are refused (422), never dropped

    @field_validator("expires_at")
    @classmethod
    def _with_offset(cls, v: datetime | None) -> datetime | None:
        return require_offset(v)

    @field_validator("legal_basis")
    @classmethod
    def _basis(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("legal_basis must name the statute or order relied on")
        return v.strip()

    @field_validator("reference")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return check_ref(v, "reference")

    @model_validator(mode="after")
    def _rules(self) -> ConsentOverrideCreate:
        if self.scope not in OVERRIDABLE[self.basis]:
            raise ValueError(f"a {self.basis} override cannot apply to {self.scope}")
        if self.basis is OverrideBasis.COURT_ORDER and not self.reference:
            raise ValueError("a court-order override needs the order's reference")
        return self


class ConsentOverridePublic(ConsentOverrideBase):
    """An override as shown through the API."""

    id: int
    case_id: str
    recorded_at: datetime
    recorded_by: str
    ledger_seq: int
    ledger_hash: str
