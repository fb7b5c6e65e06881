"""The supervisor's child processes: their environment, how they are spawned, recorded and reaped.

Each child runs in its own process group (its own session), so a Ctrl-C in the terminal reaches only the
supervisor. Children we spawn ourselves also get PR_SET_PDEATHSIG, so even a SIGKILLed supervisor does not
leave them running; `children.json` (pid + start time) lets the next `coc up` stop any that still are.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from api.stack.processes import STOP_TIMEOUT_S, die_with_parent
from core.settings import Settings

CHILDREN_FILE = "children.json"  # pid + start time of each child, for reap_leftovers()

# Settings passed to children explicitly (secrets are not: children read them from the data dir's
# secrets.json, so they never appear in a process environment listing).
_CHILD_SETTINGS = (
    "mode", "data_dir", "database_url", "s3_endpoint", "s3_secure", "s3_region", "s3_bucket", "prefect_api_url",
    "jwt_issuer", "jwt_audience", "jwt_jwks_url", "api_host", "api_port", "prefect_port", "s3_port",
    "pathway_stale_scheduled_s", "pathway_stale_pending_s", "pathway_stale_running_s", "pathway_stale_row_s",
    "pathway_max_restarts", "reconcile_every_s", "login_rate_per_min", "lookup_rate_per_min",
    "runner_poll_s", "runner_limit", "runner_start", "runner_quiet_polls", "outbox_loop_s", "outbox_loop_min_age_s",
    "clock_file",
)


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


def popen_child(args: list[str], *, env: dict[str, str], log_path: Path, cwd: Path) -> subprocess.Popen:
    """Start `args` in its own session, output appended to `log_path`, dying with the supervisor."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child; our copy is closed below
    try:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True, preexec_fn=die_with_parent)
    finally:
        log.close()


def record_children(data_dir: Path, children: Iterable[Child]) -> None:
    """Write (pid, start time) of every child we started, so a later start can stop them if we are killed."""
    record = {}
    for child in children:
        with contextlib.suppress(psutil.Error):
            record[child.name] = [child.process.pid, psutil.Process(child.process.pid).create_time()]
    path = data_dir / CHILDREN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


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
