"""Lawful erasure by crypto-shredding: models · rules (PURE: two-person rule, holds) · service."""

from evidence.erasure.models import (
    ErasureBasis,
    ErasureProposal,
    ErasurePublic,
    ErasureRequest,
    ErasureState,
    ErasureStatus,
)
from evidence.erasure.service import (
    approve_erasure,
    erasure_state,
    held_item_ids,
    propose_erasure,
    to_public,
    withdraw_erasure,
)

__all__ = [
    "ErasureBasis", "ErasureProposal", "ErasurePublic", "ErasureRequest", "ErasureState", "ErasureStatus",
    "approve_erasure", "erasure_state", "held_item_ids", "propose_erasure", "to_public",
    "withdraw_erasure",
]
