"""The CLI never renders Rich emoji or markup from data."""

from __future__ import annotations

import pytest
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


def test_error_details_are_printed_verbatim_not_as_markup(capsys):
    """An API detail repeats typed text (a location, a reason): brackets in it must print as they are."""
    from api.cli.common import fail

    for detail in ("item is checked in at SHELF[/seal]", "at [bold]desk[/bold] 3", "[abc] kept"):
        with pytest.raises(typer.Exit) as exit_:
            fail(detail)
        assert exit_.value.exit_code == 1
        assert detail in capsys.readouterr().err
