"""The embedded stack behind `coc up`: every process of Chain of Care on one machine, state in one data dir.

Order: lock the data dir → check ports → migrate SQLite → SeaweedFS S3 (+ evidence bucket with Object Lock)
→ Prefect server → flow-serving process → API. Each child runs in its own process group (its own session),
so a Ctrl-C in the terminal reaches only the supervisor, which then stops the children in reverse order:
SIGTERM to the group, wait, SIGKILL. Children we spawn ourselves also get PR_SET_PDEATHSIG, so even a
SIGKILLed supervisor does not leave them running.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from api.stack.lock import DataDirLock
from api.stack.processes import STOP_TIMEOUT_S, stop_group
from core.errors import DomainError
from core.settings import Settings

CHILDREN_FILE = "children.json"  # pid + start time of each child, for reap_leftovers()
STATE_FILE = "stack.json"  # written when ready (URLs, pid, cold start); removed on stop
ADMIN_USER = "admin"
ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name, not a password
READY_TIMEOUT_S = 180.0  # cold starts on a loaded 2-core CI machine take far longer than on a laptop

# Settings passed to children explicitly (secrets are not: children read them from the data dir's
# secrets.json, so they never appear in a process environment listing).
_CHILD_SETTINGS = (
    "mode", "data_dir", "database_url", "s3_endpoint", "s3_secure", "s3_region", "s3_bucket", "prefect_api_url",
    "jwt_issuer", "jwt_audience", "jwt_jwks_url", "api_host", "api_port", "prefect_port", "s3_port",
    "pathway_stale_scheduled_s", "pathway_stale_pending_s", "pathway_stale_running_s", "pathway_stale_row_s",
    "pathway_max_restarts", "reconcile_every_s", "login_rate_per_min", "lookup_rate_per_min",
    "runner_poll_s", "runner_limit", "runner_start", "runner_quiet_polls", "outbox_loop_s", "outbox_loop_min_age_s",
)
_PORT_SETTINGS = (("api_port", "the API"), ("prefect_port", "the Prefect server"), ("s3_port", "the S3 store"))


class StackError(DomainError):
    """`coc up` cannot start or keep running; `detail` is the one line shown to the person."""

    code = "stack-error"


class Shutdown(BaseException):  # noqa: N818 - a control-flow signal, not an error
    """Raised from the SIGINT/SIGTERM handler to unwind start-up or the wait loop."""


# -- helpers ------------------------------------------------------------------------------------------------
def ensure_writable_dir(path: Path) -> None:
    """Create `path` if needed and prove we can write there, or raise StackError naming it."""
    try:
        # Owner-only when we create it: it will hold secrets, the database and evidence files.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StackError(f"the data directory {path} (COC_DATA_DIR) is not writable: "
                         f"{exc.strerror or type(exc).__name__}") from None


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (we can bind it ourselves right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: a port in TIME_WAIT from our own previous run is not "taken".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(settings: Settings) -> None:
    """Refuse to start when a configured port is taken, naming the port and its setting."""
    seen: dict[int, str] = {}
    for name, what in _PORT_SETTINGS:
        port = getattr(settings, name)
        if port in seen:
            raise StackError(f"COC_{name.upper()}={port} is the same port as COC_{seen[port].upper()}: "
                             "give each part its own port")
        seen[port] = name
        host = settings.api_host if name == "api_port" else "127.0.0.1"
        if not port_free(host, port):
            raise StackError(f"port {port} ({what}, COC_{name.upper()}) is already in use: stop what uses it "
                             f"or set COC_{name.upper()} to a free port")


def child_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: ours without COC_/PREFECT_ variables, plus the stack's COC_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COC_", "PREFECT_"))}
    for name in _CHILD_SETTINGS:
        value = getattr(settings, name)
        if value is not None:
            env[f"COC_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the log files as they happen
    env.update(extra or {})
    return env


try:  # resolved in the parent: the forked child must not load libraries (another thread may hold a lock)
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _PRCTL = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """preexec_fn: ask the kernel to SIGTERM this child when the supervisor dies (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def reap_leftovers(data_dir: Path, say: Callable[[str], None]) -> None:
    """Stop children of an earlier supervisor of this data dir that was killed (SIGKILL, OOM) before it could.

    Called with the data-dir lock held, so that supervisor is gone. A pid is trusted only when its start time
    matches the record (pids are reused); each child led its own process group, which is stopped whole.
    """
    path = data_dir / CHILDREN_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    for name, (pid, created) in record.items():
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - created) > 0.01:
                continue
        except psutil.Error:
            continue
        say(f"stopping {name} (pid {pid}) left running by an earlier coc up that did not stop cleanly")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        with contextlib.suppress(psutil.Error):
            proc.wait(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a child's log, indented, for an error report."""
    if not path.exists():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join("    " + line for line in tail)


# -- the stack ----------------------------------------------------------------------------------------------
@dataclass
class Child:
    """A process the supervisor runs; `stop` is how to end it gracefully."""

    name: str
    process: subprocess.Popen
    log_path: Path
    stop: Callable[[], None]

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None


@dataclass
class StackInfo:
    """What a person (or a test) needs once the stack is ready."""

    data_dir: Path
    api_url: str
    docs_url: str
    prefect_ui_url: str
    prefect_api_url: str
    s3_endpoint: str
    admin_user: str
    admin_password_file: Path
    pid: int
    cold_start_s: float
    children: dict[str, int] = field(default_factory=dict)
    ledger_intact: bool = True  # False: started anyway, /health says ledger-not-intact

    def to_json(self) -> str:
        """Serialise for the state file."""
        doc = {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}
        return json.dumps(doc, indent=2)


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
        record = {}
        for child in self.children:
            with contextlib.suppress(psutil.Error):
                record[child.name] = [child.process.pid, psutil.Process(child.process.pid).create_time()]
        path = self.data_dir / CHILDREN_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    # -- start ------------------------------------------------------------------------------------------
    def start(self) -> StackInfo:
        """Bring every part up and wait for /health; on any failure stop what started and raise StackError."""
        t0 = self._t0 = time.monotonic()
        ensure_writable_dir(self.data_dir)
        self.lock.acquire()
        try:
            reap_leftovers(self.data_dir, self.say)
            check_ports(self.settings)
            self.logs.mkdir(exist_ok=True)
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)
            self._migrate()
            self._bootstrap_admin()
            self._verify_ledger()
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
        state = self.data_dir / STATE_FILE
        tmp = state.with_suffix(".tmp")
        tmp.write_text(self.info.to_json())
        os.replace(tmp, state)  # readers never see a half-written file
        return self.info

    def _migrate(self) -> None:
        from core import migrate

        self.step("migrating the database …")
        try:
            migrate.upgrade(str(self.settings.database_url))
        except Exception as exc:  # noqa: BLE001 - any failure here has one meaning for the person
            raise StackError(f"database migration failed ({self.settings.database_url}): "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc

    def _bootstrap_admin(self) -> None:
        # The first start creates the 'admin' coordinator and writes its password file; later starts (and an
        # API that does the same at start-up) find the admin and change nothing.
        from api.auth.issuer import ensure_bootstrap_admin
        from core.db import make_engine, transaction

        engine = make_engine(str(self.settings.database_url))
        try:
            with transaction(engine) as session:
                if ensure_bootstrap_admin(session, self.data_dir):
                    self.say(f"created the first user 'admin' (password in {self.data_dir / ADMIN_PASSWORD_FILE})")
        finally:
            engine.dispose()

    def _verify_ledger(self) -> None:
        # Start-up verification of the whole ledger, recorded (trigger "startup") so /health reports it from
        # the first probe. A ledger that does not verify does not stop the stack: auditors need it to
        # investigate. The warning is repeated once the stack is up (_wait_ready).
        from core.actors import system_actor
        from core.db import make_engine, transaction
        from evidence.verification import VerificationTrigger, verify_and_record

        self.step("verifying the audit ledger …")
        engine = make_engine(str(self.settings.database_url))
        try:
            with transaction(engine) as session:
                record = verify_and_record(session, actor=system_actor("startup"),
                                           trigger=VerificationTrigger.STARTUP).record
        finally:
            engine.dispose()
        if not record.ok:
            self.say(ledger_warning(f"first bad entry {record.first_bad_seq} ({record.reason})"))

    def _start_s3(self) -> None:
        from api.stack.seaweed import start_seaweed
        from evidence.storage import get_object_store

        s = self.settings
        self.step(f"starting the S3 store (SeaweedFS) on 127.0.0.1:{s.s3_port} …")
        with self.critical():
            try:
                server = start_seaweed(self.data_dir / "s3", access_key=s.secret("s3_access_key"),
                                       secret_key=s.secret("s3_secret_key"), s3_port=s.s3_port,
                                       startup_timeout=self.ready_timeout)
            except DomainError as exc:
                raise StackError(f"the S3 store (SeaweedFS) failed to start: {exc.detail}") from exc
            except OSError as exc:
                raise StackError(f"the S3 store (SeaweedFS) failed to start: {exc}") from exc

            def stop() -> None:
                server.stop(timeout=STOP_TIMEOUT_S)
                stop_group(server.process)

            self.children.append(Child("s3", server.process, server.log_path, stop))
        try:
            store = get_object_store(s)
            store.ensure_bucket()
            store.check_object_lock()  # refuse to run on a store that does not enforce Object Lock
        except DomainError as exc:
            raise StackError(f"the evidence bucket {s.s3_bucket!r} is not usable: {exc.detail}") from exc

    def _start_prefect_in_background(self) -> None:
        from api.stack.prefect_server import start_prefect_server

        s = self.settings
        self.step(f"starting the Prefect server on 127.0.0.1:{s.prefect_port} …")
        result: dict[str, object] = {}

        def target() -> None:
            try:
                result["server"] = start_prefect_server(self.data_dir / "prefect", port=s.prefect_port,
                                                        startup_timeout=self.ready_timeout)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which reports it
                result["error"] = exc
            finally:
                result["done"] = True

        thread = threading.Thread(target=target, name="coc-prefect-start", daemon=True)
        thread.start()
        self._prefect_start = (thread, result)

    def _join_prefect(self, *, registering: bool = True) -> None:
        """Wait for the Prefect start thread; register the server as a child or raise StackError."""
        if self._prefect_start is None:
            return
        _thread, result = self._prefect_start
        # Poll a flag with sleep, not Thread.join: a signal handler raising out of join() can leave the
        # thread looking finished when it is not (CPython 3.11), and the server would then be orphaned.
        while "done" not in result:
            time.sleep(0.1)
        self._prefect_start = None
        server = result.get("server")
        if server is not None:
            self.children.append(Child("prefect", server.process, server.log_path,
                                       lambda: server.stop(STOP_TIMEOUT_S)))
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
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child; our copy is closed below
        with self.critical():
            try:
                proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=self.data_dir, start_new_session=True,
                                        preexec_fn=_die_with_parent)
            finally:
                log.close()
            child = Child(name, proc, log_path, lambda: stop_group(proc))
            self.children.append(child)
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
                            "--no-proxy-headers"], env)

    def _wait_ready(self) -> None:
        s = self.settings
        url = f"http://{s.api_host}:{s.api_port}/health"
        self.step("waiting for every part to report ready …")
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer yet"
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                self.check_children()
                try:
                    resp = client.get(url)
                    body = resp.json() if resp.headers.get("content-type", "").endswith("json") else {}
                    if resp.status_code == 200 and health_ready(body):
                        return
                    broken = ledger_not_intact(body)
                    if broken is not None:  # every service is up; the ledger is not intact: start, loudly
                        self.say(ledger_warning(broken.removeprefix("LEDGER NOT INTACT: ")))
                        self._ledger_intact = False
                        return
                    last = f"HTTP {resp.status_code}: {not_ready_parts(body) or body}"
                except (httpx.HTTPError, ValueError) as exc:
                    last = type(exc).__name__
                time.sleep(0.3)
        raise StackError(f"the stack was not ready after {self.ready_timeout:.0f} s ({last}); "
                         f"logs in {self.logs}")

    # -- run --------------------------------------------------------------------------------------------
    def check_children(self) -> None:
        """Raise StackError naming the first child that has exited."""
        for child in self.children:
            if not child.alive():
                raise StackError(f"{child.name} exited with code {child.process.returncode}; "
                                 f"log {child.log_path}:\n{log_tail(child.log_path)}")

    def watch(self, poll_s: float = 0.5) -> None:
        """Block until a child dies (StackError) or a signal arrives (Shutdown)."""
        while True:
            self.check_children()
            time.sleep(poll_s)

    # -- stop -------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every child in reverse start order and release the data-dir lock (idempotent)."""
        # A Prefect server still starting in its thread is waited for (bounded by its start-up timeout),
        # registered, and then stopped with the rest.
        self._join_prefect(registering=False)
        for child in reversed(self.children):
            with contextlib.suppress(Exception):
                child.stop()
        self.children.clear()
        if self.lock.held:  # a refused second `coc up` must not touch the running stack's state file
            with contextlib.suppress(OSError):
                (self.data_dir / STATE_FILE).unlink(missing_ok=True)
                (self.data_dir / CHILDREN_FILE).unlink(missing_ok=True)
        self.lock.release()


def health_ready(body: object) -> bool:
    """True when a /health body says every part is ready.

    Accepts {"status": "ready"|"ok", "parts"|"checks": {part: {"ok": bool} | bool | "ok"}}: the overall status
    must be good and, when parts are listed, every one of them too.
    """
    if not isinstance(body, dict):
        return False
    if str(body.get("status", "")).lower() not in ("ok", "ready", "pass"):
        return False
    return not not_ready_parts(body)


def ledger_not_intact(body: object) -> str | None:
    """The ledger part's detail when a /health body says every service is up but the ledger is not intact."""
    if not isinstance(body, dict) or body.get("status") != "ledger-not-intact" or not_ready_parts(body) != ["ledger"]:
        return None
    part = body.get("parts", {}).get("ledger")
    return str(part.get("detail") or "the last ledger verification failed") if isinstance(part, dict) else ""


def ledger_warning(detail: str) -> str:
    """The loud start-up warning for a ledger that does not verify."""
    bar = "!" * 78
    return (f"{bar}\n!! WARNING: the audit LEDGER IS NOT INTACT: {detail}\n!! The stack runs so that auditors "
            "can investigate; do not rely on its reports (exports are refused unless explicitly marked).\n"
            f"!! Run `coc audit verify`, see `coc alerts`, and contact the auditor.\n{bar}")


def not_ready_parts(body: object) -> list[str]:
    """Names of the parts a /health body reports as not ready."""
    if not isinstance(body, dict):
        return []
    checks = body.get("parts") or body.get("checks") or body.get("components") or {}
    bad = []
    for name, value in checks.items() if isinstance(checks, dict) else []:
        ok = value
        if isinstance(value, dict):
            ok = value.get("ok", value.get("ready", str(value.get("status", "")).lower() in ("ok", "ready", "pass")))
        elif isinstance(value, str):
            ok = value.lower() in ("ok", "ready", "pass")
        if not ok:
            bad.append(name)
    return bad


def describe(info: StackInfo) -> str:
    """The lines printed once the stack is ready."""
    return "\n".join([
        f"Chain of Care is ready (cold start {info.cold_start_s:.1f} s)." if info.ledger_intact else
        f"Chain of Care is up, but its audit LEDGER IS NOT INTACT (see above; cold start {info.cold_start_s:.1f} s).",
        f"  API          {info.api_url}   (API docs: {info.docs_url})",
        f"  Prefect UI   {info.prefect_ui_url}",
        f"  S3 store     {info.s3_endpoint} (loopback only)",
        f"  Log in       user {info.admin_user!r}, password in {info.admin_password_file}",
        f"               coc login --api-url {info.api_url} --username {info.admin_user}",
        f"  Data         {info.data_dir}   (logs in {info.data_dir / 'logs'})",
        "Press Ctrl-C to stop.",
    ])


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
