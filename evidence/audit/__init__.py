"""Audit bundles: export (database), offline verification, the chain-of-custody view and its PDF report.

Layout: `export` (export_bundle: entries + inclusion proofs + one signed tree head; needs the database),
`custody_rows` (custody rows and gaps read from a bundle's verified bytes; `verify_bundle` = the offline
verifier with the custody gaps as warnings; no database), `report_pdf` (render_custody_pdf). The bundle format
and the offline verifier itself (bytes → leaf → proof → root → signature) are in core.ledger.bundle.
"""

from core.ledger.bundle import BUNDLE_FORMAT, BundleReport, ledger_status
from evidence.audit.custody_rows import custody_gaps, custody_rows, verify_bundle
from evidence.audit.export import MAX_ENTRIES, export_bundle
from evidence.audit.report_pdf import render_custody_pdf

__all__ = [
    "BUNDLE_FORMAT", "MAX_ENTRIES", "BundleReport", "custody_gaps", "custody_rows", "export_bundle", "ledger_status",
    "render_custody_pdf", "verify_bundle",
]
