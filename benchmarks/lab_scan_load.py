"""Load test of the lab desk: N concurrent clients scan items in and out (POST /items/{id}/scan) on PostgreSQL.

    .venv/bin/python benchmarks/lab_scan_load.py [--clients 20] [--duration 60] [--items-per-client 4]

PostgreSQL comes from COC_TEST_DATABASE_URL or an embedded pgserver (tests/services.py start_postgres). The
script migrates a fresh database, creates one case, one lab user per client and the items each client holds
(kind `kit`: no collection consent needed), starts the real API with uvicorn in a subprocess (COC_DATABASE_URL
pointing at PostgreSQL), and drives it with one api.client.CocClient per thread. Every scan toggles an item
(checked in ↔ checked out), so each request is a locked state change plus a ledger append.
The last printed line is one JSON object: throughput_per_s, p50_ms, p95_ms, p99_ms, errors.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from api.auth.issuer import hash_password, load_or_create_keys, mint_token  # noqa: E402
from api.client import ApiError, CocClient  # noqa: E402
from api.stack.children import inherited_env  # noqa: E402
from core import migrate  # noqa: E402
from core.actors import Actor, system_actor  # noqa: E402
from core.cases import CaseCreate  # noqa: E402
from core.settings import load_settings  # noqa: E402
from evidence.items import EvidenceItemCreate, collect_item  # noqa: E402
from policies.authz import UserCreate, create_user  # noqa: E402
from policies.cases import open_case  # noqa: E402
from policies.permissions import Role  # noqa: E402
from tests.services import start_postgres, with_database  # noqa: E402


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(admin_url: str) -> str:
    """Create and migrate a new database on the server; return its URL."""
    name = f"coc_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = with_database(admin_url, name)
    migrate.upgrade(url)
    return url


def drop_database(admin_url: str, db_url: str) -> None:
    """Drop the benchmark's database (matters when COC_TEST_DATABASE_URL points at a shared server)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(db_url).database}" WITH (FORCE)')
    admin.dispose()


def seed(db_url: str, settings, clients: int, per_client: int) -> list[tuple[str, list[str]]]:
    """One case; per client a lab user holding `per_client` items. Returns [(token, item_ids)]."""
    engine = sa.create_engine(db_url)
    keys = load_or_create_keys(settings.data_dir)
    out: list[tuple[str, list[str]]] = []
    pw_hash = hash_password(secrets.token_urlsafe(16))  # tokens are minted directly: nobody logs in
    with Session(engine, expire_on_commit=False) as s:
        examiner = create_user(s, actor=system_actor("bench"), data=UserCreate(username="bench-examiner",
                                                                              role=Role.EXAMINER),
                               password_hash=pw_hash)
        case = open_case(s, actor=Actor(id=examiner.id, role="examiner"), data=CaseCreate(reporting="unrestricted"))
        for n in range(clients):
            user = create_user(s, actor=system_actor("bench"), data=UserCreate(username=f"bench-lab-{n}",
                                                                              role=Role.LAB),
                               password_hash=pw_hash)
            lab = Actor(id=user.id, role="lab")
            items = [collect_item(s, actor=lab, case_id=case.id,
                                  data=EvidenceItemCreate(kind="kit", description=f"bench kit {n}.{i}")).id
                     for i in range(per_client)]
            out.append((mint_token(settings, keys, user), items))
        s.commit()
    engine.dispose()
    return out


def start_api(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    """The real app under uvicorn in a subprocess; returns once /health answers (or raises if it exits)."""
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):  # noqa: S310 - loopback
                return proc
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error status: the server is up (a dependency is not)
                return proc
            time.sleep(0.2)


def drive(url: str, token: str, items: list[str], location: str, stop_at: float, latencies: list[float],
          errors: list[str], lock: threading.Lock, think_s: float = 0.0) -> None:
    """One lab client: scan its items round-robin until `stop_at`, recording each request's latency."""
    mine: list[float] = []
    errs: list[str] = []
    pause = threading.Event()  # never set: wait() is an interruptible sleep between scans
    with CocClient(url, token, timeout=30) as api:
        i = 0
        while time.monotonic() < stop_at:
            if think_s and i:
                pause.wait(think_s)
            item = items[i % len(items)]
            i += 1
            t0 = time.perf_counter()
            try:
                api.scan(item, location=location)
            except ApiError as exc:
                errs.append(f"{exc.status} {exc.detail}")
            mine.append(time.perf_counter() - t0)
    with lock:
        latencies.extend(mine)
        errors.extend(errs)


def tree_cpu(pid: int, *, children: bool = True) -> float:
    """User+system CPU seconds of a process (and, with children, of its live descendants)."""
    procs = [psutil.Process(pid)]
    if children:
        procs += procs[0].children(recursive=True)
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def main() -> int:
    """Run the benchmark and print the result line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--items-per-client", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--think-ms", type=float, default=0.0,
                        help="pause between one client's scans (0: back to back; a person at a desk: ~1000)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="coc-lab-scan-bench-"))
    # Registered before PostgreSQL starts: atexit runs last-in first-out, so pgserver stops before rmtree.
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    admin_url, stop_pg = start_postgres(work)
    api: subprocess.Popen | None = None
    db_url: str | None = None
    try:
        db_url = fresh_database(admin_url)
        port = free_port()
        env = inherited_env()
        env.update(COC_MODE="embedded", COC_DATA_DIR=str(work / "data"), COC_DATABASE_URL=db_url,
                   COC_API_PORT=str(port), COC_PREFECT_API_URL="http://127.0.0.1:9/api",
                   COC_S3_ENDPOINT="127.0.0.1:9", PREFECT_SERVER_ANALYTICS_ENABLED="false")
        settings = load_settings(mode="embedded", data_dir=work / "data", database_url=db_url, api_port=port)
        seeded = seed(db_url, settings, args.clients, args.items_per_client)
        print(f"seeded {args.clients} lab users x {args.items_per_client} items", file=sys.stderr)
        api = start_api(env, port, args.workers, work / "api.log")
        url = f"http://127.0.0.1:{port}"

        lock = threading.Lock()
        if args.warmup > 0:  # connection pools, JIT-free but cold caches: not part of the figures
            warm_stop = time.monotonic() + args.warmup
            warm = [threading.Thread(target=drive, args=(url, tok, items, "BENCH-SHELF", warm_stop, [], [], lock))
                    for tok, items in seeded]
            for t in warm:
                t.start()
            for t in warm:
                t.join()

        latencies: list[float] = []
        errors: list[str] = []
        api_cpu0, own_cpu0 = tree_cpu(api.pid), tree_cpu(os.getpid(), children=False)
        start = time.monotonic()
        stop_at = start + args.duration
        threads = [threading.Thread(target=drive, args=(url, tok, items, "BENCH-SHELF", stop_at, latencies,
                                                        errors, lock, args.think_ms / 1000)) for tok, items in seeded]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        api_cpu, own_cpu = tree_cpu(api.pid) - api_cpu0, tree_cpu(os.getpid(), children=False) - own_cpu0
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        if db_url is not None:
            drop_database(admin_url, db_url)
        stop_pg()

    lat = sorted(latencies)
    if errors:
        print(f"{len(errors)} errors, first: {errors[0]}", file=sys.stderr)
    print(f"{len(lat)} scans in {elapsed:.1f} s by {args.clients} clients; mean "
          f"{statistics.fmean(lat) * 1000:.1f} ms", file=sys.stderr)
    # CPU per scan is less sensitive to a busy machine than latency: it says where the time goes.
    if lat:
        per = 1000 / len(lat)
        print(f"CPU per scan: API {api_cpu * per:.2f} ms, load generator {own_cpu * per:.2f} ms;"
              f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
    result = {"throughput_per_s": round(len(lat) / elapsed, 1), "p50_ms": round(percentile(lat, 0.50) * 1000, 2),
              "p95_ms": round(percentile(lat, 0.95) * 1000, 2), "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
              "errors": len(errors)}
    print(json.dumps(result))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
