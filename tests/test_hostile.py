"""Hostile content (issue 10, items 13 and 14): names, values and server data that try to forge a
plan comment, hide text, pass as another name, or escape the import directory."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from palsync import render
from palsync.textsafe import fence_for, md_inline, visible
from tests.workflow import FACE, Workspace, pal_body

FORGE = "</code></summary></details>\n\n**No changes.**\n\n<details><summary><code>"


def _fenced_blocks(markdown: str) -> list[tuple[str, list[str]]]:
    """(fence, lines) of each fenced block, read the way CommonMark closes a backtick fence."""
    blocks, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^(`{3,})diff$", lines[i])
        if not opening:
            i += 1
            continue
        fence, inside, i = opening.group(1), [], i + 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{fence}`*\s*$", lines[i]):
            inside.append(lines[i])
            i += 1
        assert i < len(lines), "a code fence is never closed"
        blocks.append((fence, inside))
        i += 1
    return blocks


def test_a_pal_name_cannot_close_the_markdown_block_or_forge_no_changes(ws: Workspace) -> None:
    ws.write("forger", pal_body(1, pal_name=FORGE, system_prompt="``` \n````\n</details>\nend"))
    result = ws.run("plan", "--format", "markdown")
    assert result.code == 0, result.err
    md = result.out
    # the only "No changes" would be the forged one: this plan has a create
    assert "**No changes.**\n" not in md and "| create | 1 |" in md
    # every <summary> line is one escaped HTML element: no tag of the name survives
    summaries = [line for line in md.splitlines() if line.startswith("<summary>")]
    assert summaries and all(
        re.fullmatch(r"<summary><code>[^<>]*</code></summary>", s) for s in summaries
    ), summaries
    assert "&lt;/code&gt;&lt;/summary&gt;&lt;/details&gt;" in md
    # the prompt's backtick runs and its </details> stay inside one fence longer than them
    ((fence, inside),) = _fenced_blocks(md)
    assert len(fence) > 4
    assert "````" in "\n".join(inside) and "</details>" in "\n".join(inside)
    outside = md.split(fence + "diff")[0] + md.split("\n" + fence + "\n")[-1]
    assert [x for x in outside.splitlines() if "details>" in x] == ["<details>", "</details>"]


def test_markdown_inline_text_and_fences_are_escaped() -> None:
    hostile = "a | b\n**No changes.** <img src=x> [x](http://e) `code`"
    cell = md_inline(hostile)
    assert "\n" not in cell
    # no unescaped Markdown/HTML punctuation is left: each is preceded by a backslash
    assert not re.search(r"(?<!\\)[|*<>\[\]()`]", cell), cell
    assert fence_for(["a ````` b", "``"]) == "``````" and fence_for(["none"]) == "```"


BIDI_NAME = "Acme \u202eSupport\u200b"


def test_bidi_and_zero_width_characters_are_shown_escaped_and_flagged(ws: Workspace) -> None:
    path = ws.write("sneaky", pal_body(1, pal_name=BIDI_NAME, context="safe \u2067text\u2069"))
    checked = ws.run("validate")
    assert checked.code == 0, checked.out  # warnings, not errors
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "pal_name" in t)
    assert f"pals/sneaky.yaml:{line}:" in checked.out
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in checked.out
    assert "U+200B ZERO WIDTH SPACE" in checked.out
    assert "U+2067 RIGHT-TO-LEFT ISOLATE" in checked.out  # a bidi control in any value
    for fmt in ("text", "markdown"):
        shown = ws.run("plan", "--format", fmt)
        assert shown.code == 0, shown.err
        assert "\\u202e" in shown.out and "\\u200b" in shown.out, shown.out
        for raw in ("\u202e", "\u200b", "\u2067", "\u2069"):
            assert raw not in shown.out + shown.err, (fmt, raw)
    # machine output keeps the exact value
    assert BIDI_NAME in ws.run("plan", "--format", "json").out


def test_visible_escapes_controls_but_keeps_ordinary_text() -> None:
    assert visible("Café — 日本語 ✓") == "Café — 日本語 ✓"
    assert visible("a\u202eb\ufeffc\x1b[31m") == "a\\u202eb\\ufeffc\\u001b[31m"
    assert visible("line\nnext") == "line\nnext"
    assert render.outcomes_text([("k", "create", "p1", "failed", "x\u202ey\nz")]).count("\n") == 2


def test_nfc_and_nfd_spellings_of_one_name_are_duplicates(ws: Workspace) -> None:
    nfc = unicodedata.normalize("NFC", "Café Agent")
    nfd = unicodedata.normalize("NFD", "Café Agent")
    assert nfc != nfd
    ws.write("a-composed", pal_body(1, pal_name=nfc))
    ws.write("b-decomposed", pal_body(2, pal_name=nfd))
    result = ws.run("validate")
    assert result.code == 1
    assert "pals/b-decomposed.yaml" in result.out
    assert "also used by pals/a-composed.yaml" in result.out
    assert "different Unicode normalisation" in result.out
    assert "not in Unicode NFC form" in result.out  # the decomposed spelling is flagged too
    (ws.pals / "b-decomposed.yaml").unlink()
    assert ws.run("validate").code == 0


def test_plain_names_get_no_hidden_character_warning(ws: Workspace) -> None:
    ws.write("plain", pal_body(1, pal_name="Café 日本", default_face_id=FACE))
    result = ws.run("validate")
    assert result.code == 0 and "warning" not in result.out, result.out


def _hostile_pal(ws: Workspace, pal_id: str, name: str) -> None:
    """A PAL whose id the server reports as `pal_id` (planted in the emulator's store)."""
    store = ws.emulator.store
    created = store.create_pal(
        {"pal_name": name, "system_prompt": "x", "default_face_id": FACE}, False
    )
    with store.lock:
        store.pals[pal_id] = store.pals.pop(created["pal_id"])
        store.user_ids[store.user_ids.index(created["pal_id"])] = pal_id


def test_import_never_uses_a_server_id_as_a_path(ws: Workspace) -> None:
    _hostile_pal(ws, "/../../../escaped", "")
    _hostile_pal(ws, "..", "")
    ws.emulator.store.create_pal(pal_body(1, pal_name="Fine"), False)
    result = ws.run("import", "--all")
    assert result.code == 1
    assert "2 PAL(s) not imported" in result.err and "'/../../../escaped'" in result.err
    assert "Traceback" not in result.err and "Internal error" not in result.err
    assert sorted(p.name for p in ws.pals.iterdir()) == ["fine.yaml", "palsync.lock"]
    near = [*ws.root.rglob("escaped*"), *ws.root.parent.glob("escaped*")]
    assert not [*near, *ws.root.parents[1].glob("escaped*")]
    lock_text = (ws.pals / "palsync.lock").read_text()
    assert "fine" in ws.lock()["pals"] and "escaped" not in lock_text, lock_text


def test_import_keys_from_server_data_match_the_key_pattern(ws: Workspace) -> None:
    _hostile_pal(ws, "P_Upper-Case9", "日本語 ✓")  # a safe id; a name with no [a-z0-9]
    result = ws.run("import", "--all")
    assert result.code == 0, result.err
    assert (ws.pals / "pal-p-upper-case9.yaml").exists()
    assert ws.run("validate").code == 0


def test_import_refuses_to_write_through_a_symlink_out_of_dir(ws: Workspace) -> None:
    outside = ws.root / "outside.txt"
    outside.write_text("precious\n")
    (ws.pals / "fine.yaml").symlink_to(outside)
    ws.emulator.store.create_pal(pal_body(1, pal_name="Fine"), False)
    result = ws.run("import", "--all", "--force")
    assert result.code == 1 and "outside pals" in result.err, result.err
    assert outside.read_text() == "precious\n"


def test_import_refuses_a_pal_id_argument_that_is_not_an_id(ws: Workspace) -> None:
    result = ws.run("import", "../../etc")
    assert result.code == 1 and "is not a PAL id" in result.err


def test_error_messages_show_hidden_characters_escaped(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    result = ws.run("plan", "--target", "a\u202ebc")  # quoted raw by the error message
    assert result.code == 1 and "a\\u202ebc" in result.err, result.err
    assert "\u202e" not in result.err


def test_hidden_characters_written_as_yaml_escapes_in_an_ascii_file_are_flagged(
    tmp_path: Path,
) -> None:
    """Validation skips the hidden-character walk for a file of ASCII bytes without a backslash
    (no string can hold a non-ASCII character then); a double-quoted escape is one."""
    from palsync.manifest import load_paths
    from palsync.validation import validate_paths

    escaped = tmp_path / "escaped.yaml"
    escaped.write_bytes(
        b'pal_name: "Acme \\u202eSupport"\ndefault_face_id: r90bbd427f71\n'
        b'system_prompt: hi\n"k\\u200b": x\n'
    )
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(b"pal_name: Plain\ndefault_face_id: r90bbd427f71\nsystem_prompt: hi\n")
    manifests, _ = load_paths([str(tmp_path)])
    assert [(m.key, m.ascii_only) for m in manifests] == [("escaped", False), ("plain", True)]
    _, problems = validate_paths([str(tmp_path)], env={})
    hidden = [(p.location.path, p.pointer) for p in problems if p.code == "hidden-characters"]
    assert sorted(hidden) == [(str(escaped), "/k\u200b"), (str(escaped), "/pal_name")]
