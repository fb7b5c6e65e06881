"""The supervisor's start-up steps on the database, before any child runs: migrate, create the first admin,
verify the whole ledger (recorded, so /health reports it from the first probe)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from api.stack.errors import StackError
from api.stack.health import ledger_warning
from api.stack.state import ADMIN_PASSWORD_FILE
from core.settings import Settings


def migrate_database(settings: Settings, step: Callable[[str], None]) -> None:
    """Bring the database schema up to date, or raise StackError with the first line of the failure."""
    from core import migrate

    step("migrating the database …")
    try:
        migrate.upgrade(str(settings.database_url))
    except Exception as exc:  # noqa: BLE001 - any failure here has one meaning for the person
        raise StackError(f"database migration failed ({settings.database_url}): "
                         f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


def bootstrap_admin(settings: Settings, data_dir: Path, say: Callable[[str], None]) -> None:
    """The first start creates the 'admin' coordinator and writes its password file; later starts (and an
    API that does the same at start-up) find the admin and change nothing."""
    from api.auth.issuer import ensure_bootstrap_admin
    from core.db import make_engine, transaction

    engine = make_engine(str(settings.database_url))
    try:
        with transaction(engine) as session:
            if ensure_bootstrap_admin(session, data_dir):
                say(f"created the first user 'admin' (password in {data_dir / ADMIN_PASSWORD_FILE})")
    finally:
        engine.dispose()


def verify_ledger(settings: Settings, step: Callable[[str], None], say: Callable[[str], None]) -> None:
    """Start-up verification of the whole ledger, recorded (trigger "startup") so /health reports it from the
    first probe. A ledger that does not verify does not stop the stack: auditors need it to investigate. The
    warning is repeated once the stack is up (health.wait_ready)."""
    from core.actors import system_actor
    from core.db import make_engine, transaction
    from evidence.verification import VerificationTrigger, verify_and_record

    step("verifying the audit ledger …")
    engine = make_engine(str(settings.database_url))
    try:
        with transaction(engine) as session:
            record = verify_and_record(session, actor=system_actor("startup"),
                                       trigger=VerificationTrigger.STARTUP).record
    finally:
        engine.dispose()
    if not record.ok:
        say(ledger_warning(f"first bad entry {record.first_bad_seq} ({record.reason})"))
