"""Run every benchmark: `python -m benchmarks [--quick]`.

Each prints pal-sync beside its baseline measured in the same run. With --quick (CI) it finishes
in well under a minute and exits 1 when a figure misses its goal: the thresholds below are the
goals that README.md and benchmarks/README.md state, not looser numbers. `--table` prints the
figures table of benchmarks/README.md from this run; `--update-docs` writes it there (and the
README's speed summary), so the docs never carry hand-copied figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

from benchmarks import (
    bench_apply,
    bench_emulator,
    bench_plan,
    bench_ratelimit,
    bench_validate,
)

#: checked in --quick mode: the goals themselves (a goal missed is a failure, not noise to absorb)
THRESHOLDS = {
    "validate_1_ratio": bench_validate.GOALS[1],
    "validate_1000_ratio": bench_validate.GOALS[1000],
    "plan_1000_requests": 12,
    "plan_1000_wall_s": bench_plan.GOALS["wall_s"],
    "plan_1000_cpu_ms_per_pal": bench_plan.GOALS["cpu_ms_per_pal"],
    "apply_200_ratio": bench_apply.GOAL,
    # issue 19, on the server that says nothing but 429 + Retry-After (the client finds the rate)
    "ratelimit_ratio": bench_ratelimit.GOALS["ratio"],
    "ratelimit_429_share": bench_ratelimit.GOALS["limited_share"],
}

#: goals an open issue set and the code does not meet yet: measured and reported by --quick (a
#: line saying so), not failing CI, until they are met and move to THRESHOLDS (issue 12: the
#: cold-cache plan of 1,000 PALs is about 0.34 s on this 2-core machine)
OPEN_GOALS = {
    "plan_1000_cold_wall_s": bench_plan.GOALS["cold_wall_s"],
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="CI mode: small, fast, checked")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument(
        "--table", action="store_true", help="print the figures table of benchmarks/README.md"
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="with --table: write it into benchmarks/README.md and README.md",
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {"machine": f"{platform.machine()}, {platform.python_version()}"}

    v1, v1000 = bench_validate.main(args.quick)
    figures["validate"] = [v1, v1000]
    print(
        f"validate  1 file     pal-sync {v1['pal_sync_s'] * 1000:6.0f} ms   check-jsonschema "
        f"{v1['check_jsonschema_s'] * 1000:6.0f} ms   ratio {v1['ratio']:.2f} (goal ≤ {v1['goal']})"
    )
    print(
        f"validate  1000 files pal-sync {v1000['pal_sync_s'] * 1000:6.0f} ms   check-jsonschema "
        f"{v1000['check_jsonschema_s'] * 1000:6.0f} ms   ratio {v1000['ratio']:.2f} "
        f"(goal ≤ {v1000['goal']})"
    )

    plans = bench_plan.main(args.quick)
    figures["plan"] = plans
    for p in plans:
        extra = (
            f"\n          marginal CPU {p['cpu_ms_per_pal']:.3f} ms/PAL warm, "
            f"{p['cold_cpu_ms_per_pal']:.3f} cold (goal ≤ 0.1)"
            if "cpu_ms_per_pal" in p
            else ""
        )
        print(
            f"plan      {p['pals']:>5} PALs  {p['requests']:>3} requests (goal ≤ "
            f"{p['request_goal']})   wall {p['wall_s'] * 1000:5.0f} ms warm, "
            f"{p['cold_wall_s'] * 1000:5.0f} ms cold (floor {p['floor_s'] * 1000:.0f} ms, "
            f"goal ≤ 300 ms each)   peak RSS {p['rss_mib']:.0f} MiB{extra}"
        )

    (a,) = bench_apply.main(args.quick)
    figures["apply"] = a
    print(
        f"apply     {a['updates']} updates  wall {a['wall_s']:.2f} s   floor {a['floor_s']:.2f} s"
        f"   ratio {a['ratio']:.2f} (goal ≤ {a['goal']})"
    )

    limits = bench_ratelimit.main(args.quick)
    figures["ratelimit"] = limits
    for r in limits:
        print(
            f"ratelimit {r['updates']} updates, parallelism 8, 20 req/s burst 10, {r['server']} "
            f"server: wall {r['wall_s']:.2f} s   floor {r['floor_s']:.2f} s ({r['needed']} "
            f"requests)   ratio {r['ratio']:.2f} (goal ≤ {bench_ratelimit.GOALS['ratio']})   "
            f"429s {r['limited']} of {r['requests']} = {r['limited_share']:.1%} "
            f"(goal ≤ {bench_ratelimit.GOALS['limited_share']:.0%})"
        )

    (e,) = bench_emulator.main(args.quick)
    figures["emulator"] = e
    print(
        f"emulator  {e['pals']} PALs, {e['clients']} clients: {e['rps']:.0f} requests/s, "
        f"{e['errors']} errors"
    )

    if args.json:
        print(json.dumps(figures, indent=2))
    if args.table or args.update_docs:
        from benchmarks import report

        print("\n" + report.table(figures, args.quick), end="")
        if args.update_docs:
            report.update_docs(figures, args.quick)
    if not args.quick:
        return 0
    checks = {
        "validate_1_ratio": v1["ratio"],
        "validate_1000_ratio": v1000["ratio"],
        "plan_1000_requests": plans[1]["requests"],
        "plan_1000_wall_s": plans[1]["wall_s"],
        "plan_1000_cpu_ms_per_pal": plans[1]["cpu_ms_per_pal"],
        "apply_200_ratio": a["ratio"],
        "ratelimit_ratio": limits[0]["ratio"],
        "ratelimit_429_share": limits[0]["limited_share"],
    }
    failed = [f"{k} = {v:.3f} > {THRESHOLDS[k]}" for k, v in checks.items() if v > THRESHOLDS[k]]
    open_checks = {"plan_1000_cold_wall_s": plans[1]["cold_wall_s"]}
    for k, v in open_checks.items():
        verdict = "met" if v <= OPEN_GOALS[k] else "NOT MET"
        print(f"open goal: {k} = {v:.3f} (goal ≤ {OPEN_GOALS[k]}, {verdict})", file=sys.stderr)
    if e["errors"]:
        failed.append(f"emulator errors: {e['errors']}")
    for line in failed:
        print(f"REGRESSION: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
