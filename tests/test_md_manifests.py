"""`.md` manifests (DESIGN 2): YAML front matter is the manifest, the Markdown body is
`system_prompt`; they work in validate (file:line:col), plan, apply, the cache and the hook."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from palsync.manifest import load_paths
from palsync.yamldoc import FrontMatter, FrontMatterError, split_front_matter
from tests.workflow import FACE, Workspace

ROOT = Path(__file__).resolve().parent.parent

PROMPT = "# Support\n\nYou are ACME's support agent.\n\n- Be brief.\n- Never promise refunds.\n"


def md(front: str, body: str = PROMPT) -> str:
    return f"---\n{front}---\n\n{body}"


GOOD = f"pal_name: Support\ndefault_face_id: {FACE}\n"


def write(ws: Workspace, name: str, text: str) -> Path:
    path = ws.pals / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(ws: Workspace, *args: str) -> tuple[int, list[dict[str, object]]]:
    result = ws.run("validate", "--format", "json", *args)
    return result.code, json.loads(result.out)["problems"]


@pytest.mark.parametrize(
    "prompt",
    [
        "one line",
        "two\nlines",
        "ends with a newline\n",
        "\nstarts with a blank line",
        "---\nholds a delimiter line",
        "trailing blank lines\n\n\n",
        "windows\r\nline ends\r\n",
        "  indented first line",
    ],
)
def test_front_matter_round_trips_the_prompt_exactly(prompt: str) -> None:
    split = split_front_matter(f"---\na: 1\n---\n\n{prompt}\n")
    assert isinstance(split, FrontMatter)
    assert split.body == prompt and split.body_line == 5
    assert yaml.safe_load(split.yaml_text) == {"a": 1}
    assert split.yaml_text.count("\n") == 2  # line 2 of the YAML is line 2 of the file


def test_front_matter_errors() -> None:
    missing = split_front_matter("pal_name: x\n")
    assert isinstance(missing, FrontMatterError) and missing.line == 1
    unclosed = split_front_matter("---\npal_name: x\n")
    assert isinstance(unclosed, FrontMatterError) and "not closed" in unclosed.message
    no_body = split_front_matter("---\npal_name: x\n---\n")
    assert isinstance(no_body, FrontMatter) and no_body.body is None


def test_md_manifest_is_the_front_matter_plus_the_body(tmp_path: Path) -> None:
    (tmp_path / "support.md").write_text(md(GOOD + "context: $$5 off\n"), encoding="utf-8")
    (manifest,), found = load_paths([str(tmp_path)])
    assert not found
    assert manifest.key == "support"
    assert manifest.body == {
        "pal_name": "Support",
        "default_face_id": FACE,
        "context": "$$5 off",
        "system_prompt": PROMPT.removesuffix("\n"),
    }
    assert manifest.locate("/system_prompt").line == 7  # after `---` and one blank line
    assert manifest.locate("/context").line == 4


def test_validate_reports_front_matter_and_body_problems_at_their_lines(ws: Workspace) -> None:
    write(
        ws,
        "typo.md",
        md(GOOD + "layers:\n  llm:\n    model: m\n    api_key: sk-literal-1234\n"),
    )
    write(ws, "both.md", md(GOOD + "system_prompt: also here\n"))
    write(ws, "broken.md", md(GOOD + "layers: [unclosed\n"))
    write(ws, "unset.md", md(GOOD, "Hello ${NOT_SET_ANYWHERE_42} there\n"))
    write(ws, "nobody.md", md(GOOD, ""))
    code, found = problems(ws)
    assert code == 1
    at = {(p["path"], p["line"], p["column"], p["severity"]) for p in found}
    assert ("pals/typo.md", 7, 14, "error") in at, found  # the literal secret's value
    assert ("pals/both.md", 4, 1, "error") in at, found  # system_prompt in the front matter
    # an unclosed flow list: found where the front matter ends, at its closing `---`
    assert any(p["path"] == "pals/broken.md" and p["line"] == 5 for p in found), found
    # the body's problems point at the body's first line
    assert ("pals/unset.md", 6, 1, "warning") in at, found
    assert any(
        p["path"] == "pals/nobody.md" and "system_prompt" in str(p["message"]) for p in found
    )
    message = next(p["message"] for p in found if p["path"] == "pals/both.md")
    assert "Markdown body" in str(message)


def test_which_markdown_files_are_manifests(ws: Workspace) -> None:
    """README.md (and any .md whose name no key can have, without front matter) is not a
    manifest and is ignored; a .md with a key's name always is (a lost front matter is an
    error, never a silently skipped PAL that --prune would delete); `.MD` with front matter, a
    subdirectory's manifest and a dangling symlink are errors, as for YAML."""
    write(ws, "README.md", "# Our PALs\n\nOne file per PAL.\n")
    write(ws, "Notes.MD", "notes\n")
    write(ws, "ok.md", md(GOOD))
    write(ws, "readme.md", "Read me.\n")
    write(ws, "Shouty.MD", md(GOOD))
    (ws.pals / "docs").mkdir()
    write(ws, "docs/overview.md", "# Overview\n")
    write(ws, "docs/nested.md", md(GOOD))
    (ws.pals / "gone.md").symlink_to(ws.root / "nowhere.md")
    code, found = problems(ws)
    assert code == 1
    by_path = {str(p["path"]): str(p["message"]) for p in found}
    assert sorted(by_path) == [
        "pals/Shouty.MD",
        "pals/docs/nested.md",
        "pals/gone.md",
        "pals/readme.md",
    ], found
    assert "no YAML front matter" in by_path["pals/readme.md"]
    assert "README.md" in by_path["pals/readme.md"]
    assert "lower-case" in by_path["pals/Shouty.MD"]
    assert "subdirectories" in by_path["pals/docs/nested.md"]
    assert "dangling symlink" in by_path["pals/gone.md"]
    # the pre-commit hook passes files one by one: README.md alone is fine
    assert ws.run("validate", "pals/README.md").code == 0
    assert ws.run("validate", "pals/readme.md").code == 1


def test_a_key_with_both_yaml_and_md_is_an_error(ws: Workspace) -> None:
    write(ws, "support.md", md(GOOD))
    write(ws, "support.yaml", GOOD + "system_prompt: hi\n")
    code, found = problems(ws)
    assert code == 1
    assert [p["code"] for p in found] == ["duplicate-manifest"], found
    assert "pals/support.md" in str(found[0]["message"])


def test_md_manifest_plans_applies_and_converges(ws: Workspace) -> None:
    path = write(ws, "support.md", md(GOOD))
    assert ws.run("validate").code == 0
    assert ws.run("apply", "--auto-approve").code == 0
    (pal,) = [p for p in ws.emulator.store.user_pals() if p.get("pal_name") == "Support"]
    assert pal["system_prompt"] == PROMPT.removesuffix("\n")
    for _ in range(2):  # the second plan reads the manifest from the validation cache
        again = ws.run("plan", "--detailed-exitcode")
        assert again.code == 0, again.out + again.err
    path.write_text(md(GOOD, PROMPT.replace("Be brief.", "Be thorough.")), encoding="utf-8")
    changed = ws.run("plan", "--detailed-exitcode", "--format", "json")
    assert changed.code == 2
    (change,) = json.loads(changed.out)["changes"]
    assert [f["path"] for f in change["fields"]] == ["/system_prompt"]
    assert [op["path"] for op in change["ops"] if op["op"] != "test"] == ["/system_prompt"]
    text = ws.run("plan").out
    assert "-- Be brief." in text and "+- Be thorough." in text  # a line diff of the prompt
    assert ws.run("apply", "--auto-approve").code == 0
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_precommit_hook_runs_on_md_manifests() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    pattern = re.compile(hook["files"])
    for name in ("pals/a.yaml", "pals/a.yml", "pals/a.md"):
        assert pattern.search(name), name
    assert not pattern.search("src/a.md")
    # notes in a subdirectory of pals/ are not passed (a directory's validate ignores them too)
    assert not pattern.search("pals/docs/overview.md")
    readme = (ROOT / "README.md").read_text()
    assert hook["files"] in readme, "the README's local hook snippet uses the same pattern"


def test_md_front_matter_with_a_bom_and_crlf(tmp_path: Path) -> None:
    text = "\ufeff---\r\npal_name: Support\r\ndefault_face_id: r90bbd427f71\r\n---\r\n\r\nHi.\r\n"
    (tmp_path / "support.md").write_bytes(text.encode())
    (manifest,), found = load_paths([str(tmp_path)])
    assert not found
    assert manifest.body["pal_name"] == "Support" and manifest.body["system_prompt"] == "Hi."
    assert os.path.basename(manifest.path) == "support.md"
