"""Per-case keys in the database: create/unwrap a case key, seal and open row-bound values, commitments,
rewrap every case key under the current centre key, destroy a case key (crypto-shredding).

Functions flush, never commit. The keyring comes from the caller (a route passes its settings') or from
core.settings; a plain Fernet key string is accepted as a keyring with that one key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.schema import Table
from sqlmodel import Session

from core import ledger
from core.actors import Actor
from core.clock import as_utc, utcnow
from core.crypto import envelope
from core.crypto.envelope import Keyring
from core.crypto.models import CaseKey
from core.errors import Erased, IntegrityViolation
from core.ledger import EventKind
from core.settings import Settings, get_settings

KeyringLike = Keyring | str | None


def keyring_from_settings(settings: Settings | None = None) -> Keyring:
    """COC_IDENTITY_KEY (current) + COC_IDENTITY_KEYS_RETIRED (retired)."""
    settings = settings or get_settings()
    retired = settings.identity_keys_retired
    return Keyring.from_secrets(settings.secret("identity_key"),
                                envelope.parse_retired(retired.get_secret_value() if retired else None))


_CURRENT: ContextVar[Keyring | None] = ContextVar("coc_keyring", default=None)


@contextmanager
def using_keyring(keyring: KeyringLike) -> Iterator[Keyring]:
    """Within this block a call given no keyring uses `keyring` (the API sets its settings' keyring for each
    request, so services that take no key — free text, core.crypto.texts — use the same centre key)."""
    token = _CURRENT.set(resolve_keyring(keyring))
    try:
        yield _CURRENT.get()  # type: ignore[misc]
    finally:
        _CURRENT.reset(token)


def resolve_keyring(keyring: KeyringLike = None) -> Keyring:
    """A Keyring as given, one built from a single key string, the one `using_keyring` set, or the settings'."""
    if isinstance(keyring, Keyring):
        return keyring
    if isinstance(keyring, str):
        return Keyring.from_secrets(keyring)
    return _CURRENT.get() or keyring_from_settings()


def erased_error(erased_at: datetime) -> Erased:
    """The 410 every read or write of an erased case's personal data answers."""
    when = as_utc(erased_at).strftime("%Y-%m-%d %H:%M UTC")
    return Erased(f"this case's personal data was erased on {when} (lawful erasure: its key was destroyed); "
                  "identity, exam narratives, advocacy notes and safety plans can no longer be read or written",
                  erased_at=as_utc(erased_at).isoformat())


def erased_at(session: Session, case_id: str) -> datetime | None:
    """When the case's key was destroyed, or None."""
    row = session.get(CaseKey, case_id)
    return as_utc(row.erased_at) if row is not None and row.erased_at is not None else None


def load_case_key(session: Session, case_id: str, *, keyring: KeyringLike = None, create: bool = False,
                  now: datetime | None = None) -> bytes | None:
    """The case's data key (unwrapped); None if it has none and create is False; Erased after erasure."""
    row = session.get(CaseKey, case_id)
    if row is not None and row.erased_at is not None:
        raise erased_error(row.erased_at)
    ring = resolve_keyring(keyring)
    if row is None:
        if not create:
            return None
        data_key = envelope.new_data_key()
        try:
            with session.begin_nested():  # two first writes of one case at once: one row wins, the other reads it
                session.add(CaseKey(case_id=case_id, wrapped=envelope.wrap_key(ring.current, case_id, data_key),
                                    key_id=ring.current.key_id, created_at=now or utcnow()))
            return data_key
        except IntegrityError:
            row = session.get(CaseKey, case_id)
            if row is None or row.erased_at is not None or row.wrapped is None:
                raise
    assert row.wrapped is not None and row.key_id is not None
    return envelope.unwrap_key(ring.get(row.key_id), case_id, row.wrapped)


def seal_text(session: Session, *, case_id: str, table: str, column: str, row_id: str | int, plaintext: str,
              keyring: KeyringLike = None, now: datetime | None = None) -> bytes:
    """Encrypt `plaintext` for one row and column under the case key (created on first use)."""
    data_key = load_case_key(session, case_id, keyring=keyring, create=True, now=now)
    assert data_key is not None
    return envelope.seal(data_key, plaintext.encode("utf-8"), aad=envelope.aad_for(table, column, row_id))


def open_text(session: Session, *, case_id: str, table: str, column: str, row_id: str | int, token: bytes,
              keyring: KeyringLike = None) -> str:
    """Decrypt a row's value (sealed or legacy Fernet); Erased after erasure; a moved value → IntegrityViolation."""
    token = bytes(token)
    if not envelope.is_sealed(token):
        when = erased_at(session, case_id)
        if when is not None:
            raise erased_error(when)
        return envelope.open_legacy(resolve_keyring(keyring), token).decode("utf-8")
    data_key = load_case_key(session, case_id, keyring=keyring)
    if data_key is None:
        raise IntegrityViolation("an encrypted field names a case key that does not exist")
    return envelope.open_sealed(data_key, token, aad=envelope.aad_for(table, column, row_id)).decode("utf-8")


def commit_text(session: Session, case_id: str, text: str, *, keyring: KeyringLike = None) -> str:
    """Keyed commitment (hex HMAC-SHA256, subkey HKDF of the case key) to a text; Erased after erasure."""
    data_key = load_case_key(session, case_id, keyring=keyring, create=True)
    assert data_key is not None
    return envelope.commitment(data_key, text)


def verify_commitment(session: Session, case_id: str, text: str, commitment: str, *,
                      keyring: KeyringLike = None) -> bool:
    """True when `commitment` is commit_text's value for this case and text; Erased after erasure."""
    data_key = load_case_key(session, case_id, keyring=keyring)
    return data_key is not None and envelope.commitment_matches(data_key, text, commitment)


def destroy_case_key(session: Session, *, case_id: str, now: datetime) -> CaseKey:
    """Crypto-shred: overwrite the wrapped key with NULL and record erased_at (a case with no key gets a row)."""
    row = session.get(CaseKey, case_id)
    if row is None:
        row = CaseKey(case_id=case_id, created_at=now)
    row.wrapped, row.key_id, row.erased_at = None, None, now
    session.add(row)
    session.flush()
    return row


class RewrapReport(BaseModel):
    """What a centre-key rotation did."""

    key_id: str
    rewrapped: int
    already_current: int
    erased: int
    total: int


def rewrap_case_keys(session: Session, *, actor: Actor, keyring: KeyringLike = None,
                     now: datetime | None = None) -> RewrapReport:
    """Rewrap every live case key under the current centre key (no data re-encrypted); one ledger entry."""
    now = now or utcnow()
    ring = resolve_keyring(keyring)
    counts = {"rewrapped": 0, "already_current": 0, "erased": 0}
    rows = session.execute(select(CaseKey).order_by(CaseKey.case_id).with_for_update()).scalars().all()
    for row in rows:
        if row.erased_at is not None or row.wrapped is None or row.key_id is None:
            counts["erased"] += 1
            continue
        if row.key_id == ring.current.key_id:
            counts["already_current"] += 1
            continue
        data_key = envelope.unwrap_key(ring.get(row.key_id), row.case_id, row.wrapped)
        row.wrapped = envelope.wrap_key(ring.current, row.case_id, data_key)
        row.key_id, row.rewrapped_at = ring.current.key_id, now
        session.add(row)
        counts["rewrapped"] += 1
    session.flush()
    ledger.append(session, kind=EventKind.CENTRE_KEY_ROTATED, actor=actor, at=now,
                  data={"key_id": ring.current.key_id, **counts, "total": len(rows)})
    return RewrapReport(key_id=ring.current.key_id, total=len(rows), **counts)


def next_row_id(session: Session, table: Table) -> int:
    """The id an INSERT into `table` (integer primary key `id`) will use, known before the row exists so its
    ciphertext can name it. PostgreSQL: nextval of the column's sequence; SQLite: max(id)+1 (call it after the
    transaction's first write, e.g. the ledger entry: SQLite writers are serialized from there)."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(sql_text("SELECT nextval(pg_get_serial_sequence(:t, 'id'))"),
                                   {"t": table.name}).scalar_one())
    return int(session.execute(select(func.coalesce(func.max(table.c.id), 0) + 1)).scalar_one())
