"""Migration 0025 (case-review texts under the case key) up and down on SQLite and PostgreSQL, over a database
holding review texts written before it under the centre key (Fernet): a live case's stay as they are and readable,
and `reencrypt_legacy` (`coc admin reencrypt`) re-seals them under the case key, which the decision table's
trigger now allows (only text_ciphertext may change); a case erased before 0025 has its legacy texts shredded
(they read as ERASED_TEXT and no centre key opens them); the downgrade refuses every UPDATE again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from core import crypto, migrate
from core.actors import system_actor
from core.db import make_engine
from core.errors import IntegrityViolation
from policies.agencies import CENTRE_AGENCY_ID
from policies.reencrypt import reencrypt_legacy
from policies.review.texts import open_review_text
from tests.integration.test_migration_0003 import _empty_pg

T = "2026-11-01 10:00:00+00:00"
KEY = Fernet.generate_key().decode()
RING = crypto.Keyring.from_secrets(KEY)
TEXTS = {("case_review_decision", 1): "decision about Canarymigrant", ("case_review_action", 1): "action Canary",
         ("case_review_decision", 2): "erased decision Canarymigrant", ("case_review_action", 2): "erased action"}
CASE_OF = {1: "C1", 2: "C2"}  # row id → case (C2 erased before 0025)


def _legacy_rows(engine) -> None:
    with engine.begin() as c:
        for case_id in CASE_OF.values():
            c.execute(sa.text("INSERT INTO case_record (id, jurisdiction, reporting, age_band, opened_at, opened_by) "
                              "VALUES (:c, 'default', 'unrestricted', 'adult', :t, 'U1')"), {"c": case_id, "t": T})
            c.execute(sa.text("INSERT INTO case_review (id, case_id, scheduled_for, scheduled_by, created_at, "
                              "ledger_seq) VALUES (:r, :c, :t, 'U1', :t, 1)"), {"r": f"V{case_id}", "c": case_id,
                                                                                   "t": T})
        c.execute(sa.text("INSERT INTO case_key (case_id, wrapped, key_id, created_at, erased_at) "
                          "VALUES ('C2', NULL, NULL, :t, :t)"), {"t": T})
        for row_id, case_id in CASE_OF.items():
            c.execute(sa.text("INSERT INTO case_review_decision (id, review_id, text_ciphertext, recorded_by, "
                              "recorded_at, ledger_seq) VALUES (:i, :r, :v, 'U1', :t, 2)"),
                      {"i": row_id, "r": f"V{case_id}", "t": T,
                       "v": crypto.encrypt_text(TEXTS["case_review_decision", row_id], key=KEY)})
            c.execute(sa.text("INSERT INTO case_review_action (id, review_id, owner_agency_id, due_at, status, "
                              "text_ciphertext, created_by, created_at, ledger_seq) "
                              "VALUES (:i, :r, :a, :t, 'open', :v, 'U1', :t, 3)"),
                      {"i": row_id, "r": f"V{case_id}", "a": CENTRE_AGENCY_ID, "t": T,
                       "v": crypto.encrypt_text(TEXTS["case_review_action", row_id], key=KEY)})
        # a decision of the erased case without text stays without
        c.execute(sa.text("INSERT INTO case_review_decision (id, review_id, text_ciphertext, recorded_by, "
                          "recorded_at, ledger_seq) VALUES (3, 'VC2', NULL, 'U1', :t, 4)"), {"t": T})


def _tokens(engine) -> dict[tuple[str, int], bytes | None]:
    out = {}
    with engine.connect() as c:
        for table in ("case_review_decision", "case_review_action"):
            for row_id, token in c.execute(sa.text(f"SELECT id, text_ciphertext FROM {table}")):  # noqa: S608
                out[table, row_id] = bytes(token) if token is not None else None
    return out


def _update(engine, statement: str) -> None:
    with engine.begin() as c:
        c.execute(sa.text(statement))


def _read(s: Session, table: str, row_id: int, token: bytes) -> str | None:
    return open_review_text(s, case_id=CASE_OF[row_id], table=table, row_id=row_id, token=token, keyring=RING)


def test_review_texts_migrate_to_the_case_key(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0024")
        engine = make_engine(url)
        try:
            _legacy_rows(engine)
            before = _tokens(engine)
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "UPDATE case_review_decision SET text_ciphertext = text_ciphertext")

            migrate.upgrade(url, "0025")
            after = _tokens(engine)
            # The live case's legacy texts are as they were; the erased case's are shredded (sealed format that
            # no key opens); no text stays no text.
            assert after["case_review_decision", 1] == before["case_review_decision", 1]
            assert after["case_review_action", 1] == before["case_review_action", 1]
            assert after["case_review_decision", 3] is None
            for key in (("case_review_decision", 2), ("case_review_action", 2)):
                assert after[key] != before[key] and crypto.is_sealed(after[key])
                with pytest.raises(IntegrityViolation):
                    crypto.open_legacy(RING, after[key])
            # Only the decision's text may change now; every other column and DELETE stay refused.
            _update(engine, "UPDATE case_review_decision SET text_ciphertext = text_ciphertext WHERE id = 1")
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "UPDATE case_review_decision SET recorded_by = 'U2'")
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "DELETE FROM case_review_decision")

            migrate.upgrade(url, "head")  # the code's schema for the reads and the re-encryption
            with Session(engine) as s:
                for (table, row_id), token in after.items():
                    if row_id in CASE_OF:
                        expected = TEXTS[table, row_id] if CASE_OF[row_id] == "C1" else crypto.ERASED_TEXT
                        assert _read(s, table, row_id, token) == expected
                report = reencrypt_legacy(s, actor=system_actor("test"), keyring=RING)
                s.commit()
            assert (report.rewritten, report.skipped_erased, report.already_sealed) == (2, 0, 2)
            resealed = _tokens(engine)
            with Session(engine) as s:
                for table in ("case_review_decision", "case_review_action"):
                    token = resealed[table, 1]
                    assert crypto.is_sealed(token) and _read(s, table, 1, token) == TEXTS[table, 1]
                    with pytest.raises(IntegrityViolation):
                        crypto.open_legacy(RING, token)

            command.downgrade(migrate.alembic_config(url), "0024")
            assert _tokens(engine) == resealed
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "UPDATE case_review_decision SET text_ciphertext = text_ciphertext")
            with pytest.raises(DBAPIError, match="append-only"):
                _update(engine, "DELETE FROM case_review_decision")
        finally:
            engine.dispose()
