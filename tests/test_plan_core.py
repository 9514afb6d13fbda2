"""The pure plan core: canonical forms, patch generation (checked by jsonpatch), identity,
direction, reference checks and rendering."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from palsync import render
from palsync.canonical import (
    MISSING,
    desired_form,
    fingerprint,
    live_form,
    live_leaves,
    lookup,
    project_live,
)
from palsync.diff import patch_ops
from palsync.lock import Lock, LockEntry, secret_fingerprint
from palsync.plan import Desired, Plan, Refs, build

FACE = "r90bbd427f71"
GOLDEN = Path(__file__).parent / "golden" / "plan"
UPDATE = os.environ.get("PALSYNC_UPDATE_GOLDEN") == "1"

# ----------------------------------------------------------------------------- property test

keys = st.sampled_from(
    [
        "a",
        "b",
        "c~x",
        "d/y",
        "layers",
        "conferencing",
        "llm",
        "username",
        "api_key",
        "memories",
        "extra_body",
    ]
)
leaf = st.one_of(
    st.integers(-3, 3),
    st.text("xyz", max_size=3),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 2), max_size=2),
)
docs = st.recursive(
    leaf, lambda children: st.dictionaries(keys, children, max_size=4), max_leaves=12
)
objects = st.dictionaries(keys, docs, max_size=4)


def all_leaves(doc: Any, prefix: str = "") -> list[str]:
    if isinstance(doc, dict) and doc:
        out = []
        for k, v in doc.items():
            out += all_leaves(v, prefix + "/" + k.replace("~", "~0").replace("/", "~1"))
        return out
    return [prefix] if prefix else []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desired=objects, live=objects, data=st.data())
def test_generated_ops_turn_live_into_desired(
    desired: dict[str, Any], live: dict[str, Any], data: st.DataObject
) -> None:
    flat, _ = desired_form(desired)
    previous = data.draw(st.lists(st.sampled_from(all_leaves(live) or ["/a"]), max_size=3))
    removals = [
        p
        for p in previous
        if p not in flat and not any(d.startswith(p + "/") or p.startswith(d + "/") for d in flat)
    ]
    sets = {p: v for p, v in flat.items() if lookup(live, p) != v}
    main, conferencing = patch_ops(live, sets, removals)
    result = jsonpatch.apply_patch(live, main)
    result = jsonpatch.apply_patch(result, conferencing)  # sent afterwards, on its own
    assert live_form(result, flat) == flat
    for pointer in removals:
        assert lookup(result, pointer) is MISSING
    assert all(op["path"].startswith("/layers/conferencing") for op in conferencing)
    assert not any(op["path"].startswith("/layers/conferencing") for op in main)


pointers = st.lists(
    st.sampled_from(
        [
            "/a",
            "/a/b",
            "/b/c~0x",
            "/d~1y",
            "/layers",
            "/layers/llm",
            "/layers/llm/api_key",
            "/layers/conferencing/username",
            "/memories",
            "/memories/a",  # inside values compared whole: never a leaf of their own
            "/layers/llm/extra_body",
            "/layers/llm/extra_body/a",
            "/llm/a/b",
            "/c~0x/a",
            "/b/0",
        ]
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@example(  # a lock naming a pointer inside a value compared whole (found by review)
    live={"memories": {"a": 1}, "layers": {"llm": {"extra_body": {"a": 2}}}},
    wanted=["/memories/a", "/layers/llm/extra_body/a", "/memories", "/layers/llm/extra_body"],
    ignore=[],
)
@given(live=objects, wanted=pointers, ignore=st.lists(st.sampled_from(["/a", "/layers"])))
def test_projection_walks_only_the_asked_pointers_but_equals_the_full_flattening(
    live: dict[str, Any], wanted: list[str], ignore: list[str]
) -> None:
    everything = live_leaves(live)
    expected = {
        p: everything[p]
        for p in wanted
        if p in everything and not any(p == i or p.startswith(i + "/") for i in ignore)
    }
    assert project_live(live, wanted, ignore) == expected


def test_missing_parent_is_added_whole() -> None:
    ops, _ = patch_ops(
        {"pal_name": "x"}, {"/layers/llm/model": "m", "/layers/llm/base_url": "u"}, []
    )
    assert ops == [
        {"op": "add", "path": "/layers", "value": {"llm": {"model": "m", "base_url": "u"}}}
    ]


def test_replace_where_present_add_where_absent_remove_managed() -> None:
    live = {
        "pal_name": "x",
        "layers": {"llm": {"model": "a", "speculative_inference": True}},
        "context": "old",
    }
    ops, conf = patch_ops(
        live,
        {"/pal_name": "y", "/layers/llm/base_url": "u", "/layers/conferencing/username": "bot-a"},
        ["/context"],
    )
    assert ops == [
        {"op": "remove", "path": "/context"},
        {"op": "replace", "path": "/pal_name", "value": "y"},
        {"op": "add", "path": "/layers/llm/base_url", "value": "u"},
    ]
    assert conf == [{"op": "add", "path": "/layers/conferencing", "value": {"username": "bot-a"}}]


# --------------------------------------------------------------------------- canonical forms


def test_server_fields_secrets_and_ignored_paths_never_compare() -> None:
    body = {
        "pal_name": "A",
        "layers": {
            "llm": {"model": "m", "api_key": "sk"},
            "conferencing": {"username": "Acme"},
            "stt": {"hotwords": "x"},
        },
    }
    flat, secrets = desired_form(body, ["/layers/stt/hotwords"])
    assert flat == {
        "/pal_name": "A",
        "/layers/llm/model": "m",
        "/layers/conferencing/username": "acme",
    }
    assert secrets == {"/layers/llm/api_key": "sk"}
    live = {
        "pal_name": "A",
        "layers": {
            "llm": {"model": "m", "api_key": "********", "speculative_inference": True},
            "conferencing": {"username": "acme"},
        },
    }
    assert live_form(live, flat) == flat


def test_numbers_compare_by_value() -> None:
    assert fingerprint(desired_form({"x": 1.0})[0]) == fingerprint(desired_form({"x": 1})[0])


# ------------------------------------------------------------------------------- identity


def pal(pal_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "pal_id": pal_id,
        "pal_name": name,
        "system_prompt": "hi",
        "default_face_id": FACE,
        "pipeline_mode": "full",
        "pal_type": "user",
        "created_at": "t",
        "updated_at": "t",
        **fields,
    }


def want(key: str, name: str, pin: str | None = None, **fields: Any) -> Desired:
    body = {"pal_name": name, "system_prompt": "hi", "default_face_id": FACE, **fields}
    return Desired(key, f"pals/{key}.yaml", body, pin)


def entry_for(d: Desired, pal_id: str, lock: Lock) -> LockEntry:
    flat, secrets = desired_form(d.body)
    fps = {p: secret_fingerprint(lock.salt, p, v) for p, v in secrets.items()}
    return LockEntry(pal_id, fingerprint(flat), tuple(sorted(flat)), fps)


LOCK = Lock({}, "salt")


def test_adoption_by_name_then_noop_once_locked() -> None:
    d = want("a", "Alpha")
    live = [pal("p000000000a1", "Alpha")]
    first = build([d], live, LOCK).changes[0]
    assert (first.action, first.pal_id) == ("adopt", "p000000000a1")
    locked = LOCK.with_entry("a", entry_for(d, "p000000000a1", LOCK))
    again = build([d], live, locked).changes[0]
    assert again.action == "noop" and again.direction is None


def test_two_candidates_block_and_name_them() -> None:
    live = [pal("p000000000a1", "Alpha"), pal("p000000000a2", "Alpha")]
    change = build([want("a", "Alpha")], live, LOCK).changes[0]
    assert change.action == "blocked"
    assert "p000000000a1" in change.reasons[0] and "p000000000a2" in change.reasons[0]


def test_pin_wins_and_a_claimed_pal_is_not_adopted() -> None:
    live = [pal("p000000000a1", "Alpha"), pal("p000000000b1", "Beta")]
    pinned = want("a", "Alpha", pin="p000000000b1")
    other = want("b", "Alpha")
    plan = build([pinned, other], live, LOCK)
    by_key = {c.key: c for c in plan.changes}
    assert by_key["a"].pal_id == "p000000000b1"
    assert (by_key["b"].action, by_key["b"].pal_id) == ("adopt", "p000000000a1")


def test_a_renamed_manifest_keeps_its_pal_and_the_old_key_is_never_pruned() -> None:
    before = want("interviewer", "Alpha", context="v1")
    lock = LOCK.with_entry("interviewer", entry_for(before, "p000000000a1", LOCK))
    live = [pal("p000000000a1", "Alpha", context="v1")]
    renamed = want("tech-interviewer", "Alpha", context="v1")
    plan = build([renamed], live, lock, prune=True)
    (change,) = plan.changes
    assert (change.action, change.pal_id, change.moved_from) == (
        "adopt",
        "p000000000a1",
        "interviewer",
    )
    assert change.ops == () and not plan.warnings
    assert "(moved from interviewer)" in render.plan_text(plan)
    edited = build([want("tech-interviewer", "Alpha", context="v2")], live, lock).changes[0]
    assert (edited.action, edited.direction, edited.moved_from) == (
        "update",
        "local",
        "interviewer",
    )
    assert edited.ops == (
        {"op": "test", "path": "/context", "value": "v1"},
        {"op": "replace", "path": "/context", "value": "v2"},
    )
    # the old manifest still there (only untargeted), or the PAL pinned elsewhere: no move
    kept = build([renamed], live, lock, manifest_keys=["interviewer", "tech-interviewer"])
    assert kept.changes[0].action == "create" and kept.changes[0].moved_from is None
    pinned = want("other", "Other", pin="p000000000a1")
    by_key = {c.key: c for c in build([renamed, pinned], live, lock).changes}
    assert by_key["tech-interviewer"].moved_from is None


def test_locked_pal_deleted_by_hand_is_created_again_with_a_warning() -> None:
    d = want("a", "Alpha")
    lock = LOCK.with_entry("a", entry_for(d, "p0000000dead", LOCK))
    change = build([d], [], lock).changes[0]
    assert change.action == "create"
    assert "no longer exists" in change.warnings[0]


def test_direction_local_drift_conflict() -> None:
    d = want("a", "Alpha", context="v1")
    lock = LOCK.with_entry("a", entry_for(d, "p000000000a1", LOCK))
    live_same = [pal("p000000000a1", "Alpha", context="v1")]
    live_drift = [pal("p000000000a1", "Alpha", context="edited in the dashboard")]
    local = want("a", "Alpha", context="v2")
    assert build([local], live_same, lock).changes[0].direction == "local"
    drift = build([d], live_drift, lock).changes[0]
    assert (drift.action, drift.direction) == ("update", "drift")
    assert build([local], live_drift, lock).changes[0].direction == "conflict"


def test_a_field_removed_from_the_manifest_is_removed_live() -> None:
    old = want("a", "Alpha", context="bye")
    lock = LOCK.with_entry("a", entry_for(old, "p000000000a1", LOCK))
    change = build(
        [want("a", "Alpha")], [pal("p000000000a1", "Alpha", context="bye")], lock
    ).changes[0]
    assert change.ops == (
        {"op": "test", "path": "/context", "value": "bye"},
        {"op": "remove", "path": "/context"},
    )


def test_secrets_sent_only_when_their_fingerprint_changes() -> None:
    d = want("a", "Alpha", layers={"llm": {"model": "m", "api_key": "sk-1"}})
    live = [
        pal(
            "p000000000a1",
            "Alpha",
            layers={"llm": {"model": "m", "api_key": "********", "speculative_inference": True}},
        )
    ]
    lock = LOCK.with_entry("a", entry_for(d, "p000000000a1", LOCK))
    assert build([d], live, lock).changes[0].action == "noop"
    rotated = want("a", "Alpha", layers={"llm": {"model": "m", "api_key": "sk-2"}})
    change = build([rotated], live, lock).changes[0]
    # a secret is never tested: the server shows it masked
    assert change.ops == ({"op": "replace", "path": "/layers/llm/api_key", "value": "sk-2"},)
    assert "sk-2" not in json.dumps(change_dict(change.key, build([rotated], live, lock)))


def change_dict(key: str, plan: Plan) -> dict[str, Any]:
    return next(c for c in plan.to_dict()["changes"] if c["key"] == key)


def test_missing_references_block() -> None:
    refs = Refs(faces=frozenset({"rother000000"}), documents=frozenset())
    change = build([want("a", "Alpha", document_ids=["d1"])], [], LOCK, refs).changes[0]
    assert change.action == "blocked"
    assert any(FACE in r for r in change.reasons) and any("d1" in r for r in change.reasons)


def test_prune_deletes_only_locked_orphans_and_never_protected() -> None:
    lock = LOCK.with_entry("gone", LockEntry("p000000000g1", "fp")).with_entry(
        "kept", LockEntry("p000000000k1", "fp", protected=True)
    )
    live = [
        pal("p000000000g1", "Gone"),
        pal("p000000000k1", "Kept"),
        pal("p000000000u1", "Unmanaged"),
    ]
    plan = build([want("a", "Alpha")], live, lock, prune=True)
    actions = {c.key: c.action for c in plan.changes}
    assert actions == {"a": "create", "gone": "delete", "kept": "noop"}
    without = build([want("a", "Alpha")], live, lock)
    assert "delete" not in {c.action for c in without.changes}
    assert any("--prune" in w for w in without.warnings)


def test_targets_limit_the_plan() -> None:
    plan = build(
        [want("web-a", "A"), want("web-b", "B"), want("api", "C")], [], LOCK, targets=["web-*"]
    )
    assert [c.key for c in plan.changes] == ["web-a", "web-b"]


# -------------------------------------------------------------------------------- rendering


def golden_plan() -> Plan:
    secret = "sk-GOLDEN-SECRET"
    a = want("alpha", "Alpha", context="short", layers={"llm": {"model": "m", "api_key": secret}})
    lock = LOCK.with_entry(
        "alpha", entry_for(want("alpha", "Alpha", context="short"), "p000000000a1", LOCK)
    )
    live = [
        pal("p000000000a1", "Alpha", context="short"),
        pal("p000000000b1", "Beta", system_prompt="You are Beta.\nBe brief.\nBe kind."),
        pal("p000000000c1", "Twin"),
        pal("p000000000c2", "Twin"),
    ]
    desired = [
        a,
        want("beta", "Beta", system_prompt="You are Beta.\nBe thorough.\nBe kind."),
        want("gamma", "Gamma", greeting="Hello there"),
        want("twin", "Twin"),
    ]
    return build(desired, live, lock, Refs(faces=frozenset({FACE})))


@pytest.mark.parametrize("fmt", ["txt", "json", "md"])
def test_golden_formats(fmt: str) -> None:
    plan = golden_plan()
    text = {
        "txt": lambda: render.plan_text(plan),
        "json": lambda: render.plan_json(plan),
        "md": lambda: render.plan_markdown(plan),
    }[fmt]()
    golden = GOLDEN / f"plan.{fmt}"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert "sk-GOLDEN-SECRET" not in text


def test_summary_counts_every_action() -> None:
    assert golden_plan().summary() == {
        "create": 1,
        "update": 1,
        "adopt": 1,
        "delete": 0,
        "noop": 0,
        "blocked": 1,
    }


def test_markdown_is_trimmed_under_the_comment_limit() -> None:
    desired = [want(f"k{i:04d}", f"N{i}", system_prompt="word " * 400) for i in range(300)]
    text = render.plan_markdown(build(desired, [], LOCK))
    assert len(text) < 65_000
    assert "trimmed" in text


# ------------------------------------------------------------- identity and prune safety


def test_a_pin_to_a_missing_pal_blocks_and_recreate_records_what_it_replaces() -> None:
    d = want("a", "Alpha", pin="p0000000dead")
    blocked = build([d], [], LOCK).changes[0]
    assert blocked.action == "blocked" and "--recreate a" in blocked.reasons[0]
    made = build([d], [], LOCK, recreate=["a"]).changes[0]
    assert made.action == "create" and made.replaces == "p0000000dead"
    lock = LOCK.with_entry("a", replace_entry(entry_for(d, "p000000000n1", LOCK), "p0000000dead"))
    kept = build([d], [pal("p000000000n1", "Alpha")], lock).changes[0]
    assert kept.action == "noop" and kept.pal_id == "p000000000n1"
    assert kept.replaces == "p0000000dead"
    assert any("update the pin to p000000000n1" in w for w in kept.warnings)


def replace_entry(entry: LockEntry, replaces: str) -> LockEntry:
    from dataclasses import replace as copy_with

    return copy_with(entry, replaces=replaces)


def test_nameless_twins_are_blocked_and_named() -> None:
    body = {"system_prompt": "x", "default_face_id": FACE}
    twins = [Desired("one", "pals/one.yaml", body), Desired("two", "pals/two.yaml", dict(body))]
    plan = build([*twins, want("three", "Three")], [], LOCK)
    by_key = {c.key: c for c in plan.changes}
    assert by_key["one"].action == by_key["two"].action == "blocked"
    assert "pals/two.yaml" in by_key["one"].reasons[0]
    assert by_key["three"].action == "create"


def test_prune_drops_only_the_entry_of_a_pal_that_is_not_live_or_in_use() -> None:
    a = want("b", "Alpha", pin="p000000000a1")
    lock = (
        LOCK.with_entry("old", LockEntry("p000000000a1", "fp"))
        # b has an entry of its own (a PAL since deleted): it does not take "old" over
        .with_entry("b", LockEntry("p0000000gone", "fp"))
        .with_entry("tmpl", LockEntry("p000000000t1", "fp"))
        .with_entry("stock", LockEntry("pe13ed370726", "fp"))
    )
    plan = build([a], [pal("p000000000a1", "Alpha")], lock, prune=True)
    by_key = {c.key: c for c in plan.changes}
    for key in ("old", "tmpl", "stock"):
        assert by_key[key].action == "delete" and by_key[key].entry_only, key
    assert "managed by b" in by_key["old"].warnings[0]
    assert "stock PAL" in by_key["stock"].warnings[0]
    assert by_key["b"].pal_id == "p000000000a1"


def test_a_pinned_manifest_takes_over_the_entry_of_its_pal_whose_manifest_is_gone() -> None:
    lock = LOCK.with_entry("old", LockEntry("p000000000a1", "fp"))
    plan = build([want("b", "Alpha", pin="p000000000a1")], [pal("p000000000a1", "Alpha")], lock)
    (change,) = plan.changes
    assert (change.key, change.pal_id, change.moved_from) == ("b", "p000000000a1", "old")


def test_pins_that_cannot_both_be_right_are_blocked() -> None:
    live = [pal("p000000000a1", "Alpha")]
    twice = build(
        [want("a", "Alpha", pin="p000000000a1"), want("b", "Beta", pin="p000000000a1")], live, LOCK
    )
    assert [c.action for c in twice.changes] == ["blocked", "blocked"]
    assert "pinned by b too" in twice.changes[0].reasons[0]
    owned = LOCK.with_entry("a", LockEntry("p000000000a1", "fp"))
    plan = build([want("a", "Alpha"), want("b", "Beta", pin="p000000000a1")], live, owned)
    by_key = {c.key: c for c in plan.changes}
    assert by_key["b"].action == "blocked" and "manifest a" in by_key["b"].reasons[0]
    assert by_key["a"].action != "blocked"


def test_an_orphaned_intent_is_found_by_name_and_deleted_only_with_prune() -> None:
    intent = {"pal_name": "Ghost", "since": "2026-01-01T00:00:00Z"}
    lock = LOCK.with_entry("gone", LockEntry(None, pending_create=intent))
    live = [pal("p000000000g1", "Ghost", created_at="2026-01-01T00:00:05Z")]
    plain = build([want("a", "Alpha")], live, lock)
    assert any("p000000000g1" in w and "--prune" in w for w in plain.warnings)
    pruned = build([want("a", "Alpha")], live, lock, prune=True)
    gone = next(c for c in pruned.changes if c.key == "gone")
    assert (gone.action, gone.pal_id, gone.entry_only) == ("delete", "p000000000g1", False)
    older = [pal("p000000000g1", "Ghost", created_at="2025-06-01T00:00:00Z")]
    nothing = next(c for c in build([], older, lock, prune=True).changes if c.key == "gone")
    assert nothing.entry_only and nothing.pal_id is None, "a PAL older than the intent is not it"


def test_a_removed_secret_has_a_field_line_and_a_remove_op() -> None:
    d = want("a", "Alpha", layers={"llm": {"model": "m", "api_key": "sk-1"}})
    lock = LOCK.with_entry("a", entry_for(d, "p000000000a1", LOCK))
    live = [pal("p000000000a1", "Alpha", layers={"llm": {"model": "m", "api_key": "****"}})]
    change = build([want("a", "Alpha", layers={"llm": {"model": "m"}})], live, lock).changes[0]
    assert change.action == "update"
    assert [(f.path, f.sensitive, f.removed) for f in change.fields] == [
        ("/layers/llm/api_key", True, True)
    ]
    assert {"op": "remove", "path": "/layers/llm/api_key"} in change.ops
    assert "- layers.llm.api_key: (sensitive)" in render.plan_text(Plan((change,)))
