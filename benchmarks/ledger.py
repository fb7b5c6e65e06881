"""Ledger benchmark: appends/s (SQLite 1 writer, PostgreSQL 1 and 8 writers), full verify of a 1M-entry ledger
against a bare SHA-256 chain loop over the same bytes, and inclusion-proof size/time at 1M.

Run: .venv/bin/python benchmarks/ledger.py   (env: COC_TEST_DATABASE_URL to use an existing PostgreSQL,
BENCH_N entries for the verify/proof part, BENCH_APPEND_S seconds per append run, BENCH_DEEP=1 to also time
the deep verify). Last line: one JSON object with the required keys plus a few extra figures:
  verify_over_fetch_and_bare  verify time / (stream the same bodies from PostgreSQL + the bare chain loop)
  append_per_s_postgres_8w_group_commit  8 writers with core.ledger.writer.PG_GROUP_COMMIT on
  plain_tx_per_s_postgres_8w  8 writer processes each committing one plain row per transaction through a
                              Session (no ledger): the machine's ceiling for one transaction per append
  append_8w_over_plain_tx     append_per_s_postgres_8w / plain_tx_per_s_postgres_8w
  hashing_floor_over_bare     only the hashing any full verify must do (chain hash + RFC 9162 leaf hash of every
                              body + every interior node), in memory, divided by the bare chain loop
Writers are processes (as API processes and flow workers are), not threads sharing one GIL.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from core import ledger, migrate  # noqa: E402
from core.actors import Actor  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.ledger import (  # noqa: E402
    EventKind,  # noqa: E402
    merkle,
    writer,
)
from core.ledger import verify as ledger_verify  # noqa: E402
from tests.services import PgTemplates, start_postgres  # noqa: E402

N = int(os.environ.get("BENCH_N", "1000000"))
APPEND_S = float(os.environ.get("BENCH_APPEND_S", "4"))


def log(msg: str) -> None:
    """Progress to stderr (stdout's last line is the JSON result)."""
    print(msg, file=sys.stderr, flush=True)


def _writer(url: str, t: int, seconds: float, group_commit: bool, ceiling: bool, out, ready, go) -> None:
    """One writer process: append (or, for the ceiling, insert one plain row) in a loop, one transaction each."""
    from sqlalchemy import text

    writer.PG_GROUP_COMMIT = group_commit
    ledger.install_durability_barrier()
    engine = make_engine(url, pool_size=2)
    actor = Actor(id=f"U-bench-{t}", role="lab")
    plain = text("INSERT INTO bench_plain (w, n, body) VALUES (:w, :n, :b)")
    with engine.connect():
        pass  # connect before the clock starts
    ready.release()
    go.wait()  # every writer starts at once: the figure is for `writers` running together
    n, t0 = 0, time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            with Session(engine) as s:
                data = {"location": "freezer 3", "seal_intact": True, "seal_number": f"S-{n}"}
                if ceiling:
                    s.connection().execute(plain, {"w": t, "n": n, "b": json.dumps(data).encode() * 4})
                else:
                    ledger.append(s, kind=EventKind.CHECKED_IN, actor=actor, case_id=f"C{t:015d}",
                                  item_id=f"I{n:015d}", data=data)
                s.commit()
            n += 1
        out.put((n, None))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        out.put((n, repr(exc)))
    finally:
        engine.dispose()


def bench_appends(url: str, writers: int, seconds: float, *, group_commit: bool = False,
                  ceiling: bool = False) -> float:
    """Appends per second through core.ledger.append, one transaction per append, `writers` processes.

    Writers are processes, as in production (several API processes and flow workers); threads in one
    process would measure the GIL. ceiling=True instead inserts one plain row per transaction through a
    Session: what this machine can commit at all, the bound any one-transaction-per-append design meets.
    """
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=_writer, args=(url, t, seconds, group_commit, ceiling, out, ready, go))
             for t in range(writers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    go.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    errors = [e for _, e in results if e]
    if errors:
        raise RuntimeError(errors[0])
    total = sum(n for n, _ in results)
    if not ceiling:
        engine = make_engine(url)
        with Session(engine) as s:
            report = ledger.verify_ledger(s)
            assert report.ok and report.entries == total, report  # no fork under contention
        engine.dispose()
    return total / seconds


def generate(n: int):
    """Build n chained entries with the real canonical code; returns (entry rows, node rows, bodies)."""
    actor = Actor(id="U-lab-0042", role="lab")
    kinds = [EventKind.ITEM_COLLECTED, EventKind.ITEM_SEALED, EventKind.TRANSFER_ACCEPTED, EventKind.CHECKED_IN]
    at0 = datetime(2026, 1, 1, tzinfo=UTC)
    prev, rows, bodies = ledger.GENESIS, [], []
    tree = merkle.MemoryTree()
    for i in range(n):
        seq = i + 1
        at = at0 + timedelta(seconds=i, microseconds=i % 997)
        kind, case, item = kinds[i % 4], f"C{i // 40:015d}", f"I{i // 8:015d}"
        body = ledger.canonical({"v": 1, "seq": seq, "prev": prev, "kind": str(kind), "at": at,
                                 "actor": actor.ledger_ref(), "case": case, "item": item,
                                 "data": {"from_user": "U-exam-0007", "to_user": "U-lab-0042", "reason": "analysis",
                                          "seal_number": f"S-{i:08d}", "seal_intact": True, "location": "freezer 3"}})
        h = hashlib.sha256(body).hexdigest()
        rows.append((seq, str(kind), case, item, at, body, h))
        bodies.append(body)
        tree.append(merkle.leaf_hash(body))
        prev = h
    nodes = [(level, idx, hv) for level, hashes in enumerate(tree.levels) for idx, hv in enumerate(hashes)]
    return rows, nodes, bodies, tree


def bulk_load_pg(url: str, rows, nodes) -> None:
    """COPY entries and nodes into a migrated PostgreSQL database."""
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cols = "seq, kind, case_id, item_id, recorded_at, body, entry_hash"
        with cur.copy(f"COPY ledger_entry ({cols}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        with cur.copy("COPY ledger_node (level, idx, hash) FROM STDIN") as cp:
            for r in nodes:
                cp.write_row(r)
        raw.commit()
        cur.execute("ANALYZE ledger_entry")
        cur.execute("ANALYZE ledger_node")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def bare_chain(bodies) -> float:
    """Seconds for a bare SHA-256 chain loop over the same bytes (hash each body, carry the hex digest)."""
    sha = hashlib.sha256
    t0 = time.perf_counter()
    prev = ledger.GENESIS
    for body in bodies:
        prev = sha(body).hexdigest()
    assert prev
    return time.perf_counter() - t0


def hashing_floor(bodies) -> float:
    """Seconds for only the hashing a full verify must do, in memory: the chain hash of each body, its
    RFC 9162 leaf hash (a second pass over the same bytes) and every interior node. No database, no checks."""
    sha = hashlib.sha256
    t0 = time.perf_counter()
    prev = ledger.GENESIS
    level = []
    for body in bodies:
        prev = sha(body).hexdigest()
        level.append(sha(b"\x00" + body).digest())
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    assert prev and level
    return time.perf_counter() - t0


def fetch_and_bare_chain(session: Session) -> float:
    """Seconds to stream every body from the database (same cursor path as verify) and bare-hash-chain it."""
    from sqlalchemy import select

    sha = hashlib.sha256
    conn = session.connection()
    t0 = time.perf_counter()
    prev = ledger.GENESIS
    stmt = select(ledger.LedgerEntry.body).order_by(ledger.LedgerEntry.seq)
    for (body,) in ledger_verify._raw_stream(conn, stmt, 20000):
        prev = sha(body).hexdigest()
    assert prev
    return time.perf_counter() - t0


def main() -> None:
    """Run every measurement and print the JSON summary as the last line."""
    out: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory(prefix="coc-bench-") as tmp:
        tmpdir = Path(tmp)
        os.chmod(tmpdir, 0o755)  # noqa: S103 - the embedded PostgreSQL runs as its own system user
        sqlite_url = f"sqlite:///{tmpdir / 'bench.db'}"
        migrate.upgrade(sqlite_url)
        log("appends: SQLite, 1 writer")
        out["append_per_s_sqlite_1w"] = round(bench_appends(sqlite_url, 1, APPEND_S), 1)
        admin_url, stop = start_postgres(tmpdir)
        try:
            templates = PgTemplates(admin_url)
            for writers in (1, 8):
                log(f"appends: PostgreSQL, {writers} writer(s)")
                url = templates.fresh()
                out[f"append_per_s_postgres_{writers}w"] = round(bench_appends(url, writers, APPEND_S), 1)
                templates.drop(url)
            log("appends: PostgreSQL, 8 writers, group commit")
            url = templates.fresh()
            extra = {"append_per_s_postgres_8w_group_commit":
                     round(bench_appends(url, 8, APPEND_S, group_commit=True), 1)}
            templates.drop(url)
            log("ceiling: PostgreSQL, 8 writers, one plain INSERT + commit per transaction through a Session")
            url = templates.fresh()
            eng = make_engine(url)
            with eng.begin() as c:
                c.exec_driver_sql("CREATE TABLE bench_plain (id bigserial PRIMARY KEY, w int, n int, body bytea)")
            eng.dispose()
            extra["plain_tx_per_s_postgres_8w"] = round(bench_appends(url, 8, APPEND_S, ceiling=True), 1)
            extra["append_8w_over_plain_tx"] = round(out["append_per_s_postgres_8w"]
                                                      / extra["plain_tx_per_s_postgres_8w"], 2)
            templates.drop(url)
            log(f"generating {N} entries with the canonical code")
            t0 = time.perf_counter()
            rows, nodes, bodies, tree = generate(N)
            log(f"  {time.perf_counter() - t0:.1f} s; loading into PostgreSQL")
            url = templates.fresh()
            t0 = time.perf_counter()
            bulk_load_pg(url, rows, nodes)
            log(f"  {time.perf_counter() - t0:.1f} s")
            del rows, nodes
            engine = make_engine(url)
            with Session(engine) as s:
                t0 = time.perf_counter()
                report = ledger.verify_ledger(s)
                verify_s = time.perf_counter() - t0
                assert report.ok and report.entries == N, report
                assert report.root_hash == tree.root().hex()
                bare_s = bare_chain(bodies)
                fetch_bare_s = fetch_and_bare_chain(s)
                log(f"verify {verify_s:.2f} s, bare chain {bare_s:.2f} s, fetch + bare chain {fetch_bare_s:.2f} s")
                extra["verify_over_fetch_and_bare"] = round(verify_s / fetch_bare_s, 2)
                floor_s = hashing_floor(bodies)
                log(f"hashing floor (chain + leaf + node hashes in memory) {floor_s:.2f} s")
                extra["hashing_floor_over_bare"] = round(floor_s / bare_s, 2)
                if os.environ.get("BENCH_DEEP") == "1":
                    t0 = time.perf_counter()
                    deep = ledger.verify_ledger(s, deep=True)
                    log(f"deep verify (re-parse + canonical re-render) {time.perf_counter() - t0:.2f} s, ok={deep.ok}")
                rng = random.Random(7)
                root = tree.root()
                sizes, times = [], []
                ledger.inclusion_proof(s, 1, N)  # warm the connection
                for _ in range(300):
                    seq = rng.randint(1, N)
                    t0 = time.perf_counter()
                    proof = ledger.inclusion_proof(s, seq, N)
                    times.append(time.perf_counter() - t0)
                    path = [bytes.fromhex(p) for p in proof["path"]]
                    assert merkle.verify_inclusion(merkle.leaf_hash(bodies[seq - 1]), seq - 1, N, path, root)
                    sizes.append(len(path))
                times.sort()
                median, p95 = times[len(times) // 2] * 1e3, times[int(len(times) * .95)] * 1e3
                log(f"proof ms: median {median:.2f}, p95 {p95:.2f}, max hashes {max(sizes)}")
            engine.dispose()
            templates.drop(url)
            templates.admin.dispose()
        finally:
            stop()
    out["verify_1m_s"] = round(verify_s, 2)
    out["verify_over_bare"] = round(verify_s / bare_s, 2)
    out["proof_hashes_1m"] = max(sizes)
    out["proof_ms_1m"] = round(times[len(times) // 2] * 1e3, 3)
    out.update(extra)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
