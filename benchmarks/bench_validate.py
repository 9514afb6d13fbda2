"""validate against check-jsonschema, whole process, same schema and files, one run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import ROOT, best, compile_sources, pal_sync, tool, write_manifests

#: Goals from the issue: at most 0.3× on one file and 0.15× on 1,000 files.
GOALS = {1: 0.3, 1000: 0.15}


def measure(count: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pals"
        write_manifests(folder, count)
        files = sorted(str(p) for p in folder.glob("*.yaml"))
        ours = best([*pal_sync(), "validate", *files], ROOT, repeat)
        theirs = best(
            [
                tool("check-jsonschema"),
                "--schemafile",
                str(ROOT / "schemas" / "pal.schema.json"),
                *files,
            ],
            ROOT,
            repeat,
        )
        assert ours.code == 0, ours.out
        assert theirs.code == 0, theirs.out
    return {
        "files": count,
        "pal_sync_s": ours.wall,
        "check_jsonschema_s": theirs.wall,
        "ratio": ours.wall / theirs.wall,
        "goal": GOALS[count],
    }


def main(quick: bool = False) -> list[dict[str, float]]:
    compile_sources()
    repeat = 3 if quick else 7
    return [measure(1, repeat), measure(1000, 2 if quick else 3)]
