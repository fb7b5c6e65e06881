"""An INDEPENDENT attacker on the published funder report (issue #15 review): it reads the CSV a funder gets and
tries to work out suppressed counts from the visible cells and totals. What it knows: every row and column adds
up to its total, counts are whole numbers, and a hidden entry is never 0 (zeros are shown). It enumerates every
assignment of the hidden entries that fits (no linear algebra shared with evidence.reports.suppression); a hidden
entry that takes a single value from 1 to threshold - 1 in every fitting assignment is a hole."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import subprocess
from datetime import UTC, datetime

import pytest

from evidence.reports.render import report_dict, to_csv, to_pdf
from evidence.reports.rules import CaseFact, Facts, build_report, report_period
from evidence.reports.suppression import suppress

T = 5
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def published_tables(csv_text: str) -> dict[str, list[list[int | None]]]:
    """Each table of the CSV as a grid (totals last; None = suppressed), rebuilt from the long format only."""
    cells: dict[str, dict[tuple[str, str], int | None]] = {}
    order: dict[str, tuple[list[str], list[str]]] = {}
    for row in list(csv.reader(io.StringIO(csv_text)))[1:]:
        section, r, c, v = row
        if section in ("report", "note", "lab-turnaround"):
            continue
        cells.setdefault(section, {})[(r, c)] = None if v == "suppressed" else int(v)
        rows, cols = order.setdefault(section, ([], []))
        if r not in rows:
            rows.append(r)
        if c not in cols:
            cols.append(c)
    return {s: [[cells[s][(r, c)] for c in order[s][1]] for r in order[s][0]] for s in cells}


def recoverable(grid: list[list[int | None]], threshold: int = T, cap: int = 80,
                small: int | None = None) -> dict[tuple[int, int], int]:
    """Hidden entries with one possible value, from 1 to threshold - 1 (brute force over every fitting
    assignment; each hidden entry between 1 and the smallest visible total over it). `small`: how many hidden
    entries are under the threshold, when the report gives it away."""
    n_r, n_c = len(grid), len(grid[0])
    lines = [[(i, j) for j in range(n_c)] for i in range(n_r)] + [[(i, j) for i in range(n_r)] for j in range(n_c)]
    hidden = [(i, j) for i in range(n_r) for j in range(n_c) if grid[i][j] is None]
    known = {(i, j): v for i, r in enumerate(grid) for j, v in enumerate(r) if v is not None}
    bound = {p: min([cap] + [known[q] for q in ((p[0], n_c - 1), (n_r - 1, p[1]), (n_r - 1, n_c - 1))
                             if q in known]) for p in hidden}
    seen: dict[tuple[int, int], set[int]] = {p: set() for p in hidden}

    def fits() -> bool:
        for line in lines:
            if all(p in known for p in line) and sum(known[p] for p in line[:-1]) != known[line[-1]]:
                return False
        return True

    def search(k: int) -> None:
        if k == len(hidden):
            if small is not None and sum(known[p] < threshold for p in hidden) != small:
                return
            for p in hidden:
                seen[p].add(known[p])
            return
        p = hidden[k]
        for v in range(1, bound[p] + 1):
            known[p] = v
            if fits():
                search(k + 1)
            del known[p]

    search(0)
    return {p: next(iter(vs)) for p, vs in seen.items() if len(vs) == 1 and 0 < next(iter(vs)) < threshold}


def _grid(t) -> list[list[int | None]]:
    return [[*r, tot] for r, tot in zip(t.cells, t.row_totals, strict=True)] + [[*t.col_totals, t.total]]


def test_two_small_cells_left_with_a_sum_of_two_are_not_both_worked_out_as_one():
    """Row a: 6, 1, 1, 9 (total 17): before the fix the two 1s were hidden and nothing else in the row, so the
    row said they add up to 2, and since a hidden count is never 0, both were 1."""
    body = [[6, 1, 1, 9], [2, 0, 2, 9], [9, 2, 6, 9], [5, 12, 5, 7]]
    t = suppress(list("abcd"), list("wxyz"), body, T)
    assert recoverable(_grid(t)) == {}
    assert t.cells[0][1] is None and t.cells[0][2] is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_attacker_recovers_no_small_count_from_random_small_tables(seed):
    rng = random.Random(seed)
    tried = 0
    while tried < 30:  # 90 tables in all
        n_r, n_c = rng.randint(1, 4), rng.randint(2, 4)
        body = [[rng.choice([0, 0, 1, 1, 2, 3, 5, 6, 7, 9, 12]) for _ in range(n_c)] for _ in range(n_r)]
        t = suppress([f"r{i}" for i in range(n_r)], [f"c{j}" for j in range(n_c)], body, T)
        grid = _grid(t)
        if sum(v is None for r in grid for v in r) > 8:  # keep the brute force small
            continue
        tried += 1
        assert recoverable(grid) == {}, (body, grid)


def _cases(spec: dict[tuple[str, str], int]) -> list[CaseFact]:
    out, k = [], 0
    for (jur, band), n in spec.items():
        for _ in range(n):
            out.append(CaseFact(case_key=f"C{k}", jurisdiction=jur, age_band=band,
                                opened_at=datetime(2025, 11, 10, tzinfo=UTC)))
            k += 1
    return out


@pytest.mark.parametrize("spec", [
    # a small jurisdiction: its row is 1 + 1 (and its total 2 is small too)
    {("default", "adult"): 30, ("default", "16-17"): 6, ("us-tx", "adult"): 1, ("us-tx", "16-17"): 1},
    # one age band with a single small cell
    {("default", "adult"): 12, ("default", "16-17"): 1, ("us-tx", "adult"): 9, ("us-tx", "16-17"): 0},
    # two small cells in one row whose visible neighbours leave exactly 2 (the pinned pair)
    {("default", "adult"): 6, ("default", "16-17"): 1, ("default", "14-15"): 1, ("us-tx", "adult"): 9,
     ("us-tx", "16-17"): 7, ("us-tx", "14-15"): 8},
])
def test_the_published_csv_of_synthetic_years_gives_no_small_count_away(spec):
    bands = ["14-15", "16-17", "adult"]
    report = build_report(Facts(cases=_cases(spec), services=[], kit_events=[]),
                          period=report_period(fy=2026, start=None, end=None, now=NOW),
                          jurisdictions=["default", "us-tx"], age_bands=bands, services=["counselling"],
                          threshold=T, jurisdiction=None, generated_at=NOW)
    text = to_csv(report_dict(report))
    grid = published_tables(text)["new-survivors"]
    truth = [[spec.get((j, b), 0) for b in bands] for j in ("default", "us-tx")]
    for i, row in enumerate(truth):  # the attacker's input is the funder's table
        for j, v in enumerate(row):
            assert grid[i][j] in (v, None) and (grid[i][j] is None or grid[i][j] == 0 or grid[i][j] >= T)
    assert recoverable(grid) == {}
    assert "C0" not in text and "C1," not in text


def published_small_count(csv_text: str) -> int | None:
    """How many hidden entries are small counts, if the CSV says so anywhere (a row or a note)."""
    for section, r, _, v in list(csv.reader(io.StringIO(csv_text)))[1:]:
        if section == "report" and r == "hidden_small":
            return int(v)
        found = re.search(r"are hidden \((\d+) entries\)", v) if section == "note" else None
        if found:
            return int(found.group(1))
    return None


def test_the_report_does_not_say_how_many_hidden_entries_are_small():
    """Rows 4 x bands 2: 5 12 / 7 7 / 5 5 / 0 1. Four entries are hidden (the 1, its row total, a 5 and its row
    total); told that exactly 2 of them are under 5, the attacker finds the only fitting assignment with the 1 and
    its total 1. So the report gives the number hidden and why, not how many of them are small."""
    spec = {("j1", "adult"): 5, ("j1", "16-17"): 12, ("j2", "adult"): 7, ("j2", "16-17"): 7, ("j3", "adult"): 5,
            ("j3", "16-17"): 5, ("j4", "16-17"): 1}
    report = build_report(Facts(cases=_cases(spec), services=[], kit_events=[]),
                          period=report_period(fy=2026, start=None, end=None, now=NOW),
                          jurisdictions=["j1", "j2", "j3", "j4"], age_bands=["adult", "16-17"],
                          services=["counselling"], threshold=T, jurisdiction=None, generated_at=NOW)
    data = report_dict(report)
    text = to_csv(data)
    grid = published_tables(text)["new-survivors"]
    assert sum(v is None for r in grid for v in r) == 4
    assert recoverable(grid, small=published_small_count(text)) == {}
    assert "hidden_small" not in json.dumps(data, default=str) and "hidden_small" not in text
    assert data["suppression"]["hidden"] == 4 and data["tables"][0]["hidden"] == 4


def test_the_pdf_read_back_holds_the_csvs_figures_and_no_case_key():
    spec = {("default", "adult"): 30, ("default", "16-17"): 6, ("us-tx", "adult"): 1, ("us-tx", "16-17"): 1,
            ("us-wa", "14-15"): 2, ("us-wa", "adult"): 9}
    report = build_report(Facts(cases=_cases(spec), services=[], kit_events=[]),
                          period=report_period(fy=2026, start=None, end=None, now=NOW),
                          jurisdictions=["default", "us-tx", "us-wa"], age_bands=["14-15", "16-17", "adult"],
                          services=["counselling", "shelter"], threshold=T, jurisdiction=None, generated_at=NOW)
    data = report_dict(report)
    tables = published_tables(to_csv(data))
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=to_pdf(data), capture_output=True,
                          check=True).stdout.decode()
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    for t in data["tables"]:
        start = next(k for k, ln in enumerate(lines) if " ".join(ln).startswith(t["title"]))
        labels = [*t["rows"], "total"]
        shown = lines[start + 2:start + 2 + len(labels)]  # after the title and the column heads
        expected = [[r, *("*" if v is None else str(v) for v in row)]
                    for r, row in zip(labels, tables[t["id"]], strict=True)]
        assert shown == expected, (t["id"], shown, expected)
    assert tables["new-survivors"][1][1:3] == [None, None]  # us-tx 1 + 1: hidden in both renderings
    assert not re.search(r"\bC\d+\b", text)  # no case key (the facts' opaque ids)
