"""The free text behind a bundle's commitments (needs the database and the case keys).

Since revision 0023 a ledger entry holds, for each free text staff typed (reason, condition, seal number, form
reference, late justification, override legal basis and reference, lab report and destruction references,
incident finding, break-glass reason), only its keyed commitment (core.crypto.texts). The export adds a `texts`
list OUTSIDE the signed entries: for each committed field of each entry, the text decrypted now and whether it
matches the entry's commitment (recomputed under the case key). After a lawful erasure the text is "[erased]"
and `matches` is null: the entries and every proof are unchanged, so the bundle still verifies.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from core.crypto import check_text, is_commitment, show_text

# ledger data fields that may hold a commitment to free text
TEXT_FIELDS = ("reason", "condition", "seal_number", "previous_seal_number", "form_ref", "late_justification",
               "legal_basis", "reference", "report_ref", "authority_ref", "finding")


def bundle_texts(session: Session, docs: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """[{seq, field, commitment, text, matches}] for every committed free-text field of the entries."""
    out = []
    for seq, doc in docs:
        data, case_id = doc.get("data"), doc.get("case")
        if not isinstance(data, dict) or not isinstance(case_id, str):
            continue
        for field in TEXT_FIELDS:
            value = data.get(field)
            if not is_commitment(value):
                continue
            text = show_text(session, case_id, value)
            if text == value:  # not a kept text of this case (e.g. a digest that only looks like one)
                continue
            out.append({"seq": seq, "field": field, "commitment": value, "text": text,
                        "matches": check_text(session, case_id, text, value)})
    return out
