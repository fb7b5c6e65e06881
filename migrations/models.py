"""Every module that defines table models; Alembic's env and tests import them all from here."""

import importlib

MODEL_MODULES = (
    "policies.agencies",
    "policies.authz",
    "policies.access",
    "core.ledger",
    "core.cases",
    "core.outbox",
    "core.dbhealth",
    "flows.steps",
    "policies.consent",
    "policies.deadlines",
    "policies.clinical",
    "policies.advocacy",
    "policies.advocacy_models",
    "evidence.items",
    "evidence.custody.models",
    "evidence.files",
    "evidence.lookup",
    "evidence.lookup_models",
    "evidence.incidents",
    "evidence.verification",
    "policies.sessions",
    "core.crypto",
    "evidence.erasure",
    "policies.review.models",
    "policies.notice",
    "evidence.destruction",
)


def import_all() -> None:
    """Import every model module so SQLModel.metadata knows every table."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
