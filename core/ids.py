"""Opaque, unguessable identifiers for cases and evidence items (80 random bits, Crockford base32)."""

from __future__ import annotations

import re
import secrets
from typing import Annotated

from pydantic import StringConstraints

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U — safe to read aloud and scan
_BODY = 16  # 16 * 5 bits = 80 bits of randomness

PREFIXES = {"case": "C", "item": "E", "transfer": "T", "alert": "A", "user": "U", "lookup": "K", "agency": "Y",
            "review": "V"}
_ID_RE = re.compile(rf"^[A-Z][{_ALPHABET}]{{{_BODY}}}$")


def new_id(kind: str) -> str:
    """Return a fresh opaque id such as 'C7K3M...' for `kind` (case, item, transfer, ...)."""
    prefix = PREFIXES[kind]
    n = secrets.randbits(_BODY * 5)
    body = "".join(_ALPHABET[(n >> (5 * i)) & 31] for i in range(_BODY))
    return prefix + body


def is_valid_id(value: str, kind: str | None = None) -> bool:
    """True when `value` has the shape of an id (of `kind`, if given); used to reject junk early."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return False
    return kind is None or value[0] == PREFIXES[kind]


# A short reference code (seal number, authority or report reference, storage location, paper form): letters,
# digits and . _ : / - only, starting with a letter or digit, so no name or free text can slip in. The one
# definition: pydantic fields use REFERENCE_CODE as their pattern, code checks use is_reference_code.
REFERENCE_CODE = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
REFERENCE_CODE_MAX = 64
# A request field holding a reference code (seal numbers, authority and report references). Use this type, not
# sqlmodel's Field(regex=...): sqlmodel 0.0.50 silently ignores `regex` (free text such as a name went through).
ReferenceCodeStr = Annotated[str, StringConstraints(pattern=REFERENCE_CODE)]
# One line of printable text (no control characters): names of agencies and the like.
PrintableLine = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]+$")]
_REFERENCE_RE = re.compile(REFERENCE_CODE)


def is_reference_code(value: str | None, max_length: int = REFERENCE_CODE_MAX) -> bool:
    """True when `value` is a reference code (REFERENCE_CODE) of at most `max_length` characters."""
    return isinstance(value, str) and 0 < len(value) <= max_length and _REFERENCE_RE.fullmatch(value) is not None
