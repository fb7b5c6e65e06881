"""CommitRoute: a sync handler's session commits in the handler's own thread, before the dependency exits."""
# No `from __future__ import annotations` here: FastAPI must resolve the locally declared `Dep` alias.

import threading
from collections.abc import Iterator
from typing import Annotated

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from api.deps import CommitRoute


@pytest.fixture
def harness():
    """An app with one CommitRoute router over a SQLite table; records where commits happen."""
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False},
                           poolclass=sa.pool.StaticPool)
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE t (v INTEGER)")
    seen: dict[str, object] = {"commits": [], "exit_in_tx": None}

    def on_commit(session: OrmSession) -> None:
        seen["commits"].append(threading.get_ident())

    sa.event.listen(OrmSession, "after_commit", on_commit)

    def get_session() -> Iterator[Session]:
        with Session(engine) as s:
            try:
                yield s
                seen["exit_in_tx"] = s.in_transaction()
                s.commit()
            except BaseException:
                s.rollback()
                raise

    Dep = Annotated[Session, Depends(get_session, scope="function")]
    router = APIRouter(route_class=CommitRoute)

    @router.post("/ok")
    def ok(session: Dep) -> dict:
        session.connection().exec_driver_sql("INSERT INTO t VALUES (1)")
        seen["handler"] = threading.get_ident()
        return {"ok": True}

    @router.post("/fail")
    def fail(session: Dep) -> dict:
        session.connection().exec_driver_sql("INSERT INTO t VALUES (2)")
        raise RuntimeError("handler failed")

    @router.post("/async")
    async def async_handler(session: Dep) -> dict:
        session.connection().exec_driver_sql("INSERT INTO t VALUES (3)")
        return {"ok": True}

    app = FastAPI()
    app.include_router(router)
    yield TestClient(app, raise_server_exceptions=False), engine, seen
    sa.event.remove(OrmSession, "after_commit", on_commit)


def rows(engine) -> list[int]:
    with engine.connect() as c:
        return [r[0] for r in c.exec_driver_sql("SELECT v FROM t ORDER BY v")]


def test_sync_handler_commits_in_its_own_thread(harness):
    """The commit runs in the handler's thread; the dependency finds nothing left to commit."""
    client, engine, seen = harness
    assert client.post("/ok").status_code == 200
    assert seen["commits"] and seen["commits"][0] == seen["handler"]
    assert seen["exit_in_tx"] is False
    assert rows(engine) == [1]


def test_failing_handler_commits_nothing(harness):
    """A handler that raises is not committed: the dependency rolls it back."""
    client, engine, seen = harness
    assert client.post("/fail").status_code == 500
    assert seen["commits"] == []
    assert rows(engine) == []


def test_async_handler_is_left_to_the_dependency(harness):
    """Async handlers are not wrapped: the dependency commits them as before."""
    client, engine, seen = harness
    assert client.post("/async").status_code == 200
    assert seen["exit_in_tx"] is True
    assert rows(engine) == [3]
