"""The stack's state file (`stack.json`, written once ready, removed on stop) and the lines shown when ready."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

STATE_FILE = "stack.json"  # written when ready (URLs, pid, cold start); removed on stop
ADMIN_USER = "admin"
ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name, not a password


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


def write_state(info: StackInfo) -> None:
    """Write the state file into the stack's data dir atomically: readers never see a half-written file."""
    state = info.data_dir / STATE_FILE
    tmp = state.with_suffix(".tmp")
    tmp.write_text(info.to_json())
    os.replace(tmp, state)


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
