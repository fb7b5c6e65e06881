"""Checks before `coc up` starts anything: the [embedded] extra installed, a writable data dir and free, distinct
ports."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from api.stack.errors import StackError
from api.stack.seaweed import weed_binary
from core.errors import ConfigError
from core.settings import Settings

_PORT_SETTINGS = (("api_port", "the API"), ("prefect_port", "the Prefect server"), ("s3_port", "the S3 store"))


def require_embedded_extra() -> None:
    """Refuse to start when the [embedded] extra (the SeaweedFS binary) is not installed, saying how to install it."""
    try:
        weed_binary()
    except ConfigError as exc:
        raise StackError(exc.detail) from None


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
