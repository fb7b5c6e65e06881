"""Soak: a mixed workload of examiners, advocates, evidence-store staff, officers and auditors from a fixed seed against
a running stack, then a full consistency check (issue #17, "Load").

    .venv/bin/python benchmarks/soak.py                       # starts `coc up` in a temp data dir; 30 clients, 10 min
    .venv/bin/python benchmarks/soak.py --short               # the suite's form: 6 clients, 15 s
    .venv/bin/python benchmarks/soak.py --api http://a:8000,http://b:8001 --admin-password ...   # another stack
    nice -n 10 .venv/bin/python benchmarks/soak.py --compare --seconds 150   # SQLite `coc up`, then the production
                                                              # layout (PostgreSQL, two APIs: tests/fixtures/topology)

Each client is a thread with its own random.Random(f"{seed}:{n}") and its own staff account; the clients spread over
the API processes given. Every acknowledged write (2xx) goes in a client-side journal; afterwards the ledger (read
through GET /audit/log) must hold each acknowledged effect exactly once, nothing more except what an unanswered
request (timeout, 5xx) may have done, and GET /audit/verify must say the ledger verifies. First the same request mix
runs with one client for a few seconds: the baseline latency, measured in the same run. No timing is asserted.

The last line is one JSON object: {"requests", "errors_5xx", "errors_by_status", "p50_ms", "p95_ms", "p99_ms",
"ledger_verified", "lost_or_duplicated", "api_processes", "baseline_p95_ms", "api_rss_growth_mb", "api_open_fds",
...}; with --compare, {"topologies": {"sqlite-embedded": {...}, "postgresql-two-apis": {...}}, ...}: the same
workload and seed on each, one after the other (never both at once), each with its own baseline. The production
layout has no local login: its staff get token subjects and tokens from the harness's identity provider. RSS and
open file descriptors are the API processes' (psutil), sampled when the soak starts (after the baseline) and ends.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' stack fixture lives in the repository

from api.client import ApiError, CocClient  # noqa: E402

ROLES = ("examiner", "advocate", "lab", "law_enforcement", "auditor")
EXAM_SCOPES = ("medical-care", "forensic-exam")
START_ATTEMPTS = 3  # a stack whose port another process took between choosing and binding it starts again
MORE_SCOPES = ("evidence-swabs", "photography-record", "report-to-police", "evidence-clothing", "lab-testing")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Stats:
    """Every request's status and latency (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.reasons: Counter[str] = Counter()

    def refused(self, exc: Exception) -> None:
        with self.lock:
            self.reasons[f"{getattr(exc, 'status', type(exc).__name__)} {str(exc)[:90]}"] += 1

    def record(self, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds * 1000)
            self.statuses[status] += 1


class TimedClient(CocClient):
    """CocClient that records each request's status (0: no answer) and latency."""

    def __init__(self, stats: Stats, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats

    def _send(self, method, path, **kwargs):  # type: ignore[override]
        t0 = time.perf_counter()
        status = 0
        try:
            response = super()._send(method, path, **kwargs)
            status = response.status_code
            return response
        except ApiError as exc:
            status = exc.status
            raise
        finally:
            self.stats.record(status, time.perf_counter() - t0)


@dataclass
class Journal:
    """Acknowledged writes (kind, key) and writes whose outcome is unknown (no answer or a 5xx)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: Counter[tuple[str, str]] = field(default_factory=Counter)
    unknown: Counter[tuple[str, str]] = field(default_factory=Counter)
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)  # 5xx saying "nothing was recorded"

    def ack(self, kind: str, key: str) -> None:
        with self.lock:
            self.acked[(kind, key)] += 1

    def maybe(self, kind: str, key: str) -> None:
        with self.lock:
            self.unknown[(kind, key)] += 1


@dataclass
class World:
    """What the clients share: the accounts, the admin (for assignments), open cases, items and who holds them."""

    urls: list[str]
    admin: CocClient
    admin_lock: threading.Lock
    users: dict[str, list[dict]]  # role -> [{id, username, password or subject}]
    journal: Journal
    stats: Stats
    sign_in: Any  # (client, persona) -> None: a login, or a token for the persona's subject
    lock: threading.Lock = field(default_factory=threading.Lock)
    cases: list[dict] = field(default_factory=list)  # {id, examiner, advocate, store}
    held: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)  # user id -> [(item id, case)] held

    def hold(self, user_id: str, item_id: str, case: dict) -> None:
        with self.lock:
            self.held.setdefault(user_id, []).append((item_id, case))

    def take_held(self, user_id: str, rng: random.Random) -> tuple[str, dict] | None:
        with self.lock:
            items = self.held.get(user_id) or []
            return items.pop(rng.randrange(len(items))) if items else None

    def cases_of(self, role: str, user_id: str) -> list[dict]:
        with self.lock:
            return [c for c in self.cases if c.get(role) == user_id]


def _write(world: World, what: str, key: str, fn, *args, **kwargs) -> Any:
    """Send a write: journal it as acknowledged on 2xx, as unknown on no answer / 5xx; 4xx changed nothing."""
    try:
        out = fn(*args, **kwargs)
    except ApiError as exc:
        world.stats.refused(exc)
        # No answer, or a 5xx that does not say nothing was recorded: the effect may or may not be there. A 503
        # "nothing was recorded" (core.dbhealth) is taken at its word: an effect of it counts as a duplicate.
        if exc.status == 0 or (exc.status >= 500 and "nothing was recorded" not in str(exc)):
            world.journal.maybe(what, key)
        elif exc.status >= 500:
            with world.journal.lock:
                world.journal.refused[(what, key)] += 1
        return None
    if key == "?" and isinstance(out, dict):
        key = out.get("id", key)
    world.journal.ack(what, key)
    return out


class Client:
    """One simulated person: a role (or, for the baseline, every role in turn) and a seeded random stream."""

    def __init__(self, world: World, n: int, seed: int, personas: list[dict]) -> None:
        self.world, self.rng = world, random.Random(f"{seed}:{n}")
        self.clients = []
        for p in personas:
            c = TimedClient(world.stats, world.urls[n % len(world.urls)], timeout=60)
            world.sign_in(c, p)
            self.clients.append((p, c))

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            persona, client = self.rng.choice(self.clients)
            try:
                getattr(self, persona["role"])(persona, client)
            except ApiError as exc:  # counted by the stats; writes were journalled by _write
                self.world.stats.refused(exc)
            except Exception as exc:  # a bug of the soak itself: count it, say it, keep going  # noqa: BLE001
                self.world.stats.refused(exc)
            time.sleep(self.rng.uniform(0.05, 0.3))  # think time: people, not a tight loop

    def close(self) -> None:
        for _, c in self.clients:
            c.close()

    # -- examiners: open cases (consents, assignments), collect kits, offer them to the evidence store ----------
    def examiner(self, me: dict, c: CocClient) -> None:
        w, rng = self.world, self.rng
        mine = w.cases_of("examiner", me["id"])
        roll = rng.random()
        if not mine or roll < 0.15:
            case = _write(w, "case:case:opened", "?", c.open_case, reporting=rng.choice(["unrestricted", "restricted"]))
            if case is None:
                return
            entry = {"id": case["id"], "examiner": me["id"], "advocate": rng.choice(w.users["advocate"])["id"],
                     "store": rng.choice(w.users["lab"])["id"]}
            # POST /cases assigns the examiner who opens it (api/routes/cases.py): journalled with the opening.
            w.journal.ack("case:assignment:granted", f"{case['id']}/{me['id']}")
            with w.admin_lock:
                for role in ("advocate", "store"):
                    _write(w, "case:assignment:granted", f"{case['id']}/{entry[role]}", w.admin.assign, case["id"],
                           entry[role])
            for scope in EXAM_SCOPES:
                _write(w, "consent:decision:recorded", case["id"], c.record_consent, case["id"], scope=scope,
                       decision="granted", method="verbal")
            _write(w, "consent:decision:recorded", case["id"], c.record_consent, case["id"],
                   scope="share-with-advocate", decision="granted", method="written", form_ref="FORM-ADV1",
                   expires_at=(datetime.now(UTC) + timedelta(days=90)).isoformat())
            with w.lock:
                w.cases.append(entry)
        elif roll < 0.40:
            case = rng.choice(mine)
            item = _write(w, "custody:item:collected", "?", c.add_item, case["id"], kind="kit",
                          description="sexual assault kit")
            if item is not None:
                w.hold(me["id"], item["id"], case)
        elif roll < 0.55:
            case = rng.choice(mine)
            _write(w, "consent:decision:recorded", case["id"], c.record_consent, case["id"],
                   scope=rng.choice(MORE_SCOPES), decision=rng.choice(["granted", "declined"]), method="verbal")
        elif roll < 0.75:
            held = w.take_held(me["id"], rng)
            if held is None:
                return
            item_id, case = held
            _write(w, "custody:transfer:offered", "?", c.offer_transfer, item_id, to_user=case["store"],
                   reason="to the evidence store", condition="sealed")
        else:
            case = rng.choice(mine)
            c.get_case(case["id"])
            c.list_items(case["id"])

    # -- evidence store: accept what is offered, check it in ----------------------------------------------------
    def lab(self, me: dict, c: CocClient) -> None:
        w, rng = self.world, self.rng
        roll = rng.random()
        if roll < 0.6:
            offers = c.inbox()
            if offers:
                offer = rng.choice(offers)
                if _write(w, "custody:transfer:accepted", offer["transfer_id"], c.accept_transfer,
                          offer["transfer_id"], condition="sealed, intact") is not None:
                    w.hold(me["id"], offer["item_id"], {"id": offer["case_id"]})
        elif roll < 0.85:
            held = w.take_held(me["id"], rng)
            if held is not None:
                item_id = held[0]
                _write(w, "custody:item:checked-in", item_id, c.check_in, item_id,
                       location=f"SHELF-{rng.randrange(1, 40)}")
        else:
            c.tasks()

    # -- advocates: contacts and services on their cases; their overview ------------------------------------------
    def advocate(self, me: dict, c: CocClient) -> None:
        w, rng = self.world, self.rng
        mine = w.cases_of("advocate", me["id"])
        if not mine:
            c.tasks()
            return
        case = rng.choice(mine)
        roll = rng.random()
        if roll < 0.45:
            _write(w, "advocacy:contact:made", case["id"], c.record_contact, case["id"],
                   rng.choice(["phone", "in-person"]), rng.choice(["reached", "no-answer"]))
        elif roll < 0.65:
            _write(w, "advocacy:service:recorded", case["id"], c.record_service, case["id"],
                   rng.choice(["counselling", "accompaniment", "crisis-line"]), "accepted")
        else:
            c.advocacy_overview(case["id"])

    # -- officers: their inbox, alerts, tasks (read-only: nothing is released to them in this mix) ------------------
    def law_enforcement(self, me: dict, c: CocClient) -> None:
        getattr(c, self.rng.choice(["inbox", "alerts", "tasks"]))()

    # -- auditors: the ledger, its head, now and then a whole verification --------------------------------------
    def auditor(self, me: dict, c: CocClient) -> None:
        roll = self.rng.random()
        if roll < 0.5:
            c.audit_log(limit=50)
        elif roll < 0.98:
            c.tree_head()
        else:  # a whole-ledger verification: now and then (the scheduled ledger-check flow also runs one)
            c.audit_verify()


@dataclass
class Target:
    """A running stack to soak: its API URLs, how its staff sign in, and its API processes (for RSS and fds)."""

    label: str
    urls: list[str]
    admin: dict  # the admin persona: {username, password} or {subject}
    mint: Any = None  # subject -> access token (a stack without local login); None: log in with passwords
    api_pids: list[int] = field(default_factory=list)

    def sign_in(self, client: CocClient, persona: dict) -> None:
        if self.mint is not None:
            client.set_token(self.mint(persona["subject"]))
        else:
            client.login(persona["username"], persona["password"])


def setup(target: Target, clients: int, seed: int, stats: Stats) -> World:
    """An agency for the officers and one account per client (every role at least once), plus a baseline set."""
    urls = target.urls
    admin = CocClient(urls[0], timeout=120)
    target.sign_in(admin, target.admin)
    tag = f"{seed}-{secrets.token_hex(3)}"
    police = f"Soak Police {tag}"
    admin.create_agency(police, "police")
    users: dict[str, list[dict]] = {r: [] for r in ROLES}
    for n in range(max(clients, len(ROLES)) + len(ROLES)):
        role = ROLES[n % len(ROLES)]
        username = f"soak-{role.replace('_', '-')}-{n}-{tag}"
        extra: dict[str, str] = {"agency": police} if role == "law_enforcement" else {}
        secret = ({"subject": f"soak|{username}"} if target.mint is not None
                  else {"password": "Soak-" + secrets.token_hex(10) + "aA1!"})
        user = admin.create_user(username=username, role=role, **secret, **extra)
        users[role].append({"id": user["id"], "username": user["username"], "role": role, **secret})
    return World(urls=urls, admin=admin, admin_lock=threading.Lock(), users=users, journal=Journal(), stats=stats,
                 sign_in=target.sign_in)


def run_clients(world: World, personas: list[list[dict]], seconds: float, seed: int, first: int) -> None:
    """Run one thread per persona list for `seconds`."""
    clients = [Client(world, first + n, seed, p) for n, p in enumerate(personas)]
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=cl.run, args=(until,), daemon=True) for cl in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for cl in clients:
        cl.close()


def read_ledger(auditor: CocClient) -> list[dict]:
    """Every ledger entry, through the API."""
    entries, after = [], 0
    while True:
        batch = auditor.audit_log(after_seq=after, limit=1000)
        entries.extend(batch)
        if len(batch) < 1000:
            return entries
        after = batch[-1]["seq"]


def ledger_key(entry: dict) -> tuple[str, str] | None:
    """The journal key a ledger entry answers to (None: not something the soak journals)."""
    kind, data = entry["kind"], entry["body"].get("data") or {}
    if kind == "case:case:opened":
        return kind, entry["case_id"]
    if kind == "case:assignment:granted":
        return kind, f"{entry['case_id']}/{data.get('user')}"
    if kind in ("consent:decision:recorded", "advocacy:contact:made"):
        return kind, entry["case_id"]
    if kind == "advocacy:service:recorded" and data.get("record") == "service":
        return kind, entry["case_id"]
    if kind == "custody:item:collected":
        return kind, entry["item_id"]
    if kind in ("custody:transfer:offered", "custody:transfer:accepted"):
        return kind, data.get("transfer_id")
    if kind == "custody:item:checked-in":
        return kind, entry["item_id"]
    return None


def check(world: World) -> dict:
    """The ledger verifies; each acknowledged write is there exactly once; nothing beyond the unanswered ones."""
    auditor_user = world.users["auditor"][0]
    with CocClient(world.urls[0], timeout=600) as auditor:
        world.sign_in(auditor, auditor_user)
        verified = bool(auditor.audit_verify().get("ok"))
        entries = read_ledger(auditor)
    soak_cases = {k for (kind, k) in world.journal.acked if kind == "case:case:opened"}
    soak_cases |= {c["id"] for c in world.cases}
    ours = {u["id"] for us in world.users.values() for u in us}
    found: Counter[tuple[str, str]] = Counter()
    for e in entries:
        key = ledger_key(e)
        if key is None:
            continue
        actor = (e["body"].get("actor") or {}).get("id")
        if e["case_id"] in soak_cases or (key[0] == "case:case:opened" and actor in ours):
            found[key] += 1
    acked, unknown = world.journal.acked, world.journal.unknown
    lost = sum(max(0, n - found[k]) for k, n in acked.items())
    problems = [{"kind": k[0], "key": k[1], "acknowledged": n, "in_ledger": found[k],
                 "answered_5xx_nothing_recorded": world.journal.refused.get(k, 0)}
                for k, n in acked.items() if found[k] < n]
    # More than acknowledged: allowed only up to what unanswered requests of that kind (and key) could have done.
    dup = 0
    spare = Counter({kind: 0 for kind, _ in unknown})
    for (kind, _key), n in unknown.items():
        spare[kind] += n
    for k, n in found.items():
        extra = n - acked.get(k, 0)
        if extra > 0:
            use = min(extra, spare[k[0]])
            spare[k[0]] -= use
            dup += extra - use
            if extra > use:
                problems.append({"kind": k[0], "key": k[1], "acknowledged": acked.get(k, 0), "in_ledger": n,
                                 "answered_5xx_nothing_recorded": world.journal.refused.get(k, 0),
                                 "refused_of_kind": sum(v for (kk, _), v in world.journal.refused.items()
                                                        if kk == k[0])})
    return {"ledger_verified": verified, "lost": lost, "duplicated": dup, "ledger_entries": len(entries),
            "acknowledged_writes": sum(acked.values()), "unanswered_writes": sum(unknown.values()),
            "refused_5xx_writes": sum(world.journal.refused.values()), "problems": problems[:20],
            "acknowledged_by_kind": dict(sorted(Counter(k for (k, _), n in acked.items() for _ in range(n)).items()))}


def process_sample(pids: list[int]) -> dict[str, int] | None:
    """RSS (bytes) and open file descriptors summed over the API processes; None when there are none to read."""
    if not pids:
        return None
    import psutil  # the dev extra's; only when there are processes to measure

    rss = fds = 0
    for pid in pids:
        proc = psutil.Process(pid)
        rss += proc.memory_info().rss
        fds += proc.num_fds()
    return {"rss": rss, "fds": fds}


def soak(target: Target, args: argparse.Namespace, seconds: float) -> dict:
    """The baseline, then the soak, then the consistency check, on one running stack: its result dict."""
    base_stats = Stats()
    world = setup(target, args.clients, args.seed, base_stats)
    # Baseline: the same mix with one client (all five roles in turn), in this run, on this stack.
    everyone = [world.users[r][-1] for r in ROLES]
    print(f"[{target.label}] baseline: 1 client, {args.baseline_seconds:.0f} s", file=sys.stderr, flush=True)
    run_clients(world, [everyone], args.baseline_seconds, args.seed, first=10_000)
    stats = Stats()
    world.stats = stats
    personas = [[world.users[ROLES[n % len(ROLES)]][n // len(ROLES)]] for n in range(args.clients)]
    print(f"[{target.label}] soak: {args.clients} clients, {seconds:.0f} s, {len(target.urls)} API process(es)",
          file=sys.stderr, flush=True)
    first_sample = process_sample(target.api_pids)
    started = time.monotonic()
    run_clients(world, personas, seconds, args.seed, first=0)
    elapsed = time.monotonic() - started
    last_sample = process_sample(target.api_pids)
    result = check(world)
    world.admin.close()
    statuses = stats.statuses
    out = {
        "requests": sum(statuses.values()),
        "errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "errors_503": statuses.get(503, 0),
        "no_answer": statuses.get(0, 0),
        "errors_4xx": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "errors_by_status": {str(k): v for k, v in sorted(statuses.items()) if k >= 400 or k == 0},
        "p50_ms": round(percentile(stats.latencies, 0.50), 1),
        "p95_ms": round(percentile(stats.latencies, 0.95), 1),
        "p99_ms": round(percentile(stats.latencies, 0.99), 1),
        "requests_per_s": round(sum(statuses.values()) / elapsed, 1),
        "ledger_verified": result["ledger_verified"],
        "lost_or_duplicated": result["lost"] + result["duplicated"],
        "lost": result["lost"], "duplicated": result["duplicated"],
        "acknowledged_writes": result["acknowledged_writes"], "unanswered_writes": result["unanswered_writes"],
        "acknowledged_by_kind": result["acknowledged_by_kind"], "ledger_entries": result["ledger_entries"],
        "writes_answered_503_nothing_recorded": result["refused_5xx_writes"], "problems": result["problems"],
        "api_processes": len(target.urls),
        "api_rss_mb_start": round(first_sample["rss"] / 2**20, 1) if first_sample else None,
        "api_rss_mb_end": round(last_sample["rss"] / 2**20, 1) if last_sample else None,
        "api_rss_growth_mb": (round((last_sample["rss"] - first_sample["rss"]) / 2**20, 1)
                              if first_sample and last_sample else None),
        "api_open_fds_start": first_sample["fds"] if first_sample else None,
        "api_open_fds": last_sample["fds"] if last_sample else None,
        "clients": args.clients, "seconds": round(seconds), "seed": args.seed,
        "baseline_requests": sum(base_stats.statuses.values()),
        "baseline_p50_ms": round(percentile(base_stats.latencies, 0.50), 1),
        "baseline_p95_ms": round(percentile(base_stats.latencies, 0.95), 1),
        "baseline_errors_5xx": sum(n for s, n in base_stats.statuses.items() if s >= 500),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }
    for reason, n in (stats.reasons + base_stats.reasons).most_common(8):
        print(f"  [{target.label}] {n:6d} x {reason}", file=sys.stderr)
    return out


def soak_embedded(args: argparse.Namespace, seconds: float) -> dict:
    """Start `coc up` (SQLite, embedded) in a temporary data dir, soak it, stop it."""
    from tests.fixtures.stack import CocUp  # only when the soak starts its own stack

    for attempt in range(1, START_ATTEMPTS + 1):
        data = Path(tempfile.mkdtemp(prefix="coc-soak-")) / "data"
        up = CocUp(data, COC_LOGIN_RATE_PER_MIN="6000").start()
        print(f"starting coc up in {data} ...", file=sys.stderr, flush=True)
        try:
            stack = up.wait_ready()
            break
        except AssertionError as exc:  # e.g. a port taken by another process between choosing and binding it
            up.terminate()
            if attempt == START_ATTEMPTS:
                raise
            print(f"coc up did not start ({str(exc).splitlines()[0]}): again", file=sys.stderr, flush=True)
    try:
        pids = [p.pid for p in up.descendants() if "api.app:create_app" in " ".join(p.cmdline())]
        target = Target("sqlite-embedded", [stack.api_url],
                        {"username": stack.admin_user, "password": stack.admin_password}, api_pids=pids)
        return soak(target, args, seconds)
    finally:
        up.terminate()


def soak_topology(args: argparse.Namespace, seconds: float) -> dict:
    """Start the production layout (tests/fixtures/topology.py: PostgreSQL, SeaweedFS, Prefect and two workers,
    two API processes), soak it with the clients spread over both APIs, stop it."""
    import shutil

    from tests.fixtures.topology import Topology

    workdir = Path(tempfile.mkdtemp(prefix="coc-soak-topology-"))
    print(f"starting the production layout in {workdir} ...", file=sys.stderr, flush=True)
    topo = Topology(workdir)
    try:
        topo.start()
        pids = [pid for name, part in topo.parts.items() if name.startswith("api-") and (pid := part.pid())]
        target = Target("postgresql-two-apis", topo.api_urls, {"subject": topo.admin_subject()},
                        mint=topo.token_for, api_pids=pids)
        result = soak(target, args, seconds)
        result["topology_start_s"] = topo.started_s
        return result
    finally:
        topo.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", help="API URL(s), comma-separated (one per API process); default: start `coc up`")
    ap.add_argument("--admin-user", default="admin")
    ap.add_argument("--admin-password", default=os.environ.get("COC_SOAK_ADMIN_PASSWORD"))
    ap.add_argument("--compare", action="store_true",
                    help="soak SQLite `coc up`, then the production layout (PostgreSQL, two APIs), one JSON object")
    ap.add_argument("--topology", action="store_true",
                    help="soak only the production layout (PostgreSQL, SeaweedFS, Prefect + 2 workers, two APIs)")
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, help="duration in seconds (overrides --minutes)")
    ap.add_argument("--baseline-seconds", type=float, default=15.0)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--short", action="store_true", help="the suite's form: 6 clients, 15 s, a 3 s baseline")
    args = ap.parse_args(argv)
    if args.short:
        args.clients, args.seconds, args.baseline_seconds = 6, 15.0, 3.0
    seconds = args.seconds if args.seconds is not None else args.minutes * 60

    if args.compare:
        runs = {"sqlite-embedded": soak_embedded(args, seconds), "postgresql-two-apis": soak_topology(args, seconds)}
        out: dict[str, Any] = {"topologies": runs, "clients": args.clients, "seconds": round(seconds),
                               "seed": args.seed, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "summary": {label: {k: r[k] for k in ("requests", "errors_by_status", "p50_ms",
                                                                     "p95_ms", "p99_ms", "api_rss_growth_mb",
                                                                     "api_open_fds", "lost_or_duplicated",
                                                                     "ledger_verified")}
                                           for label, r in runs.items()}}
    elif args.topology:
        out = {**soak_topology(args, seconds), "seed": args.seed,
               "date": datetime.now(UTC).isoformat(timespec="seconds")}
    elif args.api:
        urls = [u.strip().rstrip("/") for u in args.api.split(",") if u.strip()]
        if not args.admin_password:
            ap.error("--api needs --admin-password (or COC_SOAK_ADMIN_PASSWORD)")
        out = soak(Target("api", urls, {"username": args.admin_user, "password": args.admin_password}), args,
                   seconds)
    else:
        out = soak_embedded(args, seconds)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
