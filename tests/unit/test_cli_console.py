"""The CLI never renders Rich emoji or markup from data."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from api.cli import common


def _run(fn) -> tuple[str, str]:
    app = typer.Typer()
    app.command()(fn)
    res = CliRunner().invoke(app, [])
    return res.stdout, res.stderr


def test_fail_prints_permission_names_literally() -> None:
    def cmd() -> None:
        common.fail("403 Forbidden: role examiner does not allow audit:ledger:verify")

    _, err = _run(cmd)
    assert "audit:ledger:verify" in err and "📒" not in err


def test_tables_print_data_literally() -> None:
    def cmd() -> None:
        common.emit([{"permission": "audit:ledger:verify", "note": "[bold]x[/bold] :smile:"}], False, title="T")
        common.emit({"permission": "audit:ledger:verify", "note": "[red]y[/red]"}, False)
        common.emit("plain :ledger: [b]z[/b]", False)

    out, _ = _run(cmd)
    assert out.count("audit:ledger:verify") == 2 and "📒" not in out and "😄" not in out
    assert "[bold]x[/bold] :smile:" in out and "[red]y[/red]" in out and "plain :ledger: [b]z[/b]" in out
