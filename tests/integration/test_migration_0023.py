"""Migration 0023 (case_text) up and down on SQLite and PostgreSQL loses nothing: rows written before it keep
their clear text and stay readable; `move_clear_texts` (`coc admin reencrypt`) then seals the clear text of the
tables whose rows may change, leaves the append-only rows as they are (counted), and reads show the same text."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

from core import migrate
from core.crypto import CaseText, is_commitment, show_text
from core.db import make_engine
from evidence.custody import TransferCreate, offer_transfer
from evidence.custody.models import CustodyEvent, Transfer
from evidence.items import EvidenceItem, ItemCustody
from evidence.texts_move import move_clear_texts
from tests.evidence_support import EXAMINER, LAB, new_case, new_item
from tests.integration.test_migration_0003 import _empty_pg
from tests.integration.test_migration_0022 import _insert_card


def test_case_text_up_and_down_keeps_old_rows(tmp_path, pg_templates):
    for url in (f"sqlite:///{tmp_path / 'old.db'}", _empty_pg(pg_templates)):
        migrate.upgrade(url, "0017")
        engine = make_engine(url)
        try:
            assert "case_text" not in sa.inspect(engine).get_table_names()
            _insert_card(engine)  # an item written before 0023: its description "x" is clear text
            migrate.upgrade(url, "0023")
            assert "case_text" in sa.inspect(engine).get_table_names()
            with Session(engine) as s:
                item = s.get(EvidenceItem, "E1111111111111111")
                assert item.description == "x" and show_text(s, item.case_id, item.description) == "x"
            command.downgrade(migrate.alembic_config(url), "0017")
            assert "case_text" not in sa.inspect(engine).get_table_names()
            with engine.connect() as c:
                assert c.execute(sa.text("SELECT description FROM evidence_item")).scalar_one() == "x"
        finally:
            engine.dispose()


def test_reencrypt_moves_clear_text_where_rows_may_change(session):
    case_id = new_case(session)
    item_id = new_item(session, case_id)
    t = offer_transfer(session, actor=EXAMINER, item_id=item_id,
                       data=TransferCreate(to_user=LAB.id, reason="to the lab", condition="sealed"))
    session.commit()
    # What a row written before 0023 looks like: clear text in the columns.
    session.execute(sa.update(EvidenceItem).where(EvidenceItem.id == item_id).values(description="Old Clear swab"))
    session.execute(sa.update(Transfer).where(Transfer.id == t.id).values(reason="Old Clear reason"))
    session.execute(sa.update(ItemCustody).where(ItemCustody.item_id == item_id).values(seal_number="OLD-SEAL-1"))
    session.commit()
    item = session.get(EvidenceItem, item_id)
    session.refresh(item)
    assert show_text(session, case_id, item.description) == "Old Clear swab"  # legacy: readable as it is

    report = move_clear_texts(session, actor=EXAMINER, case_id=case_id)
    session.commit()
    assert report.texts_moved == 3 and report.skipped_erased == 0
    session.expire_all()
    item, transfer = session.get(EvidenceItem, item_id), session.get(Transfer, t.id)
    custody = session.get(ItemCustody, item_id)
    for value, text in ((item.description, "Old Clear swab"), (transfer.reason, "Old Clear reason"),
                        (custody.seal_number, "OLD-SEAL-1")):
        assert is_commitment(value) and show_text(session, case_id, value) == text
    assert session.execute(sa.select(sa.func.count()).select_from(CaseText)
                           .where(CaseText.case_id == case_id)).scalar_one() >= 3
    # Nothing left to move the second time; custody_event rows are append-only and were never clear here.
    again = move_clear_texts(session, actor=EXAMINER, case_id=case_id)
    assert again.texts_moved == 0
    events = session.execute(sa.select(CustodyEvent).where(CustodyEvent.item_id == item_id)).scalars().all()
    assert all(e.reason is None or is_commitment(e.reason) for e in events)
