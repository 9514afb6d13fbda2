"""The figures table of benchmarks/README.md (and the README's "Speed" figures), made from one run.

`python -m benchmarks --table` prints it after the run; `--update-docs` also writes it between the
`<!-- figures -->` markers of benchmarks/README.md and `<!-- speed-figures -->` of README.md, so
no figure in the docs is copied by hand. Every row names the command that produced it.
"""

from __future__ import annotations

import datetime
import os
import platform
import textwrap
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

COMMAND = "python -m benchmarks --table"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _goal(value: float, goal: float, unit: str = "") -> str:
    met = "met" if value <= goal else "**not met**"
    return f"goal ≤ {goal:g}{unit}, {met}"


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, pal-sync, baseline, ratio and goal) for every figure of this run."""
    out: list[tuple[str, str, str, str]] = []
    v1, v1000 = figures["validate"]
    for v in (v1, v1000):
        files = "1 file" if v["files"] == 1 else f"{v['files']:,} files"
        out.append(
            (
                f"`validate`, {files}, whole process",
                _ms(v["pal_sync_s"]),
                f"`check-jsonschema --schemafile schemas/pal.schema.json`: "
                f"{_ms(v['check_jsonschema_s'])}",
                f"**{v['ratio']:.2f}** ({_goal(v['ratio'], v['goal'])})",
            )
        )
    for p in figures["plan"]:
        name = f"`plan`, {p['pals']:,} unchanged PAL{'s' if p['pals'] != 1 else ''}, 50 ms latency"
        ours = (
            f"{p['requests']} requests ({_goal(p['requests'], p['request_goal'])}), "
            f"**{_ms(p['wall_s'])}** wall warm, {_ms(p['cold_wall_s'])} cold, "
            f"peak RSS {p['rss_mib']:.0f} MiB"
        )
        detail = "—"
        if "cpu_ms_per_pal" in p:
            detail = (
                f"marginal CPU **{p['cpu_ms_per_pal']:.4f} ms/PAL** warm "
                f"({_goal(p['cpu_ms_per_pal'], 0.1, ' ms')}), "
                f"{p['cold_cpu_ms_per_pal']:.4f} cold; wall warm "
                f"{_goal(p['wall_s'] * 1000, 300, ' ms')}; wall cold "
                f"{_goal(p['cold_wall_s'] * 1000, 300, ' ms')}"
            )
        elif p["pals"] >= 10_000:
            detail = f"peak RSS {_goal(p['rss_mib'], 200, ' MiB')}"
        out.append((name, ours, f"floor: 2 round trips = {_ms(p['floor_s'])}", detail))
    a = figures["apply"]
    out.append(
        (
            f"`apply`, {a['updates']} updates, 50 ms latency, parallelism 4",
            f"{a['wall_s']:.2f} s wall, {a['patches']} PATCHes",
            f"floor ⌈{a['updates']}/4⌉ × 50 ms + 4 round trips = {a['floor_s']:.2f} s",
            f"**{a['ratio']:.2f}** ({_goal(a['ratio'], a['goal'])})",
        )
    )
    for r in figures.get("ratelimit", []):
        out.append(
            (
                f"`apply`, {r['updates']} updates, parallelism 8, emulator limit 20 requests/s "
                f"(token bucket, burst 10), {r['server']} server",
                f"{r['wall_s']:.2f} s wall; 429s: {r['limited']} of {r['requests']} requests = "
                f"**{r['limited_share']:.1%}** ({_goal(r['limited_share'] * 100, 5, ' %')})",
                f"floor {r['needed']} requests / 20 per s = {r['floor_s']:.2f} s",
                f"**{r['ratio']:.2f}** ({_goal(r['ratio'], 1.2)})",
            )
        )
    e = figures["emulator"]
    out.append(
        (
            f"emulator, {e['pals']:,} PALs, {e['clients']} concurrent clients (another process)",
            f"{e['rps']:.0f} requests/s, {e['errors']} errors",
            "—",
            "—",
        )
    )
    return out


def table(figures: dict[str, Any], quick: bool = False) -> str:
    command = COMMAND + (" --quick" if quick else "")
    lines = [
        "| benchmark | pal-sync | baseline (same run) | ratio / goal | command |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, ours, base, ratio in rows(figures):
        lines.append(f"| {name} | {ours} | {base} | {ratio} | `{command}` |")
    today = datetime.date.today().isoformat()
    lines += [
        "",
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end "
        f"of the run (other jobs share this machine: timings, and the emulator's requests/s most "
        f"of all, vary with it); written by `{command} --update-docs` on {today}.",
    ]
    return "\n".join(lines) + "\n"


def speed(figures: dict[str, Any]) -> str:
    """The README's one-paragraph summary of the same figures."""
    v1, v1000 = figures["validate"]
    p1000 = figures["plan"][1]
    a = figures["apply"]
    text = (
        f"From `{COMMAND}` on {datetime.date.today().isoformat()} ({os.cpu_count()} cores): "
        f"`validate` takes {v1['ratio']:.2f}× the time of `check-jsonschema` on one file and "
        f"{v1000['ratio']:.2f}× on 1,000 files; `plan` of 1,000 unchanged PALs uses "
        f"{p1000['requests']} requests and, at 50 ms latency per request, takes "
        f"{_ms(p1000['wall_s'])} ({_ms(p1000['cold_wall_s'])} on a cold cache); `apply` of "
        f"{a['updates']} updates at 50 ms latency takes {a['ratio']:.2f}× the floor of "
        f"⌈{a['updates']}/4⌉ round trips."
    )
    return textwrap.fill(text, width=100, break_on_hyphens=False, break_long_words=False) + "\n"


def replace_between(path: Path, marker: str, text: str) -> None:
    """Put `text` between `<!-- marker -->` and `<!-- /marker -->` in `path`."""
    start, end = f"<!-- {marker} -->\n", f"<!-- /{marker} -->"
    doc = path.read_text(encoding="utf-8")
    if start not in doc or end not in doc:
        raise SystemExit(f"{path}: no {start.strip()} … {end} markers to write the figures into")
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + start + text + end + tail, encoding="utf-8")


def update_docs(figures: dict[str, Any], quick: bool = False) -> None:
    replace_between(ROOT / "benchmarks" / "README.md", "figures", table(figures, quick))
    replace_between(ROOT / "README.md", "speed-figures", speed(figures))
