"""The embedded stack's generated secrets: created once, owner-only, and the same for every process that races
to create them on a fresh data dir (a clean clone's test workers all start at once)."""

from __future__ import annotations

import json
import multiprocessing as mp
import stat
from pathlib import Path

from core.settings import SECRETS_FILE, _embedded_secrets


def _race(data_dir: str, barrier, out) -> None:  # noqa: ANN001 - multiprocessing primitives
    barrier.wait()
    out.put(_embedded_secrets(Path(data_dir)))


def test_processes_starting_together_on_a_fresh_data_dir_agree_on_one_set_of_secrets(tmp_path):
    # spawn, not fork: a forked copy of a pytest-xdist worker (its threads, its captured streams) may fail on exit
    ctx = mp.get_context("spawn")
    n = 8
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path / "data"), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    seen = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    on_disk = json.loads((tmp_path / "data" / SECRETS_FILE).read_text())
    assert all(v == on_disk for v in seen), "a process went on with secrets that are not the ones on disk"
    assert sorted(on_disk) == ["identity_key", "s3_access_key", "s3_secret_key"]
    assert [p.name for p in (tmp_path / "data").iterdir()] == [SECRETS_FILE], "a candidate file was left behind"


def test_the_secrets_file_is_owner_only_and_read_back_unchanged(tmp_path):
    first = _embedded_secrets(tmp_path)
    mode = stat.S_IMODE((tmp_path / SECRETS_FILE).stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    assert _embedded_secrets(tmp_path) == first
