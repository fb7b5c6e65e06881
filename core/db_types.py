"""Column types of our own: a closed set (a StrEnum) stored as its text value and loaded back as the enum member.

A column declared `Field(sa_type=String(n))` on an enum-typed field loads a plain `str`: a table row then holds
`"swab"` where its model says `ItemKind`, and pydantic warns when such a row is dumped
("PydanticSerializationUnexpectedValue ... Expected `enum`"). `StrEnumText(ItemKind, 24)` keeps the same
VARCHAR(n) column (no migration) and gives the row the member its field declares.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from sqlalchemy import String
from sqlalchemy.types import TypeDecorator


class StrEnumText(TypeDecorator):
    """VARCHAR(length) holding a StrEnum's values; rows load the enum member (an unknown value stays text)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[Enum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        """The member's text value (a plain string is sent as it is, e.g. in a WHERE clause)."""
        return value.value if isinstance(value, Enum) else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        """The enum member the field declares; a value outside the closed set (an older row) stays text."""
        if value is None:
            return None
        try:
            return self.enum(value)
        except ValueError:
            return value

    @property
    def python_type(self) -> type:
        return self.enum
