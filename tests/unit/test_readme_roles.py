"""The README's roles table is generated from ROLE_PERMISSIONS: an out-of-date table fails here."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_roles_table_is_current() -> None:
    gen = runpy.run_path(str(ROOT / "scripts" / "role-table.py"))
    readme = (ROOT / "README.md").read_text()
    assert gen["BEGIN"] in readme and gen["END"] in readme, "README lost its roles-table markers"
    assert gen["replace_in"](readme) == readme, "README roles table is stale: run scripts/role-table.py"


def test_roles_table_says_examiner_cannot_check_in() -> None:
    table = runpy.run_path(str(ROOT / "scripts" / "role-table.py"))["render"]()
    row = next(line for line in table.splitlines() if line.startswith("| `custody:item:check`"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert cells[0] == ""  # examiner column
    assert "✓" in cells[2]  # lab


def test_scripts_up_prints_the_path_line() -> None:
    text = (ROOT / "scripts" / "up").read_text()
    assert 'export PATH=\\"$PWD/.venv/bin:\\$PATH\\"' in text
    assert 'export PATH="$PWD/.venv/bin:$PATH"' in (ROOT / "README.md").read_text()
