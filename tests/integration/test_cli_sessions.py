"""The `coc` CLI against the real app on loopback (SQLite and PostgreSQL): the API address given at login is
kept, an expired access token is renewed without the password, `coc logout` ends the session on the server,
and `coc report compliance` writes the agency report."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from api.auth.issuer import mint_token
from api.cli.main import app
from policies.authz import User
from tests.evidence_support import TEST_AGENCY_NAMES
from tests.unit.test_cli_live import LiveApi, live_api  # noqa: F401 - the fixture


@pytest.fixture
def cli(live_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811 - fixture use
    """Run `coc ARGS` with a private config dir and NO COC_API_URL: the address comes from the login."""
    monkeypatch.setenv("COC_CONFIG_DIR", str(tmp_path / "coc-config"))
    monkeypatch.delenv("COC_API_URL", raising=False)
    monkeypatch.delenv("COC_TOKEN", raising=False)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def test_login_keeps_the_address_renews_expired_tokens_and_logout_ends_the_session(
        cli, live_api, tmp_path, clock):  # noqa: F811
    staff = live_api.user("examiner")
    res = cli("login", "--api", live_api.url, "--username", staff.user.username, "--password", staff.password)
    assert res.exit_code == 0, res.output
    cfg_dir = tmp_path / "coc-config"
    assert json.loads((cfg_dir / "config.json").read_text())["api_url"] == live_api.url
    refresh_file = cfg_dir / "refresh-token"
    assert stat.S_IMODE(os.stat(refresh_file).st_mode) == 0o600
    assert cli("whoami", "--json").exit_code == 0  # no --api: the saved address

    # The 15-minute access token has expired: the next command renews it with the refresh token, silently.
    h = live_api.harness
    with Session(h.engine) as s:
        expired = mint_token(h.settings, h.app.state.issuer_keys, s.get(User, staff.id), ttl_s=-3600)
    (cfg_dir / "token").write_text(expired)
    first_refresh = refresh_file.read_text()
    res = cli("whoami", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["username"] == staff.user.username
    assert (cfg_dir / "token").read_text() != expired and refresh_file.read_text() != first_refresh

    current = refresh_file.read_text()
    res = cli("logout")
    assert res.exit_code == 0 and "logged out" in res.stdout
    assert not refresh_file.exists() and not (cfg_dir / "token").exists()
    refused = httpx.post(f"{live_api.url}/auth/refresh", json={"refresh_token": current})
    assert refused.status_code == 401  # revoked on the server, not only forgotten here


def test_report_compliance_cli(cli, live_api, tmp_path, clock):  # noqa: F811
    coordinator = live_api.user("coordinator")
    live_api.user("law_enforcement")  # creates the test police force
    res = cli("login", "--api", live_api.url, "--username", coordinator.user.username,
              "--password", coordinator.password)
    assert res.exit_code == 0, res.output
    police = TEST_AGENCY_NAMES["police"]
    res = cli("report", "compliance", "--agency", police, "--json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["agency"]["name"] == police and body["handoffs"] == [] and body["overdue"] == []
    out = tmp_path / "report.csv"
    res = cli("report", "compliance", "--agency", police, "--csv", str(out))
    assert res.exit_code == 0 and out.read_text().startswith("section,item_id,item_kind")
    pdf = tmp_path / "report.pdf"
    assert cli("report", "compliance", "--agency", police, "--pdf", str(pdf)).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    res = cli("report", "compliance", "--agency", police)
    assert res.exit_code == 0 and "0 handoffs received, 0 overdue" in res.stdout
