"""Session-wide real services and per-test fresh databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.stack import ports
from core import migrate
from core.actors import Actor
from core.clock import ManualClock, set_clock
from core.db import dispose_engines, make_engine
from evidence.bootstrap import wire
from tests.services import PgTemplates, start_postgres


def pytest_configure(config) -> None:
    """Each xdist worker draws the ports of its stacks (and their children's internal ports, through the
    inherited environment) from a range of its own, so two workers never pick the same port at the same moment
    (api.stack.ports; a stack's API once found its port taken by the other worker's S3 store)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count < 2 or ports.RANGE_ENV in os.environ:
        return
    os.environ[ports.RANGE_ENV] = ports.share(int(worker[2:]), count)


@pytest.fixture(autouse=True, scope="session")
def _composition_root() -> None:
    """Every test process wires the hooks the way the API, the flows and `coc up` do (evidence.bootstrap)."""
    wire()

pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.prefect", "tests.fixtures.stack", "tests.fixtures.topology",
                  "tests.fixtures.harness"]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sqlite-tmpl") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def pg_templates(tmp_path_factory) -> Iterator[PgTemplates]:
    # Not under pytest's basetemp: concurrent pytest sessions prune each other's old basetemps,
    # which would pull the data directory from under a running server.
    workdir = Path(tempfile.mkdtemp(prefix="coc-pg-"))
    admin_url, stop = start_postgres(workdir)
    templates = PgTemplates(admin_url)
    yield templates
    templates.admin.dispose()
    stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, _sqlite_template) -> Iterator[str]:
    """A freshly migrated database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "coc.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    templates: PgTemplates = request.getfixturevalue("pg_templates")
    url = templates.fresh()
    yield url
    dispose_engines()
    templates.drop(url)


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    """An engine on the fresh database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    """A session on the fresh database; the test commits what it wants kept."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """A manual clock installed process-wide for the test."""
    c = ManualClock(datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    previous = set_clock(c)
    yield c
    set_clock(previous)


@pytest.fixture
def examiner() -> Actor:
    """A forensic examiner actor (staff id, not survivor data)."""
    return Actor(id="U-examiner-1", role="examiner")
