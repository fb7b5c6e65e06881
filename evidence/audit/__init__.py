"""Audit bundles: export (database), offline verification, the chain-of-custody view and its PDF report.

Layout: `export` (export_bundle: entries + inclusion proofs + one signed tree head + the staff directory + a
signed scope head; needs the database), `staff` (the staff directory), `custody_rows` (custody rows and gaps read
from a bundle's verified bytes; `verify_bundle` = the offline verifier with the custody gaps as warnings; no
database), `report_pdf` (render_custody_pdf). The bundle format and the offline verifier itself (bytes → leaf →
proof → root → signature, completeness against the scope head) are in core.ledger.bundle.

The offline names are imported at once; `export_bundle` (database, staff tables) and the PDF are loaded on first
use (PEP 562), so `coc audit verify-bundle` loads no database or policy code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from core.ledger.bundle import BUNDLE_FORMAT, BundleReport, ledger_status
from evidence.audit.custody_rows import custody_gaps, custody_rows, verify_bundle

if TYPE_CHECKING:
    from evidence.audit.export import MAX_ENTRIES, export_bundle
    from evidence.audit.report_pdf import render_custody_pdf

_LAZY = {"MAX_ENTRIES": "evidence.audit.export", "export_bundle": "evidence.audit.export",
         "render_custody_pdf": "evidence.audit.report_pdf"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUNDLE_FORMAT", "MAX_ENTRIES", "BundleReport", "custody_gaps", "custody_rows", "export_bundle", "ledger_status",
    "render_custody_pdf", "verify_bundle",
]
