"""The consent checkpoint, one concern per module; import the package (`from policies import checkpoint`).

- `rules`: the requirement table (REQUIREMENTS) and its pure evaluation over the consent state, the overrides
  in force and the case's facts (`evaluate`, `CaseFacts`), no Session;
- `service`: `decide` (loads the state, evaluates, ledgers the decision) and `enforce` (commits a denial and
  raises ConsentRequired).
"""

from policies.checkpoint.rules import (
    REQUIREMENTS,
    CaseFacts,
    Evaluation,
    Requirement,
    evaluate,
    override_covers,
    requirement_for,
    scope_problem,
)
from policies.checkpoint.service import CheckpointDecision, decide, enforce

__all__ = ["REQUIREMENTS", "CaseFacts", "CheckpointDecision", "Evaluation", "Requirement", "decide", "enforce",
           "evaluate", "override_covers", "requirement_for", "scope_problem"]
