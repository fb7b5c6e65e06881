"""Benchmark: a 1 GiB evidence upload through the API vs minio.put_object of the same bytes, same server, same run.

Starts a SeaweedFS (api.stack.seaweed) and the API under uvicorn in a subprocess (SQLite database, embedded
issuer), uploads the same 1 GiB file both ways (one warm-up round each, then --rounds interleaved rounds each,
alternating which path goes first; the ratio compares the medians), and samples the API process's RSS while it
streams (growth measured from before the warm-up). Goals: throughput ratio API/direct ≥ 0.9, API RSS growth ≤ 64 MiB.
Last line of output: one JSON object {"ratio_vs_direct": ..., "api_rss_growth_mib": ..., ...}.

    .venv/bin/python benchmarks/evidence_upload.py [--size-mib 1024] [--rounds 5] [--signed-rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.stack.seaweed import free_ports, start_seaweed  # noqa: E402

CHUNK = 1024 * 1024
PART = 16 * 1024 * 1024


def make_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path` and return their SHA-256."""
    h = hashlib.sha256()
    block = os.urandom(PART)  # random enough for a storage benchmark, cheaper than 1 GiB of urandom
    with open(path, "wb") as fh:
        left = size
        i = 0
        while left:
            n = min(left, len(block))
            piece = (i.to_bytes(8, "big") + block[8:])[:n]  # every part distinct (no dedup shortcuts)
            fh.write(piece)
            h.update(piece)
            left -= n
            i += 1
    return h.hexdigest()


def prepare(data_dir: Path, env: dict[str, str]) -> tuple[str, str]:
    """Migrate the database, create an examiner, a case and an item; return (item_id, token)."""
    os.environ.update(env)
    from sqlmodel import Session

    from api.auth.issuer import hash_password, load_or_create_keys, mint_token
    from core import migrate
    from core.actors import Actor, system_actor
    from core.cases import CaseCreate
    from core.db import make_engine
    from core.settings import get_settings
    from evidence.items import EvidenceItemCreate, ItemKind, collect_item
    from policies.authz import UserCreate, assign, create_user
    from policies.cases import open_case

    settings = get_settings()
    migrate.upgrade(settings.database_url)
    keys = load_or_create_keys(settings.data_dir)
    engine = make_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as s:
        user = create_user(s, actor=system_actor("bench"), data=UserCreate(username="bench-examiner", role="examiner"),
                           password_hash=hash_password(secrets.token_urlsafe(12)))
        actor = Actor(id=user.id, role="examiner")
        case = open_case(s, actor=actor, data=CaseCreate())
        assign(s, actor=system_actor("bench"), case_id=case.id, user_id=user.id)
        # The pack's retention (20 years; a shorter date is refused): the bench's own SeaweedFS lives in a
        # temporary directory, so its locked objects go with it.
        item = collect_item(s, actor=actor, case_id=case.id, data=EvidenceItemCreate(
            kind=ItemKind.DIGITAL_FILE, description="benchmark file"))
        s.commit()
    engine.dispose()
    return item.id, mint_token(settings, keys, user)


def cpu_seconds(proc: psutil.Process, children: bool = True) -> float:
    """User + system CPU seconds used so far by a process (and, unless told otherwise, its children)."""
    total = 0.0
    for p in [proc, *(proc.children(recursive=True) if children else ())]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


class CpuMeter:
    """CPU seconds each named process used during a `with` block."""

    def __init__(self, **procs: psutil.Process) -> None:
        self.procs, self.used = procs, {}
        self._me = psutil.Process().pid

    def _now(self) -> dict[str, float]:
        # This process's children are the API and the store: count them under their own names only.
        return {k: cpu_seconds(p, children=p.pid != self._me) for k, p in self.procs.items()}

    def __enter__(self) -> CpuMeter:
        self._t0 = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        now = self._now()
        self.used = {k: round(now[k] - self._t0[k], 2) for k in self.procs}


class RssSampler:
    """Samples a process's RSS every few milliseconds in a thread; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def upload_api(base: str, token: str, item_id: str, path: Path, size: int) -> tuple[float, dict]:
    """Stream the file through PUT /items/{id}/file; return (seconds, response json)."""
    def body():
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    with httpx.Client(base_url=base, timeout=600) as c:
        t0 = time.perf_counter()
        r = c.put(f"/items/{item_id}/file", content=body(),
                  headers={"Authorization": f"Bearer {token}", "Content-Length": str(size),
                           "Content-Type": "application/octet-stream"})
        elapsed = time.perf_counter() - t0
    r.raise_for_status()
    return elapsed, r.json()


def upload_direct(endpoint: str, ak: str, sk: str, bucket: str, path: Path, size: int) -> float:
    """minio.put_object of the same file to the same server; return seconds."""
    from minio import Minio

    client = Minio(endpoint, access_key=ak, secret_key=sk, secure=False)
    with open(path, "rb") as fh:
        t0 = time.perf_counter()
        client.put_object(bucket, f"direct/{secrets.token_hex(8)}", fh, size, part_size=PART)
        return time.perf_counter() - t0


def wait_http(url: str, timeout: float = 60) -> None:
    """Wait until `url` answers at all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def start_api(env: dict[str, str], base: str, token: str, item_id: str, small: Path) -> subprocess.Popen:
    """The API under uvicorn with `env`; returns once it has stored a small warm-up file."""
    port = base.rsplit(":", 1)[1]
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
                            "127.0.0.1", "--port", port, "--log-level", "warning", "--no-access-log"],
                           cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    wait_http(f"{base}/auth/jwks.json")
    # Warm-up: first request builds the engine, the S3 client, checks the bucket (and probes payload hashes).
    upload_api(base, token, item_id, small, small.stat().st_size)
    return api


def stop_api(api: subprocess.Popen) -> None:
    """SIGTERM the API and wait for it."""
    if api.poll() is None:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(timeout=20)
        except subprocess.TimeoutExpired:
            api.kill()


def main() -> None:
    """Run the benchmark and print the JSON summary as the last line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5, help="measured rounds per path (after one warm-up each)")
    ap.add_argument("--signed-rounds", type=int, default=3,
                    help="extra API rounds with COC_S3_PAYLOAD_HASH=sign, for comparison")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    size = args.size_mib * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="coc-bench-upload-"))
    ak, sk = "bench" + secrets.token_hex(4), secrets.token_urlsafe(24)
    seaweed = start_seaweed(work / "s3", access_key=ak, secret_key=sk)
    api = None
    try:
        bucket = "coc-bench"
        (port,) = free_ports(1)
        env = {"COC_MODE": "embedded", "COC_DATA_DIR": str(work / "data"),
               "COC_DATABASE_URL": f"sqlite:///{work / 'coc.db'}", "COC_S3_ENDPOINT": seaweed.endpoint,
               "COC_S3_ACCESS_KEY": ak, "COC_S3_SECRET_KEY": sk, "COC_S3_BUCKET": bucket,
               "COC_API_PORT": str(port), "COC_PREFECT_API_URL": "http://127.0.0.1:9/api",
               "COC_UPLOAD_MAX_BYTES": str(size * 2)}
        item_id, token = prepare(work / "data", env)
        from evidence.storage import get_object_store

        get_object_store().ensure_bucket()
        data = work / "payload.bin"
        expected = make_file(data, size)
        base = f"http://127.0.0.1:{port}"
        small = work / "small.bin"
        small.write_bytes(os.urandom(1024 * 1024))
        api = start_api(env, base, token, item_id, small)
        baseline = psutil.Process(api.pid).memory_info().rss
        api_times, direct_times, peak = [], [], baseline
        procs = {"client": psutil.Process(), "api": psutil.Process(api.pid),
                 "store": psutil.Process(seaweed.process.pid)}
        cpu_direct, cpu_api = [], []

        def direct_round() -> float:
            with CpuMeter(**procs) as meter:
                secs = upload_direct(seaweed.endpoint, ak, sk, bucket, data, size)
            cpu_direct.append(meter.used)
            return secs

        def api_round() -> float:
            nonlocal peak
            with RssSampler(api.pid) as sampler, CpuMeter(**procs) as meter:
                secs, row = upload_api(base, token, item_id, data, size)
            cpu_api.append(meter.used)
            peak = max(peak, sampler.peak)  # the warm-up round counts too: RSS growth is from before it
            assert row["sha256"] == expected and row["size"] == size, "API stored different bytes"
            return secs

        # Warm-up, one round each, not in the figures: the store's first large writes allocate its volumes.
        direct_round(), api_round()
        cpu_direct.clear(), cpu_api.clear()
        # Interleaved, alternating which path goes first, so drift in the store's state hits both alike.
        for i in range(args.rounds):
            if i % 2 == 0:
                direct_times.append(direct_round())
                api_times.append(api_round())
            else:
                api_times.append(api_round())
                direct_times.append(direct_round())
        api_s, direct_s = statistics.median(api_times), statistics.median(direct_times)
        # Same run, for comparison: the API with payload hashes always signed (COC_S3_PAYLOAD_HASH=sign), i.e.
        # with the SDK's extra SHA-256 pass that this store does not check (see evidence.storage).
        stop_api(api)
        api = start_api({**env, "COC_S3_PAYLOAD_HASH": "sign"}, base, token, item_id, small)
        procs["api"] = psutil.Process(api.pid)
        signed_times, signed_direct = [], []
        for _ in range(args.signed_rounds):
            secs, row = upload_api(base, token, item_id, data, size)
            assert row["sha256"] == expected and row["size"] == size, "API stored different bytes"
            signed_times.append(secs)
            signed_direct.append(direct_round())  # paired with a direct round, as in the main rounds

        def mean_cpu(rows: list[dict[str, float]]) -> dict[str, float]:
            return {k: round(sum(r[k] for r in rows) / len(rows), 2) for k in rows[0]}

        result = {
            # median of the interleaved rounds of each path (robust to one lucky or unlucky round either side)
            "ratio_vs_direct": round(direct_s / api_s, 3),
            "api_rss_growth_mib": round((peak - baseline) / 2**20, 1),
            "ratio_best_of_rounds": round(min(direct_times) / min(api_times), 3),
            "size_mib": args.size_mib, "api_seconds": round(api_s, 2), "direct_seconds": round(direct_s, 2),
            "api_mib_per_s": round(args.size_mib / api_s, 1), "direct_mib_per_s": round(args.size_mib / direct_s, 1),
            "api_rounds_s": [round(x, 2) for x in api_times], "direct_rounds_s": [round(x, 2) for x in direct_times],
            # the API with COC_S3_PAYLOAD_HASH=sign (the SDK's SHA-256 pass this store does not check), each of
            # its rounds paired with a direct round right after it
            "ratio_vs_direct_signed_payloads": round(statistics.median(signed_direct) / statistics.median(signed_times),
                                                     3) if signed_times else None,
            # CPU seconds per process, mean over the measured rounds (client includes the RSS sampler)
            "cpu_s_api_path": mean_cpu(cpu_api[:len(api_times)]),
            "cpu_s_direct_path": mean_cpu(cpu_direct[:len(direct_times)]),
        }
        print(f"api: {api_times} s, direct: {direct_times} s, RSS baseline {baseline / 2**20:.0f} MiB, "
              f"peak {peak / 2**20:.0f} MiB")
        print(json.dumps(result))
    finally:
        if api is not None:
            stop_api(api)
        seaweed.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
