"""References to the read-only kinds of the table (palsync/kinds.py): every id a PAL names is
looked up in that kind's list before anything is sent, and only the lists some manifest needs are
read."""

from __future__ import annotations

from tests.workflow import Workspace, pal_body

TOOL = "t457be0aac29c"  # the emulator's seeded user tool; `end_call` is a system tool
DICTIONARY = "pd_abc123def456"


def listed(ws: Workspace, path: str) -> int:
    return sum(1 for _method, p, _status in ws.emulator.requests() if p.startswith(path))


def test_unknown_tool_and_dictionary_ids_block_the_pal_before_any_write(ws: Workspace) -> None:
    tts = {"tts_engine": "cartesia", "pronunciation_dictionary_id": "pd_000000000000"}
    ws.write("a", pal_body(1, tool_ids=[TOOL, "t000000000000"], layers={"tts": tts}))
    ws.write("b", pal_body(2))
    result = ws.run("apply", "--auto-approve")
    assert result.code == 1
    assert "tool t000000000000 does not exist in the account" in result.out
    assert "pronunciation dictionary pd_000000000000 does not exist in the account" in result.out
    assert ws.names() == ["PAL 002"], "the blocked PAL was not sent; the other one was"


def test_system_tools_and_existing_ids_pass_and_the_pal_is_created(ws: Workspace) -> None:
    tts = {"tts_engine": "cartesia", "pronunciation_dictionary_id": DICTIONARY}
    ws.write("a", pal_body(1, tool_ids=[TOOL, "end_call"], layers={"tts": tts}))
    result = ws.run("apply", "--auto-approve")
    assert result.code == 0, result.out + result.err
    (pal,) = ws.emulator.store.user_pals()
    assert pal["tool_ids"] == [TOOL, "end_call"]
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_only_the_lists_some_manifest_references_are_read(ws: Workspace) -> None:
    ws.write("a", pal_body(1))
    ws.emulator.log.clear()
    assert ws.run("plan").code == 0
    assert listed(ws, "/v2/tools") == 0
    assert listed(ws, "/v2/pronunciation-dictionaries") == 0
    ws.write("a", pal_body(1, tool_ids=["end_call"]))
    assert ws.run("plan").code == 0
    assert listed(ws, "/v2/tools") >= 1
    assert listed(ws, "/v2/pronunciation-dictionaries") == 0
