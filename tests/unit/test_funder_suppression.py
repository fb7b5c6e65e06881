"""Small-cell suppression (evidence.reports.suppression): pure, with a hypothesis property that no hidden count
can be worked out from the visible ones, by one row or column or by the whole system of equations."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.reports.suppression import _line_rule, determined, grid_of, lines_of, suppress

T = 5


def _shown_grid(t):
    """The published grid (totals last) with None for hidden entries."""
    return [[*r, tot] for r, tot in zip(t.cells, t.row_totals, strict=True)] + [[*t.col_totals, t.total]]


def _recoverable_by_one_line(shown):
    """What an attacker gets by subtracting visible cells from a visible total in one row or column (and a
    total from its visible cells): the hidden positions with exactly one unknown in some line."""
    found = set()
    for line in lines_of(len(shown), len(shown[0])):
        unknown = [p for p in line if shown[p[0]][p[1]] is None]
        if len(unknown) == 1:
            found.add(unknown[0])
    return found


def _rank(rows):
    m = [[Fraction(v) for v in r] for r in rows]
    rank, cols = 0, len(m[0]) if m else 0
    for c in range(cols):
        piv = next((i for i in range(rank, len(m)) if m[i][c] != 0), None)
        if piv is None:
            continue
        m[rank], m[piv] = m[piv], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][c] != 0:
                f = m[i][c] / m[rank][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank], strict=True)]
        rank += 1
    return rank


def _pinned_by_the_system(shown):
    """Hidden entries whose value is fixed by all the equations together (independent check: a unit vector is in
    the row space iff adding it does not raise the rank)."""
    hidden = [(i, j) for i, r in enumerate(shown) for j, v in enumerate(r) if v is None]
    idx = {p: k for k, p in enumerate(hidden)}
    eqs = []
    for line in lines_of(len(shown), len(shown[0])):
        vec = [0] * len(hidden)
        for p in line:
            if p in idx:
                vec[idx[p]] = -1 if p == line[-1] else 1
        eqs.append(vec)
    base = _rank(eqs) if hidden else 0
    return {p for p, k in idx.items() if _rank([*eqs, [int(x == k) for x in range(len(hidden))]]) == base}


def test_a_small_cell_and_its_complements_are_hidden_and_the_rest_is_shown():
    t = suppress(["a", "b", "c"], ["x", "y", "z"], [[3, 10, 12], [8, 9, 20], [15, 2, 30]], T)
    assert t.cells == ((None, None, 12), (8, 9, 20), (None, None, 30))
    assert (t.row_totals, t.col_totals, t.total) == ((25, 37, 47), (26, 21, 62), 109)
    assert (t.hidden_small, t.hidden_complementary) == (2, 2)


def test_a_small_total_is_hidden_too_and_zeros_stay_visible():
    t = suppress(["a", "b"], ["x", "y"], [[2, 0], [20, 30]], T)
    assert t.cells[0][1] == 0 and t.row_totals[0] is None and t.cells[0][0] is None
    assert _recoverable_by_one_line(_shown_grid(t)) == set()


def test_one_row_table_hides_a_pair():
    t = suppress(["a"], ["x", "y"], [[3, 10]], T)
    assert t.cells == ((None, None),) and t.row_totals == (13,) and t.total == 13


def test_no_small_cell_means_nothing_hidden():
    t = suppress(["a", "b"], ["x", "y"], [[5, 6], [0, 9]], T)
    assert t.hidden == 0 and t.cells == ((5, 6), (0, 9))


def test_an_entry_pinned_by_the_whole_system_gets_one_more_complement():
    # Rule 2 alone leaves every line here with 0 or 2+ hidden entries, yet the 12 of row 2 follows from all the
    # equations together; rule 3 adds a complement until nothing hidden is pinned.
    body = [[3, 20, 2], [0, 3, 0], [0, 1, 12], [8, 12, 3]]
    grid = grid_of(body)
    line_rule_only = {(i, j) for i, r in enumerate(grid) for j, v in enumerate(r) if 0 < v < T}
    _line_rule(grid, line_rule_only, lines_of(5, 4))
    assert determined(grid, line_rule_only) == {(2, 2)}
    t = suppress(list("abcd"), list("xyz"), body, T)
    assert t.cells[2][2] is None and _pinned_by_the_system(_shown_grid(t)) == set()
    assert _recoverable_by_one_line(_shown_grid(t)) == set()


def test_bad_tables_are_refused():
    with pytest.raises(ValueError):
        suppress(["a"], ["x"], [[1, 2]], T)
    with pytest.raises(ValueError):
        suppress(["a"], ["x"], [[-1]], T)


tables = st.integers(1, 4).flatmap(lambda r: st.integers(1, 4).flatmap(
    lambda c: st.lists(st.lists(st.one_of(st.integers(0, 6), st.integers(0, 40)), min_size=c, max_size=c),
                       min_size=r, max_size=r)))


@settings(max_examples=150, deadline=None)
@given(body=tables, threshold=st.integers(2, 11))
def test_no_hidden_count_can_be_worked_out_from_visible_cells_and_totals(body, threshold):
    t = suppress([f"r{i}" for i in range(len(body))], [f"c{j}" for j in range(len(body[0]))], body, threshold)
    shown, truth = _shown_grid(t), grid_of(body)
    # every visible entry is the true value, and is 0 or at least the threshold
    for srow, trow in zip(shown, truth, strict=True):
        for s, v in zip(srow, trow, strict=True):
            assert s is None or (s == v and (v == 0 or v >= threshold))
    # no hidden entry is recoverable from one row or column: visible total minus visible cells
    assert _recoverable_by_one_line(shown) == set()
    # nor from all the equations together
    assert _pinned_by_the_system(shown) == set()
    assert t.hidden == sum(v is None for r in shown for v in r)
