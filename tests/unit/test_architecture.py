"""Architecture rules, checked on the code as it is (imports inside functions count too).

- import-linter contracts in pyproject.toml ([tool.importlinter]): layers api | flows -> evidence -> policies ->
  core (api and flows independent), python-jose only in api.auth.jwt;
- no import cycle between our modules, at any depth.
"""

from __future__ import annotations

from pathlib import Path

import grimp
from importlinter.application import use_cases
from importlinter.configuration import configure

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "policies", "evidence", "flows", "api")


def test_import_linter_contracts_are_kept(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    configure()
    assert use_cases.lint_imports(config_filename=str(ROOT / "pyproject.toml")) is True


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    edges = {m: sorted(n for n in graph.find_modules_directly_imported_by(m) if n in graph.modules
                       and n.split(".")[0] in PACKAGES) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            for j in range(i, len(edges[node])):
                nxt = edges[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    class G:  # the smallest graph-shaped object _cycles reads
        modules = {"core.a", "core.b", "core.c"}

        @staticmethod
        def find_modules_directly_imported_by(m: str) -> set[str]:
            return {"core.a": {"core.b"}, "core.b": {"core.a"}, "core.c": {"core.a"}}[m]

    assert _cycles(G()) == [["core.a", "core.b"]]  # type: ignore[arg-type]


def test_no_import_cycles_between_our_modules() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == [], "import cycles (imports inside functions included)"
