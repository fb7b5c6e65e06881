"""The composition root: settings, engine, object store and Prefect waker, and every hook, wired in one place.

Called once at the start of every process that changes state: the API (`api.app.create_app`), the flow runner
and every flow run (`flows.*`), the CLI's `coc up`, and the tests (tests/conftest.py). Nothing registers itself
at import time; `wire()` is idempotent, so calling it again (a flow run forked from a process that already
wired) is harmless. It lives in `evidence`, the highest layer both `api` and `flows` may import.

What `wire()` installs:
- consent withdrawal hooks (policies.consent): a withdrawn photography consent restricts the case's
  photographs; a withdrawn release or lab-testing consent cancels open release / lab offers at once;
- the ledger's durability barrier for PostgreSQL group commit (core.ledger.writer);
- the shared test clock when COC_CLOCK_FILE is set (embedded/test only; core.clock.FileClock).
A withdrawal recorded in a process that never wired is refused (policies.consent fails closed), so a process
that forgot to call this cannot silently leave an offer open.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from core import ledger
from core.clock import FileClock, get_clock, set_clock
from core.db import get_engine
from core.outbox import PrefectWaker, waker_for
from core.settings import Settings, get_settings
from evidence.custody.withdrawal import cancel_offers_on_withdrawal
from evidence.items import restrict_photographs
from evidence.storage import MinioObjectStore, get_object_store
from policies.consent import register_withdrawal_hook

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_lock = threading.Lock()


def wire() -> None:
    """Register every hook of the application (idempotent)."""
    with _lock:
        _install_clock(get_settings().clock_file)
        ledger.install_durability_barrier()
        register_withdrawal_hook(restrict_photographs)
        register_withdrawal_hook(cancel_offers_on_withdrawal)


def _install_clock(path: Path | None) -> None:
    """COC_CLOCK_FILE (embedded/test only): every process of the stack takes time from the same shifted clock."""
    if path is None:
        return
    current = get_clock()
    if isinstance(current, FileClock) and current.path == path:
        return
    set_clock(FileClock(path))


@dataclass
class Container:
    """The adapters of one process, each made on first use (nothing connects when the container is built)."""

    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def engine(self) -> Engine:
        """The database engine (core.db keeps one per URL)."""

        return get_engine(self.settings.database_url)

    @cached_property
    def store(self) -> MinioObjectStore:
        """The S3 object store (a client; no request until the first call)."""
        return get_object_store(self.settings)

    @cached_property
    def waker(self) -> PrefectWaker:
        """The Prefect waker of the outbox."""
        return waker_for(self.settings)

    def session(self) -> Session:
        """A new session on the engine (the caller owns its transaction)."""
        return Session(self.engine, expire_on_commit=False)


def bootstrap(settings: Settings | None = None) -> Container:
    """Wire the hooks and return the process's adapters."""
    wire()
    return Container(settings or get_settings())
