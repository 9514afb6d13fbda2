"""The published pre-commit hook, run by the real `pre-commit` tool on a temporary git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GOOD = "pal_name: Good\nsystem_prompt: hi\ndefault_face_id: r90bbd427f71\n"
BAD = "pal_name: Bad\nsystem_promt: hi\ndefault_face_id: r90bbd427f71\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
        },
    )


def test_hook_definition() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "pal-sync-validate")
    assert hook["entry"] == "pal-sync validate" and hook["language"] == "python"


def readme_snippet(marker: str) -> str:
    """The YAML between `<!-- marker -->` and `<!-- /marker -->` in README.md, as users copy it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    return block.strip().removeprefix("```yaml").removesuffix("```").strip() + "\n"


def pre_commit_tool() -> Path:
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if not pre_commit.exists():
        found = shutil.which("pre-commit")
        assert found, "pre-commit is a test dependency: pip install -e '.[test]'"
        pre_commit = Path(found)
    return pre_commit


def user_repo(tmp_path: Path, config: str) -> Path:
    repo = tmp_path / "user-repo"
    (repo / "pals").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "pals" / "good.yaml").write_text(GOOD)
    (repo / ".pre-commit-config.yaml").write_text(config)
    git(repo, "add", "-A")
    return repo


def check_hook(repo: Path, env: dict[str, str]) -> None:
    """The hook passes the good manifest, then fails on a typo, naming file:line:col."""

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(pre_commit_tool()), "run", "--all-files"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (repo / "pals" / "bad.yaml").write_text(BAD)
    git(repo, "add", "-A")
    bad = run()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "pals/bad.yaml:2:1: error: system_promt: unknown key" in bad.stdout


def test_the_readme_pre_commit_snippet_works_as_written(tmp_path: Path) -> None:
    """README's snippet, with only its two placeholders replaced (a clone's URL and a commit),
    run by the real pre-commit, which installs the hook from that commit."""
    snippet = readme_snippet("precommit-snippet")
    assert "PAL_SYNC_GIT_URL" in snippet and "PAL_SYNC_REV" in snippet
    # the clone users pin: a snapshot of this working tree, committed
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*.egg-info", "__pycache__", ".palsync", ".*_cache", "build", "dist"
        ),
    )
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "snapshot")
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True
    ).stdout.strip()
    config = snippet.replace("PAL_SYNC_GIT_URL", str(source)).replace("PAL_SYNC_REV", rev)
    repo = user_repo(tmp_path, config)
    check_hook(repo, {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")})


def test_the_readme_local_pre_commit_snippet_works_as_written(tmp_path: Path) -> None:
    """The `repo: local` snippet, verbatim, with pal-sync installed (this virtualenv on PATH)."""
    repo = user_repo(tmp_path, readme_snippet("precommit-local-snippet"))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    check_hook(repo, {**os.environ, "PATH": path, "PRE_COMMIT_HOME": str(tmp_path / "cache")})


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pals").glob("*.yaml"))
)
def test_the_repository_validates_its_own_examples(path: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "palsync", "validate", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "ACME_LLM_API_KEY": "x"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
