"""Benchmark honesty (issue 10, item 20): CI checks the goals themselves, and the figures in the
docs are the output of a command, with that command beside every figure."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks import bench_apply, bench_plan, bench_validate, report
from benchmarks.__main__ import OPEN_GOALS, THRESHOLDS

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {
    "validate": [
        {"files": 1, "pal_sync_s": 0.06, "check_jsonschema_s": 0.24, "ratio": 0.25, "goal": 0.3},
        {"files": 1000, "pal_sync_s": 0.2, "check_jsonschema_s": 1.0, "ratio": 0.2, "goal": 0.15},
    ],
    "plan": [
        {
            "pals": 1,
            "requests": 2,
            "request_goal": 3,
            "wall_s": 0.18,
            "cold_wall_s": 0.2,
            "floor_s": 0.1,
            "rss_mib": 38.0,
        },
        {
            "pals": 1000,
            "requests": 11,
            "request_goal": 12,
            "wall_s": 0.26,
            "cold_wall_s": 0.32,
            "floor_s": 0.1,
            "rss_mib": 41.0,
            "cpu_ms_per_pal": 0.08,
            "cold_cpu_ms_per_pal": 0.12,
        },
    ],
    "apply": {
        "updates": 200,
        "patches": 200,
        "wall_s": 3.2,
        "floor_s": 2.7,
        "ratio": 1.19,
        "goal": 2,
    },
    "emulator": {"pals": 10000, "clients": 200, "rps": 700.0, "errors": 0},
}


def test_quick_thresholds_are_the_stated_goals() -> None:
    assert THRESHOLDS == {
        "validate_1_ratio": 0.3,
        "validate_1000_ratio": 0.15,
        "plan_1000_requests": 12,
        "plan_1000_wall_s": 0.3,
        "plan_1000_cpu_ms_per_pal": 0.1,
        "apply_200_ratio": 2.0,
        "ratelimit_ratio": 1.2,
        "ratelimit_429_share": 0.05,
    }
    # a goal the code does not meet yet is reported, not loosened: the same number
    assert (
        OPEN_GOALS
        == {"plan_1000_cold_wall_s": 0.3}
        == {"plan_1000_cold_wall_s": bench_plan.GOALS["cold_wall_s"]}
    )
    assert not set(OPEN_GOALS) & set(THRESHOLDS)
    assert bench_validate.GOALS == {1: 0.3, 1000: 0.15}
    assert (bench_plan.GOALS["wall_s"], bench_apply.GOAL) == (0.3, 2.0)


def test_the_table_carries_its_command_on_every_row_and_says_which_goals_are_missed() -> None:
    table = report.table(FIGURES)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 6
    assert all(row.endswith("| `python -m benchmarks --table` |") for row in rows[1:])
    # 0.2 > 0.15: a missed goal is said, not hidden
    assert "**0.20** (goal ≤ 0.15, **not met**)" in table
    assert "**0.25** (goal ≤ 0.3, met)" in table
    assert "2 cores" in table or "cores" in table


def test_update_docs_writes_between_the_markers_only(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- figures -->\nold\n<!-- /figures -->\nafter\n")
    report.replace_between(doc, "figures", "new table\n")
    assert doc.read_text() == "before\n<!-- figures -->\nnew table\n<!-- /figures -->\nafter\n"


def test_the_docs_hold_generated_figures() -> None:
    bench_readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    block = bench_readme.split("<!-- figures -->", 1)[1].split("<!-- /figures -->", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 7, block
    assert all("`python -m benchmarks --table" in row for row in rows[1:]), rows
    assert re.search(r"written by `python -m benchmarks --table.* --update-docs` on \d{4}-", block)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    speed = readme.split("<!-- speed-figures -->", 1)[1].split("<!-- /speed-figures -->", 1)[0]
    assert speed.startswith("\nFrom `python -m benchmarks --table")
