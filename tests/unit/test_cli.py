"""The `coc` CLI against a real app served on loopback (SQLite and PostgreSQL): typer's CliRunner, no mocks."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


@pytest.fixture
def cli(live_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811 - fixture use
    """Run `coc ARGS` against the live API with a private config dir; returns the Result."""
    monkeypatch.setenv("COC_CONFIG_DIR", str(tmp_path / "coc-config"))
    monkeypatch.setenv("COC_API_URL", live_api.url)
    monkeypatch.delenv("COC_TOKEN", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


def login_as(cli, live_api: LiveApi, role: str, **kwargs):  # noqa: F811
    """Create a staff user of `role` and log the CLI in as them; returns the StaffUser."""
    staff = live_api.user(role, **kwargs)
    result = cli("login", "--username", staff.user.username, "--password", staff.password)
    assert result.exit_code == 0, result.output
    return staff


def test_login_stores_token_privately_and_never_prints_it(cli, live_api, tmp_path):  # noqa: F811
    staff = login_as(cli, live_api, "examiner")
    token_file = tmp_path / "coc-config" / "token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token.count(".") == 2  # a JWT
    result = cli("whoami", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["username"] == staff.user.username
    assert token not in result.output


def test_login_with_a_wrong_password_exits_1_with_the_api_detail(cli, live_api):  # noqa: F811
    staff = live_api.user("examiner")
    result = cli("login", "--username", staff.user.username, "--password", "wrong-" + staff.password)
    assert result.exit_code == 1
    assert "401" in result.output


def test_commands_need_a_login(cli):
    result = cli("case", "list")
    assert result.exit_code == 1
    assert "coc login" in result.output


def test_usage_error_exits_2(cli):
    assert cli("case", "open", "--no-such-option").exit_code == 2
