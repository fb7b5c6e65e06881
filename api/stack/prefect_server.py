"""Start and stop a real Prefect server (SQLite under a data directory) for `coc up` and the tests."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from api.stack.ports import free_port
from api.stack.processes import die_with_parent, stop_group

DEFAULT_STARTUP_TIMEOUT_S = 180.0  # a cold start took ~11 s here; slow CI machines take much longer


def auth_headers(auth_string: str | None) -> dict[str, str]:
    """The Basic auth header Prefect expects when PREFECT_SERVER_API_AUTH_STRING is set."""
    if not auth_string:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}


def prefect_client_env(api_url: str, home: Path, *, auth_string: str | None = None) -> dict[str, str]:
    """Environment variables a Prefect client process (runner, API, tests) needs to talk to this server."""
    env = {
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here; never phone home
    }
    if auth_string:
        env["PREFECT_API_AUTH_STRING"] = auth_string
    return env


def prefect_server_env(
    home: Path, *, host: str, port: int, auth_string: str | None = None, ui: bool = True
) -> dict[str, str]:
    """Environment for the server process: its own PREFECT_HOME, SQLite file there, analytics off."""
    api_url = f"http://{host}:{port}/api"
    env = prefect_client_env(api_url, home, auth_string=auth_string)
    env.update({
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_UI_ENABLED": "true" if ui else "false",
        # Resumed and scheduled runs become visible to runners sooner with a tighter scheduler loop.
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    })
    if auth_string:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    return env


def _base_env() -> dict[str, str]:
    """The parent's environment without inherited PREFECT_* settings (a stray profile must not leak in)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def wait_healthy(
    api_url: str,
    *,
    timeout: float = DEFAULT_STARTUP_TIMEOUT_S,
    auth_string: str | None = None,
    process: subprocess.Popen | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll `<api_url>/health` until it answers 200, the process dies, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    with httpx.Client(timeout=5.0, headers=auth_headers(auth_string)) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the Prefect server exited with code {process.returncode} while starting"
                                   + _log_tail(log_path))
            try:
                resp = client.get(f"{api_url}/health")
                if resp.status_code == 200:
                    return
                last_error = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
            time.sleep(0.5)
    raise TimeoutError(f"the Prefect server at {api_url} was not healthy after {timeout:.0f} s ({last_error})"
                       + _log_tail(log_path))


def _log_tail(log_path: Path | None, lines: int = 30) -> str:
    """The last lines of the server log, to make a start-up failure diagnosable."""
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- prefect server log (tail) ---\n" + "\n".join(tail)


def stop_process_group(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the process group we started (server and its children), then SIGKILL after `timeout`."""
    stop_group(process, timeout)


@dataclass
class PrefectServer:
    """A running Prefect server process we started; `api_url` ends in /api."""

    api_url: str
    home: Path
    process: subprocess.Popen
    log_path: Path
    auth_string: str | None = None
    _log_fh: object = field(default=None, repr=False)

    def client_env(self) -> dict[str, str]:
        """Environment variables for processes that should talk to this server."""
        return prefect_client_env(self.api_url, self.home, auth_string=self.auth_string)

    def is_running(self) -> bool:
        """True while the server process is alive."""
        return self.process.poll() is None

    def wait_healthy(self, timeout: float = DEFAULT_STARTUP_TIMEOUT_S) -> None:
        """Wait until the server answers /health (raises if it exits or `timeout` passes)."""
        wait_healthy(self.api_url, timeout=timeout, auth_string=self.auth_string, process=self.process,
                     log_path=self.log_path)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server and its children gracefully (SIGTERM, then SIGKILL after `timeout`)."""
        stop_process_group(self.process, timeout)
        if self._log_fh is not None:
            self._log_fh.close()  # type: ignore[attr-defined]
            self._log_fh = None

    def __enter__(self) -> PrefectServer:
        """Use as a context manager: stopped on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the server on leaving the with-block."""
        self.stop()


def start_prefect_server(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    auth_string: str | None = None,
    ui: bool = True,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S,
    extra_env: dict[str, str] | None = None,
) -> PrefectServer:
    """Start `prefect server start` with its home and SQLite database under `data_dir`; wait until healthy."""
    if port is not None:
        return _start_prefect_server(data_dir, host=host, port=port, auth_string=auth_string, ui=ui,
                                     startup_timeout=startup_timeout, extra_env=extra_env)
    # A port we picked ourselves can be taken by another process before the server binds it: pick again.
    for attempt in range(3):
        try:
            return _start_prefect_server(data_dir, host=host, port=free_port(host), auth_string=auth_string,
                                         ui=ui, startup_timeout=startup_timeout, extra_env=extra_env)
        except RuntimeError as exc:
            if "address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_prefect_server(data_dir: Path, *, host: str, port: int, auth_string: str | None, ui: bool,
                          startup_timeout: float, extra_env: dict[str, str] | None) -> PrefectServer:
    server = launch_prefect_server(data_dir, host=host, port=port, auth_string=auth_string, ui=ui,
                                   extra_env=extra_env)
    try:
        server.wait_healthy(startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def launch_prefect_server(data_dir: Path, *, port: int, host: str = "127.0.0.1", auth_string: str | None = None,
                          ui: bool = True, extra_env: dict[str, str] | None = None) -> PrefectServer:
    """Start the server process and return at once (call `wait_healthy` next, from any thread). Call this from
    a thread that outlives the server (the process dies with the thread that started it: PR_SET_PDEATHSIG)."""
    home = Path(data_dir).resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = _base_env()
    env.update(prefect_server_env(home, host=host, port=port, auth_string=auth_string, ui=ui))
    env.update(extra_env or {})
    log_path = home / "prefect-server.log"
    log_fh = open(log_path, "ab")  # noqa: SIM115 - kept open for the life of the process
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port),
           "--analytics-off"]
    process = subprocess.Popen(cmd, env=env, stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, cwd=str(home), preexec_fn=die_with_parent)
    return PrefectServer(f"http://{host}:{port}/api", home, process, log_path, auth_string, log_fh)


def start_flow_runner(
    api_url: str,
    home: Path,
    *,
    coc_env: dict[str, str],
    auth_string: str | None = None,
    log_path: Path | None = None,
) -> subprocess.Popen:
    """Start `python -m flows.serve` against the server at `api_url` with the given COC_* settings."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = _base_env()
    env.update(prefect_client_env(api_url, home, auth_string=auth_string))
    env.update(coc_env)
    env.setdefault("COC_PREFECT_API_URL", api_url)
    log_path = log_path or home / "flows.log"
    with open(log_path, "ab") as log_fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "flows.serve"], env=env, stdout=log_fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=str(Path(__file__).resolve().parents[2]), preexec_fn=die_with_parent)
