"""Small-cell suppression of a two-way count table with its totals (PURE: no Session, no SQLAlchemy).

A table is a body of counts with a total per row, per column and a grand total. Together they form a grid of
(rows + 1) x (cols + 1) entries in which every row and every column is one equation: its body entries add up to
its total entry. Rules, applied until nothing changes:

1. primary: an entry from 1 to threshold - 1 is hidden (it could point to a person); zeros stay visible.
2. complementary: a row or column equation with exactly ONE hidden entry would give that entry away (total minus
   the visible ones), so the smallest visible non-zero entry of that line is hidden too.
3. a hidden entry that the whole system of equations still pins down (e.g. one joined to the rest of the hidden
   pattern by a single "bridge") gets one more complement: the smallest visible non-zero entry whose hiding makes
   it undetermined. "Pinned" counts what a reader knows besides the equations: counts are whole numbers and a
   hidden entry is never 0 (zeros are shown), so two hidden cells of a row whose visible cells leave 2 are both 1
   (`pinned`: no integer change of the hidden entries that keeps each of them >= 1 moves it).

Every hidden entry is non-zero, so a line with one hidden entry always has a non-zero visible one to hide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

Pos = tuple[int, int]


@dataclass(frozen=True)
class SuppressedTable:
    """A table after suppression: None marks a hidden entry; the counts say how many were hidden and why."""

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...]
    col_totals: tuple[int | None, ...]
    total: int | None
    threshold: int
    hidden_small: int  # entries from 1 to threshold - 1
    hidden_complementary: int  # entries hidden so that the small ones cannot be worked out

    @property
    def hidden(self) -> int:
        """How many entries (body and totals) are hidden."""
        return self.hidden_small + self.hidden_complementary


def grid_of(body: Sequence[Sequence[int]]) -> list[list[int]]:
    """The body with a total column, a total row and the grand total (the equation grid)."""
    n_cols = len(body[0]) if body else 0
    grid = [[*row, sum(row)] for row in body]
    col_sums = [sum(row[j] for row in body) for j in range(n_cols)]
    grid.append([*col_sums, sum(col_sums)])
    return grid


def lines_of(n_rows: int, n_cols: int) -> list[list[Pos]]:
    """Every equation of a grid of n_rows x n_cols entries (totals last): each row and each column."""
    return ([[(i, j) for j in range(n_cols)] for i in range(n_rows)]
            + [[(i, j) for i in range(n_rows)] for j in range(n_cols)])


def determined(grid: Sequence[Sequence[int]], hidden: set[Pos]) -> set[Pos]:
    """Hidden entries whose value follows exactly from the visible ones through the row/column equations."""
    if not hidden:
        return set()
    order = sorted(hidden)
    index = {p: k for k, p in enumerate(order)}
    n_rows, n_cols = len(grid), len(grid[0])
    rows: list[list[Fraction]] = []
    for line in lines_of(n_rows, n_cols):
        vec = [Fraction(0)] * len(order)
        total = line[-1]
        for p in line:
            if p in index:
                vec[index[p]] += -1 if p == total else 1
        if any(vec):
            rows.append(vec)
    pivots = _rref(rows)
    out = set()
    for p, k in index.items():
        vec = [Fraction(0)] * len(order)
        vec[k] = Fraction(1)
        for col, row in pivots:
            if vec[col]:
                factor = vec[col]
                vec = [a - factor * b for a, b in zip(vec, row, strict=True)]
        if not any(vec):
            out.add(p)
    return out


def _rref(rows: list[list[Fraction]]) -> list[tuple[int, list[Fraction]]]:
    """Reduced row echelon form: (pivot column, row) pairs."""
    pivots: list[tuple[int, list[Fraction]]] = []
    width = len(rows[0]) if rows else 0
    remaining = [r[:] for r in rows]
    for col in range(width):
        pick = next((r for r in remaining if r[col] != 0), None)
        if pick is None:
            continue
        remaining.remove(pick)
        pick = [a / pick[col] for a in pick]
        remaining = [[a - r[col] * b for a, b in zip(r, pick, strict=True)] for r in remaining]
        pivots = [(c, [a - r[col] * b for a, b in zip(r, pick, strict=True)]) for c, r in pivots]
        pivots.append((col, pick))
    return pivots


def pinned(grid: Sequence[Sequence[int]], hidden: set[Pos]) -> set[Pos]:
    """Hidden entries whose value a reader can work out from the visible ones, knowing that the row and column
    equations hold, counts are integers and every hidden entry is at least 1 (zeros are never hidden).

    With the margins' signs flipped the grid's lines all sum to 0, so every change of the hidden entries that keeps
    the equations is a sum of alternating cycles through the bipartite graph rows <-> columns whose edges are the
    hidden entries (the constraint matrix is totally unimodular: a change exists iff a unit one along a simple
    cycle does). An entry is free iff some such unit cycle through it keeps every entry it lowers at >= 1, i.e. a
    directed cycle through its edge in the residual graph. Exact; linear in the hidden entries per entry."""
    last_row, last_col = len(grid) - 1, len(grid[0]) - 1

    def arcs(p: Pos) -> list[tuple[tuple[str, int], tuple[str, int]]]:
        i, j = p
        sign = -1 if (i == last_row) != (j == last_col) else 1  # margins enter their line with sign -1
        out = []
        if sign == 1 or grid[i][j] >= 2:  # +1 on the cycle: the entry moves by `sign`
            out.append((("r", i), ("c", j)))
        if sign == -1 or grid[i][j] >= 2:  # -1 on the cycle: the entry moves by -`sign`
            out.append((("c", j), ("r", i)))
        return out

    graph = {p: arcs(p) for p in hidden}

    def reaches(start: tuple[str, int], goal: tuple[str, int], without: Pos) -> bool:
        seen, todo = {start}, [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            for q, qarcs in graph.items():
                if q == without:
                    continue
                for a, b in qarcs:
                    if a == node and b not in seen:
                        seen.add(b)
                        todo.append(b)
        return False

    return {p for p in hidden if not any(reaches(b, a, p) for a, b in graph[p])}


def _smallest(grid: Sequence[Sequence[int]], candidates: list[Pos]) -> Pos | None:
    """The visible non-zero entry with the smallest value (ties: first in row-major order)."""
    nonzero = [p for p in candidates if grid[p[0]][p[1]] > 0]
    return min(nonzero, key=lambda p: (grid[p[0]][p[1]], p)) if nonzero else None


def _line_rule(grid: Sequence[Sequence[int]], hidden: set[Pos], lines: list[list[Pos]]) -> set[Pos]:
    """Rule 2 until stable: returns the entries added."""
    added: set[Pos] = set()
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(p in hidden for p in line) == 1:
                pick = _smallest(grid, [p for p in line if p not in hidden])
                if pick is not None:
                    hidden.add(pick)
                    added.add(pick)
                    changed = True
    return added


def hide(grid: Sequence[Sequence[int]], threshold: int) -> tuple[set[Pos], set[Pos]]:
    """(primary, complementary) hidden positions of an equation grid (see the module docstring)."""
    n_rows, n_cols = len(grid), len(grid[0])
    lines = lines_of(n_rows, n_cols)
    primary = {(i, j) for i in range(n_rows) for j in range(n_cols) if 0 < grid[i][j] < threshold}
    hidden = set(primary)
    complementary = _line_rule(grid, hidden, lines)
    while True:
        exposed = pinned(grid, hidden)
        if not exposed:
            return primary, complementary
        visible = [(i, j) for i in range(n_rows) for j in range(n_cols) if (i, j) not in hidden]
        ordered = sorted((p for p in visible if grid[p[0]][p[1]] > 0), key=lambda p: (grid[p[0]][p[1]], p))
        for pick in ordered:  # the smallest complement that un-pins an exposed entry
            trial = hidden | {pick}
            _line_rule(grid, trial, lines)
            if not (pinned(grid, trial) & exposed) or pick == ordered[-1]:
                break
        else:  # nothing visible and non-zero is left: every hidden entry is already as hidden as it gets
            return primary, complementary
        added = trial - hidden
        hidden |= added
        complementary |= added


def suppress(rows: Sequence[str], cols: Sequence[str], body: Sequence[Sequence[int]],
             threshold: int) -> SuppressedTable:
    """Suppress `body` (len(rows) x len(cols) counts) and its totals at `threshold`."""
    if threshold < 1:
        raise ValueError("the suppression threshold is at least 1")
    if len(body) != len(rows) or any(len(r) != len(cols) for r in body):
        raise ValueError("the body must have one row per row label and one count per column label")
    if any(v < 0 for r in body for v in r):
        raise ValueError("counts are never negative")
    grid = grid_of(body) if rows and cols else [[sum(map(sum, body))]]
    primary, complementary = hide(grid, threshold) if rows and cols else (set(), set())
    shown = [[None if (i, j) in primary | complementary else v for j, v in enumerate(r)] for i, r in enumerate(grid)]
    n = len(rows)
    return SuppressedTable(
        rows=tuple(rows), cols=tuple(cols),
        cells=tuple(tuple(r[:-1]) for r in shown[:n]) if rows and cols else tuple(tuple() for _ in rows),
        row_totals=tuple(r[-1] for r in shown[:n]) if rows and cols else tuple(0 for _ in rows),
        col_totals=tuple(shown[n][:-1]) if rows and cols else tuple(0 for _ in cols),
        total=shown[n][-1] if rows and cols else 0,
        threshold=threshold, hidden_small=len(primary), hidden_complementary=len(complementary))
