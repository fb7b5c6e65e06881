"""flows/prefect_runner.py's latency patches on Prefect (pinned at 3.8.8): the patch points are still where the
patches expect them (these tests fail loudly after a Prefect upgrade that moves them), another Prefect version
is refused (Prefect's own behaviour stays), the patches do what they say, COC_RUNNER_START=spawn /
COC_RUNNER_QUIET_POLLS=0 keep Prefect's own behaviour, and the modules preloaded in the forkserver start nothing
at import (the forkserver must stay a clean, single-threaded process). Also flows/serve.py's backstop rule."""

from __future__ import annotations

import asyncio
import inspect
import json
import multiprocessing
import multiprocessing.forkserver
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import prefect.flow_engine as flow_engine
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.runner import Runner, _starter_direct
from prefect.runner._scheduled_run_poller import ScheduledRunPoller

from core.settings import Settings
from flows import prefect_runner as runner_patches
from flows import serve

REPO = Path(__file__).resolve().parents[2]


# -- patch points ---------------------------------------------------------------------------------------------
def test_flow_runs_still_start_through_flow_engine_multiprocessing_spawn():
    source = inspect.getsource(flow_engine.run_flow_in_subprocess)
    assert source.count('multiprocessing.get_context("spawn")') == 1, (
        "prefect.flow_engine.run_flow_in_subprocess no longer calls multiprocessing.get_context(\"spawn\"): "
        "flows/prefect_runner.py install_warm_start patches that call; re-check it against this Prefect version")
    assert flow_engine.multiprocessing is multiprocessing, "flow_engine's `multiprocessing` is not the module"
    assert runner_patches.patch_point_intact()


def test_the_runner_runs_flow_objects_through_run_flow_in_subprocess():
    """Runner.add_flow keeps the flow object, and a run of it goes through flow_engine.run_flow_in_subprocess."""
    assert "register_flow(" in inspect.getsource(Runner.aadd_flow)
    assert "DirectSubprocessStarter(" in inspect.getsource(Runner.__aenter__)
    assert "run_flow_in_subprocess(" in inspect.getsource(_starter_direct.DirectSubprocessStarter.start)
    assert _starter_direct.run_flow_in_subprocess is flow_engine.run_flow_in_subprocess


def test_the_runner_still_polls_through_get_scheduled_flow_runs_for_deployments():
    assert "self._client.get_scheduled_flow_runs_for_deployments(" in inspect.getsource(
        ScheduledRunPoller._get_scheduled_flow_runs), "the runner's poll moved: re-check flows/prefect_runner.py"
    params = list(inspect.signature(PrefectClient.get_scheduled_flow_runs_for_deployments).parameters)
    assert params == ["self", "deployment_ids", "scheduled_before", "limit"]
    assert runner_patches.poll_patch_point_intact()


# -- the forkserver -------------------------------------------------------------------------------------------
@pytest.fixture
def no_real_forkserver(monkeypatch):
    """Record what install_warm_start asks of multiprocessing without starting a forkserver in this process;
    flow_engine's `multiprocessing` is restored after the test."""
    calls: dict[str, object] = {}
    monkeypatch.setattr(flow_engine, "multiprocessing", multiprocessing)
    monkeypatch.setattr(multiprocessing.forkserver, "set_forkserver_preload",
                        lambda names: calls.__setitem__("preload", list(names)))
    monkeypatch.setattr(multiprocessing.forkserver, "ensure_running", lambda: calls.__setitem__("started", True))
    return calls


def test_spawn_becomes_the_preloaded_forkserver_in_flow_engine_only(no_real_forkserver):
    assert runner_patches.install_warm_start() == "forkserver"
    patched = flow_engine.multiprocessing
    assert patched.get_context("spawn") is multiprocessing.get_context("forkserver")
    assert patched.get_context("fork") is multiprocessing.get_context("fork")  # other methods pass through
    assert patched.context is multiprocessing.context  # and so does every other attribute
    assert multiprocessing.get_context("spawn").get_start_method() == "spawn"  # the real module is untouched
    assert no_real_forkserver == {"preload": list(runner_patches.WARM_MODULES), "started": True}
    assert runner_patches.install_warm_start() == "forkserver" and flow_engine.multiprocessing is patched  # idempotent


@pytest.mark.parametrize("value", ["spawn", "SPAWN", "fork"])
def test_coc_runner_start_spawn_keeps_prefects_default(no_real_forkserver, monkeypatch, value):
    """`spawn` (and, with a warning, anything unknown) leaves Prefect's spawn in place."""
    monkeypatch.setenv("COC_RUNNER_START", value)
    assert runner_patches.install_warm_start(Settings().runner_start) == "spawn"
    assert flow_engine.multiprocessing is multiprocessing
    assert no_real_forkserver == {}


def test_preloaded_modules_import_and_start_nothing():
    """In a fresh interpreter, as in the forkserver: every module imports (an ImportError there would be
    skipped silently), and importing them starts no thread, event loop, database engine or socket."""
    script = """
import asyncio, gc, json, os, sys, threading
from flows.prefect_runner import WARM_MODULES
def sockets():
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return sorted(f for f in fds if f.startswith("socket:"))
before = sockets()
for name in WARM_MODULES:
    __import__(name)
import sqlalchemy.engine
import core.db
print(json.dumps({
    "threads": [t.name for t in threading.enumerate()],
    "engines": sum(isinstance(o, sqlalchemy.engine.Engine) for o in gc.get_objects()),
    "core_db_engines": len(core.db._engines),
    "event_loop": asyncio.get_event_loop_policy()._local._loop is not None,
    "new_sockets": sorted(set(sockets()) - set(before)),
    "missing": [n for n in WARM_MODULES if n not in sys.modules],
}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"threads": ["MainThread"], "engines": 0, "core_db_engines": 0, "event_loop": False,
                     "new_sockets": [], "missing": []}


# -- quiet polls ------------------------------------------------------------------------------------------------
class _FakeClient:
    def __init__(self) -> None:
        self.reads: list[dict] = []

    async def read_flow_runs(self, **kwargs):
        self.reads.append(kwargs)
        return ["read"]


def test_quiet_poll_makes_the_real_call_once_per_interval_and_reads_otherwise():
    now = [100.0]
    real: list[tuple] = []

    async def original(self, deployment_ids, scheduled_before=None, limit=None):
        real.append((deployment_ids, scheduled_before, limit))
        return ["real"]

    poll = runner_patches.quiet_poll(original, every_s=10.0, clock=lambda: now[0])
    client = _FakeClient()
    ids = [uuid4(), uuid4()]
    before = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    async def polls():
        results = [await poll(client, ids, before)]  # first poll: the real call (marks deployments ready)
        now[0] += 0.2
        results.append(await poll(client, ids, before))
        now[0] += 9.9
        results.append(await poll(client, ids, before, 5))  # 10.1 s after the real call: real again
        return results

    assert asyncio.run(polls()) == [["real"], ["read"], ["real"]]
    assert real == [(ids, before, None), (ids, before, 5)]
    (read,) = client.reads
    # The same query the server's /deployments/get_scheduled_flow_runs runs.
    assert read["deployment_filter"].id.any_ == ids
    assert read["flow_run_filter"].state.type.any_ == [StateType.SCHEDULED]
    assert read["flow_run_filter"].next_scheduled_start_time.before_ == before
    assert read["sort"] == FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC
    assert read["limit"] is None


def test_install_quiet_polls_patches_prefect_client_once(monkeypatch):
    original = PrefectClient.get_scheduled_flow_runs_for_deployments
    monkeypatch.setattr(PrefectClient, "get_scheduled_flow_runs_for_deployments", original)
    assert runner_patches.install_quiet_polls()
    patched = PrefectClient.get_scheduled_flow_runs_for_deployments
    assert patched is not original and patched.coc_quiet_poll
    assert runner_patches.install_quiet_polls() and PrefectClient.get_scheduled_flow_runs_for_deployments is patched


def test_quiet_polls_can_be_turned_off(monkeypatch):
    original = PrefectClient.get_scheduled_flow_runs_for_deployments
    monkeypatch.setattr(PrefectClient, "get_scheduled_flow_runs_for_deployments", original)
    monkeypatch.setenv("COC_RUNNER_QUIET_POLLS", "0")
    assert not runner_patches.install_quiet_polls(Settings().runner_quiet_polls)
    assert PrefectClient.get_scheduled_flow_runs_for_deployments is original


# -- the version guard ------------------------------------------------------------------------------------------
def test_only_the_pinned_prefect_version_passes_the_guard():
    assert runner_patches.prefect_pinned()  # the installed Prefect is the pin (pyproject.toml)
    assert runner_patches.prefect_pinned("3.8.8")
    for other in ("3.8.9", "3.9.0", "3.8.8rc1", "4.0.0", "3.8", ""):
        assert not runner_patches.prefect_pinned(other), other


@pytest.mark.parametrize("version", ["3.8.9", "4.0.0"])
def test_another_prefect_version_keeps_prefects_own_start_and_polls(no_real_forkserver, monkeypatch, caplog,
                                                                     version):
    """With any Prefect but the pinned one neither patch is applied, even where the patch points look intact."""
    import prefect

    original = PrefectClient.get_scheduled_flow_runs_for_deployments
    monkeypatch.setattr(PrefectClient, "get_scheduled_flow_runs_for_deployments", original)
    monkeypatch.setattr(prefect, "__version__", version)
    assert runner_patches.patch_point_intact() and runner_patches.poll_patch_point_intact()
    assert runner_patches.install_warm_start() == "spawn"
    assert flow_engine.multiprocessing is multiprocessing
    assert no_real_forkserver == {}
    assert not runner_patches.install_quiet_polls()
    assert PrefectClient.get_scheduled_flow_runs_for_deployments is original
    assert sum(f"Prefect {version} is not the pinned 3.8.8" in r.getMessage() for r in caplog.records) == 2


# -- the outbox backstop loop -----------------------------------------------------------------------------------
def test_the_loop_leaves_fresh_rows_to_the_after_commit_drain():
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert not serve.backstop_due([], now, 2.0)
    assert not serve.backstop_due([now - timedelta(seconds=0.5), now], now, 2.0)
    assert serve.backstop_due([now - timedelta(seconds=0.5), now - timedelta(seconds=2)], now, 2.0)
    assert serve.backstop_due([now + timedelta(minutes=5)], now, 2.0)  # another clock: age unknown, deliver
    assert serve.backstop_due([(now - timedelta(seconds=3)).replace(tzinfo=None)], now, 2.0)  # naive = UTC
