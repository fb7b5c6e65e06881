"""core.db_types.StrEnumText: a StrEnum stored as its text, loaded back as the member (no database needed)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.dialects import postgresql, sqlite

from core.db_types import StrEnumText


class Colour(StrEnum):
    RED = "red"
    DARK_BLUE = "dark-blue"


def test_binds_the_text_and_loads_the_member():
    t = StrEnumText(Colour, 12)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert t.process_bind_param(Colour.DARK_BLUE, dialect) == "dark-blue"
        assert type(t.process_bind_param(Colour.DARK_BLUE, dialect)) is str
        assert t.process_bind_param("red", dialect) == "red"  # a plain string (a WHERE clause) is sent as is
        assert t.process_bind_param(None, dialect) is None
        loaded = t.process_result_value("dark-blue", dialect)
        assert type(loaded) is Colour and loaded is Colour.DARK_BLUE
        assert t.process_result_value(None, dialect) is None
        assert t.process_result_value("purple", dialect) == "purple"  # outside the closed set: stays text


def test_same_column_as_before():
    """VARCHAR(n) as the String(n) it replaces: no migration."""
    t = StrEnumText(Colour, 12)
    assert isinstance(t.impl, String) and t.impl.length == 12
    assert t.compile(dialect=postgresql.dialect()) == "VARCHAR(12)"
    assert t.compile(dialect=sqlite.dialect()) == "VARCHAR(12)"
    assert t.python_type is Colour
