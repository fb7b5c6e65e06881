"""The embedded stack behind `coc up`: every process of Chain of Care on one machine, state in one data dir.

Order: lock the data dir → check ports → migrate SQLite → SeaweedFS S3 (+ evidence bucket with Object Lock)
→ Prefect server → flow-serving process → API. Each child runs in its own process group (its own session),
so a Ctrl-C in the terminal reaches only the supervisor, which then stops the children in reverse order:
SIGTERM to the group, wait, SIGKILL. Children we spawn ourselves also get PR_SET_PDEATHSIG, so even a
SIGKILLed supervisor does not leave them running.

Layout of api/stack/: `supervisor` (Stack: the start order, watch, stop; run), `preflight` (data dir, ports),
`database` (migrate, first admin, ledger verification), `children` (spawn, environment, record, reap),
`health` (the /health wait and its ledger-not-intact rule), `state` (stack.json, the ready lines), `errors`,
`processes` (stopping a process group), `lock`, `seaweed`, `prefect_server`. The names other modules import
from here are re-exported below.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from api import limits
from api.stack.children import CHILDREN_FILE, Child, child_env, log_tail, popen_child, reap_leftovers, record_children
from api.stack.database import bootstrap_admin, migrate_database, verify_ledger
from api.stack.errors import Shutdown, StackError
from api.stack.health import (
    READY_TIMEOUT_S,
    health_ready,
    ledger_not_intact,
    ledger_warning,
    not_ready_parts,
    wait_ready,
)
from api.stack.lock import DataDirLock
from api.stack.preflight import check_ports, ensure_writable_dir, port_free, require_embedded_extra
from api.stack.processes import STOP_TIMEOUT_S, stop_group
from api.stack.state import ADMIN_PASSWORD_FILE, ADMIN_USER, STATE_FILE, StackInfo, describe, write_state
from core.errors import DomainError
from core.settings import Settings
from evidence.capacity import MARGIN_BYTES

RESTART_BACKOFF_S = 1.0  # first wait before restarting a part that exited; doubles per failure in a row
RESTART_MAX_BACKOFF_S = 30.0
RESTART_STABLE_S = 60.0  # a part up this long that exits again starts over at the first back-off

__all__ = [
    "ADMIN_PASSWORD_FILE", "ADMIN_USER", "CHILDREN_FILE", "READY_TIMEOUT_S", "STATE_FILE", "Child", "Shutdown", "Stack",
    "StackError", "StackInfo", "check_ports", "child_env", "describe", "ensure_writable_dir", "health_ready",
    "ledger_not_intact", "ledger_warning", "log_tail", "not_ready_parts", "port_free", "reap_leftovers", "run",
]


class Stack:
    """Start, watch and stop every process of the embedded stack."""

    def __init__(self, settings: Settings, *, say: Callable[[str], None] = print,
                 ready_timeout: float = READY_TIMEOUT_S) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.say = say
        self.ready_timeout = ready_timeout
        self.children: list[Child] = []
        self.lock = DataDirLock(self.data_dir)
        self.logs = self.data_dir / "logs"
        self.info: StackInfo | None = None
        self._critical = False
        self._pending_signal: int | None = None
        self._t0 = time.monotonic()
        self._prefect_start: tuple[threading.Thread, dict[str, object]] | None = None
        self._ledger_intact = True  # False once /health said ledger-not-intact at start-up
        self._failures: dict[str, int] = {}  # restarts in a row per part (reset after RESTART_STABLE_S up)
        self._started_at: dict[str, float] = {}  # monotonic start time per part

    @contextlib.contextmanager
    def critical(self):
        """Defer Shutdown while a child is being started and registered, so none escapes the stop list."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._pending_signal is not None:
            raise Shutdown(self._pending_signal)

    def step(self, message: str) -> None:
        """Report a start-up step with the seconds since start (shows where a slow cold start spends time)."""
        self.say(f"[{time.monotonic() - self._t0:5.1f}s] {message}")

    def interrupt(self, signum: int) -> None:
        """Called from the signal handler: unwind now, or as soon as the current child is registered."""
        if self._critical:
            self._pending_signal = signum
            return
        raise Shutdown(signum)

    def _record_children(self) -> None:
        """Write (pid, start time) of every child we started, so a later start can stop them if we are killed."""
        record_children(self.data_dir, self.children)

    # -- start ------------------------------------------------------------------------------------------
    def start(self) -> StackInfo:
        """Bring every part up and wait for /health; on any failure stop what started and raise StackError."""
        t0 = self._t0 = time.monotonic()
        require_embedded_extra()
        ensure_writable_dir(self.data_dir)
        self.lock.acquire()
        try:
            reap_leftovers(self.data_dir, self.say)
            check_ports(self.settings)
            self.logs.mkdir(exist_ok=True)
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)
            migrate_database(self.settings, self.step)
            bootstrap_admin(self.settings, self.data_dir, self.say)
            verify_ledger(self.settings, self.step, self.say)
            # The Prefect server is the slowest part: it starts in a thread while the S3 store and the API
            # come up (the API starts without it; /health waits for it). The flow runner needs it up.
            self._start_prefect_in_background()
            self._start_s3()
            self._record_children()
            self._start_api()
            self._record_children()
            self._join_prefect()
            self._record_children()
            self._start_flows()
            self._record_children()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        s = self.settings
        api_url = f"http://{s.api_host}:{s.api_port}"
        self.info = StackInfo(
            data_dir=self.data_dir, api_url=api_url, docs_url=f"{api_url}/docs",
            prefect_ui_url=f"http://127.0.0.1:{s.prefect_port}", prefect_api_url=str(s.prefect_api_url),
            s3_endpoint=str(s.s3_endpoint), admin_user=ADMIN_USER,
            admin_password_file=self.data_dir / ADMIN_PASSWORD_FILE, pid=os.getpid(),
            cold_start_s=round(time.monotonic() - t0, 2),
            children={c.name: c.process.pid for c in self.children},
            ledger_intact=self._ledger_intact,
        )
        write_state(self.info)
        return self.info

    def _start_s3(self) -> None:
        from api.stack.seaweed import start_seaweed
        from evidence.storage import get_object_store

        s = self.settings
        self.step(f"starting the S3 store (SeaweedFS) on 127.0.0.1:{s.s3_port} …")
        with self.critical():
            try:
                server = start_seaweed(self.data_dir / "s3", access_key=s.secret("s3_access_key"),
                                       secret_key=s.secret("s3_secret_key"), s3_port=s.s3_port,
                                       startup_timeout=self.ready_timeout, avoid=(s.api_port, s.prefect_port))
            except DomainError as exc:
                raise StackError(f"the S3 store (SeaweedFS) failed to start: {exc.detail}") from exc
            except OSError as exc:
                raise StackError(f"the S3 store (SeaweedFS) failed to start: {exc}") from exc

            def stop() -> None:
                server.stop(timeout=STOP_TIMEOUT_S)
                stop_group(server.process)

            self.children.append(Child("s3", server.process, server.log_path, stop))
            self._started_at["s3"] = time.monotonic()
        try:
            store = get_object_store(s)
            store.ensure_bucket()
            store.check_object_lock()  # refuse to run on a store that does not enforce Object Lock
            store.check_encryption()  # nor on one that keeps evidence in clear (SSE-S3, COC_S3_SSE)
        except DomainError as exc:
            free = store.free_bytes()
            if free is not None and free < MARGIN_BYTES:
                raise StackError(f"the evidence store is full: {free // (1024 * 1024)} MiB free on the disk of "
                                 f"{self.data_dir / 's3'}; free space there and start again") from exc
            raise StackError(f"the evidence bucket {s.s3_bucket!r} is not usable: {exc.detail}") from exc

    def _start_prefect_in_background(self) -> None:
        from api.stack.prefect_server import launch_prefect_server

        s = self.settings
        self.step(f"starting the Prefect server on 127.0.0.1:{s.prefect_port} …")
        result: dict[str, object] = {}
        # The process starts here, in the main thread (it dies with the thread that started it, see
        # api.stack.processes.die_with_parent); only the wait for its /health runs in the background.
        with self.critical():
            try:
                server = launch_prefect_server(self.data_dir / "prefect", port=s.prefect_port)
            except OSError as exc:
                raise StackError(f"the Prefect server failed to start: {exc}") from exc
            result["launched"] = server

        def target() -> None:
            try:
                server.wait_healthy(self.ready_timeout)
                result["server"] = server
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which reports it
                server.stop(STOP_TIMEOUT_S)
                result["error"] = exc
            finally:
                result["done"] = True

        thread = threading.Thread(target=target, name="coc-prefect-start", daemon=True)
        thread.start()
        self._prefect_start = (thread, result)

    def _join_prefect(self, *, registering: bool = True) -> None:
        """Wait for the Prefect start thread; register the server as a child or raise StackError. When stopping
        (`registering=False`) a server still starting is stopped at once instead of waited for."""
        if self._prefect_start is None:
            return
        _thread, result = self._prefect_start
        if not registering and "done" not in result:
            launched = result.get("launched")
            if launched is not None:
                launched.stop(STOP_TIMEOUT_S)  # type: ignore[attr-defined]
        # Poll a flag with sleep, not Thread.join: a signal handler raising out of join() can leave the
        # thread looking finished when it is not (CPython 3.11), and the server would then be orphaned.
        while "done" not in result:
            time.sleep(0.1)
        self._prefect_start = None
        server = result.get("server")
        if server is not None:
            self.children.append(Child("prefect", server.process, server.log_path,
                                       lambda: server.stop(STOP_TIMEOUT_S)))
            self._started_at["prefect"] = time.monotonic()
            if registering:
                self.step("the Prefect server is up")
            return
        exc = result.get("error")
        if registering:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StackError(f"the Prefect server failed to start: {first} "
                             f"(log: {self.data_dir / 'prefect' / 'prefect-server.log'})") from exc

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Child:
        log_path = self.logs / f"{name}.log"
        with self.critical():
            proc = popen_child(args, env=env, log_path=log_path, cwd=self.data_dir)
            child = Child(name, proc, log_path, lambda: stop_group(proc))
            self.children.append(child)
            self._started_at[name] = time.monotonic()
        return child

    def _prefect_client_env(self) -> dict[str, str]:
        from api.stack.prefect_server import prefect_client_env

        # Known before the server is up, so the API can start in parallel with it.
        return prefect_client_env(f"http://127.0.0.1:{self.settings.prefect_port}/api", self.data_dir / "prefect")

    def _start_flows(self) -> None:
        self.step("starting the flow runner …")
        env = child_env(self.settings, self._prefect_client_env())
        self._spawn("flows", [sys.executable, "-m", "flows.serve"], env)

    def _start_api(self) -> None:
        s = self.settings
        self.step(f"starting the API on {s.api_host}:{s.api_port} …")
        env = child_env(self.settings, self._prefect_client_env())
        # --no-proxy-headers: nothing sits in front of the embedded API, so an X-Forwarded-For header is the
        # client's own claim; trusting it (uvicorn's default for 127.0.0.1) would let anyone on this host pick
        # the address the login and status-lookup rate limits count against.
        self._spawn("api", [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                            "--host", s.api_host, "--port", str(s.api_port), "--no-access-log",
                            "--no-proxy-headers", *limits.uvicorn_args()], env)

    def _wait_ready(self) -> None:
        s = self.settings
        self.step("waiting for every part to report ready …")
        if not wait_ready(f"http://{s.api_host}:{s.api_port}/health", timeout=self.ready_timeout,
                          check_children=self.check_children, say=self.say, logs=self.logs):
            self._ledger_intact = False  # every service is up; the ledger is not intact: started, loudly

    # -- run --------------------------------------------------------------------------------------------
    def check_children(self) -> None:
        """Raise StackError naming the first child that has exited."""
        for child in self.children:
            if not child.alive():
                raise StackError(f"{child.name} exited with code {child.process.returncode}; "
                                 f"log {child.log_path}:\n{log_tail(child.log_path)}")

    def watch(self, poll_s: float = 0.5, *, until: Callable[[], bool] | None = None) -> None:
        """Keep every part running until a signal arrives (Shutdown) or `until()` is true: a part that exits is
        restarted after a back-off (1 s, doubling to RESTART_MAX_BACKOFF_S; reset once it has run for
        RESTART_STABLE_S), logged with its exit code, while the other parts keep serving — the API keeps taking
        consent decisions while Prefect is away (the outbox holds the wakes)."""
        due: dict[str, float] = {}  # part name -> monotonic time of its next start attempt
        while until is None or not until():
            now = time.monotonic()
            for child in list(self.children):
                if not child.alive():
                    self.children.remove(child)
                    failures = self._failures.get(child.name, 0)
                    if now - self._started_at.get(child.name, 0.0) >= RESTART_STABLE_S:
                        failures = 0
                    self._failures[child.name] = failures + 1
                    delay = min(RESTART_BACKOFF_S * 2 ** failures, RESTART_MAX_BACKOFF_S)
                    due[child.name] = now + delay
                    self.say(f"{child.name} exited with code {child.process.returncode}; restarting it in "
                             f"{delay:.0f} s (restart {failures + 1}); log {child.log_path}:\n"
                             f"{log_tail(child.log_path, 5)}")
            for name, at in sorted(due.items(), key=lambda kv: kv[1]):
                if time.monotonic() >= at:
                    del due[name]
                    self._restart(name, due)
            time.sleep(poll_s)

    def _restart(self, name: str, due: dict[str, float]) -> None:
        """Start part `name` again; on failure schedule the next attempt with a longer back-off."""
        starts = {"s3": self._start_s3, "prefect": self._start_prefect_now, "api": self._start_api,
                  "flows": self._start_flows}
        try:
            starts[name]()
        except (StackError, DomainError, OSError, RuntimeError, TimeoutError) as exc:
            failures = self._failures.get(name, 0)
            self._failures[name] = failures + 1
            delay = min(RESTART_BACKOFF_S * 2 ** failures, RESTART_MAX_BACKOFF_S)
            due[name] = time.monotonic() + delay
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.say(f"{name} did not start again ({first}); next attempt in {delay:.0f} s")
            return
        self._record_children()
        if self.info is not None:
            self.info.children = {c.name: c.process.pid for c in self.children}
            write_state(self.info)
        self.say(f"{name} restarted (pid {self._child(name).process.pid})")

    def _start_prefect_now(self) -> None:
        """Restart the Prefect server (in the main thread) and wait for it."""
        self._start_prefect_in_background()
        self._join_prefect()

    def _child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    # -- stop -------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every child and release the data-dir lock (idempotent), within ~10 s whatever the load: the API
        and the flow runner first (no new work), then Prefect and the S3 store; each wave's children are
        stopped in parallel (SIGTERM, SIGKILL after STOP_TIMEOUT_S)."""
        # A Prefect server still starting in its thread is waited for (its process is already registered for
        # stopping below when it came up; one that failed was stopped by the thread).
        self._join_prefect(registering=False)
        first = [c for c in self.children if c.name in ("api", "flows")]
        second = [c for c in self.children if c not in first]
        for wave in (first, second):
            threads = [threading.Thread(target=_stop_quietly, args=(c,), name=f"coc-stop-{c.name}", daemon=True)
                       for c in wave]
            for t in threads:
                t.start()
            for t in threads:
                t.join(STOP_TIMEOUT_S + 3.0)
        self.children.clear()
        if self.lock.held:  # a refused second `coc up` must not touch the running stack's state file
            with contextlib.suppress(OSError):
                (self.data_dir / STATE_FILE).unlink(missing_ok=True)
                (self.data_dir / CHILDREN_FILE).unlink(missing_ok=True)
        self.lock.release()


def _stop_quietly(child: Child) -> None:
    with contextlib.suppress(Exception):
        child.stop()


def run(settings: Settings, *, say: Callable[[str], None] = print, err: Callable[[str], None] = print) -> int:
    """Run the stack in the foreground until Ctrl-C/SIGTERM (exit 0) or a failure (one message, exit 1)."""
    stack = Stack(settings, say=say)

    def on_signal(signum, _frame):
        # Further signals during the orderly stop are ignored: stopping is bounded (SIGKILL after a timeout).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.interrupt(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        info = stack.start()
        say(describe(info))
        stack.watch()
    except Shutdown:
        say("stopping …")
        stack.stop()
        say("stopped.")
        return 0
    except DomainError as exc:  # StackError, ConfigError, Conflict (locked data dir), DependencyUnavailable …
        stack.stop()
        err(f"error: {exc.detail}")
        return 1
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
