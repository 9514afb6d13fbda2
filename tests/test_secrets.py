"""No secret and no API key in any output, log, plan file or lock file, whatever the command."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from palsync.emulator import Emulator, FaultRule
from tests.workflow import Workspace, pal_body

LLM_KEY = "sk-llm-SECRET-VALUE-111"
TTS_KEY = "tts-SECRET-VALUE-222"
HEADER = "hdr-SECRET-VALUE-333"


def test_every_command_and_format_keeps_secrets(
    tmp_path: Path,
    emulator: Emulator,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = Workspace(tmp_path, emulator, api_key, monkeypatch, capsys)
    monkeypatch.setenv("LLM_KEY", LLM_KEY)
    monkeypatch.setenv("TTS_KEY", TTS_KEY)
    monkeypatch.setenv("HDR", HEADER)
    layers = {
        "llm": {
            "model": "m",
            "base_url": "https://llm.example.com",
            "api_key": "${LLM_KEY}",
            "headers": {"X-Token": "${HDR}"},
        },
        "tts": {"tts_engine": "cartesia", "api_key": "${TTS_KEY}"},
    }
    ws.write("s", pal_body(1, layers=layers))
    ws.copy_examples()
    outputs = []
    for args in (
        ["validate"],
        ["validate", "--format", "json"],
        ["validate", "--format", "github"],
        ["plan", "-v"],
        ["plan", "--format", "json", "-v"],
        ["plan", "--format", "markdown"],
        ["plan", "--out", "plan.json", "-v"],
        ["apply", "plan.json", "-v"],
    ):
        result = ws.run(*args)
        outputs += [result.out, result.err]
    emulator.faults.add(FaultRule("status", status=503, path="/v2/pals*", times=2))
    monkeypatch.setenv("LLM_KEY", LLM_KEY + "-rotated")
    for args in (
        ["plan", "-v", "--format", "json"],
        ["apply", "--auto-approve", "-v"],
        ["apply", "--auto-approve", "--format", "json"],
        ["import", "--all", "-v", "--dir", "imported"],
    ):
        result = ws.run(*args)
        outputs += [result.out, result.err]
    files = [
        tmp_path / "plan.json",
        ws.pals / "palsync.lock",
        *tmp_path.glob("imported/*"),
        *tmp_path.glob("cache/*"),  # the cache of validated manifests
    ]
    assert list(tmp_path.glob("cache/*")), "the cache was written and scanned"
    outputs += [f.read_text() for f in files if f.is_file()]
    everything = "\n".join(outputs)
    assert "layers.llm.api_key: (sensitive)" in everything, "the scan saw real output"
    assert "GET /v2/pals" in everything, "the -v request logs were captured"
    for secret in (LLM_KEY, TTS_KEY, HEADER, api_key, "sk-acme-demo-secret"):
        assert secret not in everything
    stored = emulator.store.pals_named("PAL 001")[0]["layers"]["llm"]
    assert stored["api_key"] == LLM_KEY + "-rotated", "the rotated secret was sent"


# ------------------------------------------------------------------ issue 10, items 9-11

PLANTED = {  # secret variable -> its value (a quote and a slash: JSON, Markdown, URL escapes)
    "LLM_KEY": 'sk-llm-PLANTED"one/111',
    "TTS_KEY": "tts-PLANTED-two-222",
    "HDR": "hdr-PLANTED+three=333",
}
#: the API key of the `ws` fixture, planted as ${TAVUS_API_KEY}
SECRET_VARS = [*PLANTED, "TAVUS_API_KEY"]


def secret_layers(**llm: Any) -> dict[str, Any]:
    return {
        "llm": {
            "model": "m",
            "base_url": "https://llm.example.com",
            "api_key": "${LLM_KEY}",
            "headers": {"X-Token": "${HDR}"},
            **llm,
        },
        "tts": {"tts_engine": "cartesia", "api_key": "${TTS_KEY}"},
    }


def planted_body(i: int, var: str) -> dict[str, Any]:
    """Every non-secret string field a manifest can have, each holding ${var}."""
    ref = "${" + var + "}"
    return {
        "pal_name": f"Planted {i} {ref}",
        "system_prompt": f"You are planted.\nThe key is {ref}.\nDo not say it.",
        "context": ref,
        "greeting": f"Hello {ref}",
        "default_face_id": FACE,
        "document_tags": [ref],
        "layers": {
            "llm": {
                "model": f"m-{ref}",
                "base_url": f"https://user:{ref}@llm.example.com/v1",
                "api_key": "${LLM_KEY}",
                "headers": {"X-Token": "${HDR}"},
                "extra_body": {"note": ref},
            },
            "tts": {"tts_engine": "cartesia", "api_key": "${TTS_KEY}", "voice_id": ref},
            "perception": {"perception_model": "raven-1", "visual_awareness_queries": [ref]},
        },
    }


PLANTED_POINTERS = (
    "pal_name",
    "system_prompt",
    "context",
    "greeting",
    "document_tags[0]",
    "layers.llm.model",
    "layers.llm.base_url",
    "layers.llm.extra_body.note",
    "layers.tts.voice_id",
    "layers.perception.visual_awareness_queries[0]",
)


def set_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)


def assert_nowhere(texts: list[str], *secrets: str) -> None:
    everything = "\n".join(texts)
    for secret in secrets:
        for form in {secret, json.dumps(secret)[1:-1], secret.replace("/", "\\/")}:
            assert form not in everything, f"{form!r} leaked"


FACE = "r90bbd427f71"


def test_planted_secrets_are_refused_and_never_printed(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN 14, item 9: each secret variable planted in every non-secret field is a
    validation error naming file:line:col and the field, offline (validate) and before any
    request (plan, apply); nothing is created and no value is printed or written."""
    set_secrets(monkeypatch)
    for i, var in enumerate(SECRET_VARS):
        ws.write(f"plant-{i}", planted_body(i, var))
    texts: list[str] = []
    for args in (
        ["validate"],
        ["validate", "--format", "json"],
        ["validate", "--format", "github"],
        ["plan"],
        ["plan", "-v", "--format", "json"],
        ["plan", "--format", "markdown"],
        ["plan", "--out", "plan.json"],
        ["apply", "--auto-approve", "-v"],
    ):
        result = ws.run(*args)
        assert result.code == 1, (args, result.out, result.err)
        texts += [result.out, result.err]
    plain = ws.run("validate")
    for i, var in enumerate(SECRET_VARS):
        for pointer in PLANTED_POINTERS:
            assert re.search(
                rf"pals/plant-{i}\.yaml:\d+:\d+: error: {re.escape(pointer)}: \$\{{{var}\}} is ",
                plain.out + plain.err,
            ), (var, pointer, plain.out)
    assert "secret variable (used in layers.llm.api_key of" in plain.out + plain.err
    assert "is the Tavus API key" in plain.out + plain.err
    assert ws.emulator.store.user_pals() == [], "nothing was created"
    assert not (ws.root / "plan.json").exists()
    assert_nowhere(texts, *PLANTED.values(), ws.api_key)


def test_a_variable_holding_a_secret_value_is_refused_at_plan(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offline check knows names; plan also knows values: NAME set to a secret's value,
    or a default that is the API key, in a non-secret field is refused."""
    set_secrets(monkeypatch)
    monkeypatch.setenv("ALIAS", PLANTED["LLM_KEY"])
    ws.write("s", pal_body(1, layers=secret_layers()))
    ws.write("alias", pal_body(2, context="${ALIAS}"))
    ws.write("default", pal_body(3, greeting="hi ${NOPE_UNSET:-" + ws.api_key + "}"))
    assert ws.run("validate").code == 0, "names alone are fine"
    result = ws.run("plan", "-v")
    assert result.code == 1
    text = result.out + result.err
    assert re.search(r"pals/alias\.yaml:\d+:\d+: error: context: \$\{ALIAS\} holds the", text)
    assert re.search(r"pals/default\.yaml:\d+:\d+: error: greeting: \$\{NOPE_UNSET\} holds", text)
    assert "GET /v2/pals" not in text, "refused before any request"
    assert_nowhere([text], PLANTED["LLM_KEY"], ws.api_key)


def bypass_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the checks of item 9 did not exist: redaction alone must keep every output clean."""
    from palsync import validation

    monkeypatch.setattr(validation, "_secret_variable_problems", lambda manifests: [])
    monkeypatch.setattr(validation, "leaked_secret_values", lambda *args: [])


def test_every_output_path_is_scrubbed_even_with_the_checks_bypassed(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acceptance test: every secret variable planted in every non-secret field, with the
    validation of item 9 switched off, and every output pal-sync has (text, JSON and Markdown
    plans, a plan file, the lock, apply, import, `-v` logs, errors, an internal error and its
    traceback) searched for each secret value: found nowhere."""
    set_secrets(monkeypatch)
    bypass_checks(monkeypatch)
    for i, var in enumerate(SECRET_VARS):
        ws.write(f"plant-{i}", planted_body(i, var))
    texts: list[str] = []

    def run(*args: str, code: int = 0) -> None:
        result = ws.run(*args)
        assert result.code == code, (args, result.out, result.err)
        texts.extend([result.out, result.err])

    run("plan", "-v")
    run("plan", "--format", "json")
    run("plan", "--format", "markdown")
    run("plan", "--out", "plan.json", "-v")
    run("apply", "plan.json", "-v")
    assert len(ws.emulator.store.user_pals()) == len(SECRET_VARS), "applied (checks bypassed)"
    run("plan", "--detailed-exitcode", "-v")
    # a rotation: every value changes, plan and apply again
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value + "-rotated")
    run("plan", "--format", "json", code=0)
    run("plan", "--format", "markdown")
    run("apply", "--auto-approve", "-v", "--format", "json")
    run("import", "--all", "-v", "--dir", "imported")
    assert "holds a known secret value" in texts[-1] and "written as (sensitive)" in texts[-1]
    # an error whose message quotes a secret (a lock that cannot be read)
    monkeypatch.setenv("PALSYNC_DEBUG", "0")
    from palsync import plan as plan_module

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom near {PLANTED['HDR']}-rotated and {ws.api_key}")

    monkeypatch.setattr(plan_module, "build", explode)
    monkeypatch.setattr("palsync.pipeline.planning.build", explode)
    result = ws.run("plan")
    assert result.code == 1 and "Internal error: RuntimeError: boom near" in result.err
    texts += [result.out, result.err]
    monkeypatch.setenv("PALSYNC_DEBUG", "1")
    result = ws.run("plan")
    assert result.code == 1 and "Traceback (most recent call last)" in result.err
    texts += [result.out, result.err]
    files = [
        ws.root / "plan.json",
        ws.pals / "palsync.lock",
        *(ws.root / "imported").glob("*"),
        *(ws.root / "cache").rglob("*"),
    ]
    assert (ws.root / "plan.json").is_file() and list((ws.root / "imported").glob("*.yaml"))
    texts += [f.read_text(encoding="utf-8", errors="replace") for f in files if f.is_file()]
    everything = "\n".join(texts)
    assert "(sensitive)" in everything and "GET /v2/pals" in everything, "real output scanned"
    assert "Planted 0" in everything, "the non-secret parts are shown"
    values = [*PLANTED.values(), *(v + "-rotated" for v in PLANTED.values()), ws.api_key]
    assert_nowhere(texts, *values)
    live = ws.emulator.store.user_pals()
    assert any(PLANTED["HDR"] + "-rotated" in str(p) for p in live), "the values were real"


def test_header_names_that_are_not_http_tokens_are_refused(ws: Workspace) -> None:
    """Item 10: an empty header name, or one with `/`, a space or a colon, is a validation
    error at its line (validate and plan); nothing is sent."""
    for i, name in enumerate(["", "a/b", "X Token", "X-Token:"]):
        ws.write(f"h{i}", pal_body(i, layers=secret_layers(headers={name: "${HDR}"})))
    ws.write("ok", pal_body(9, layers=secret_layers(headers={"X-Api_Key.v2~!#": "${HDR}"})))
    result = ws.run("validate")
    assert result.code == 1
    for i, name in enumerate(["", "a/b", "X Token", "X-Token:"]):
        assert re.search(
            rf"pals/h{i}\.yaml:\d+:\d+: error: layers\.llm\.headers: {re.escape(repr(name))} is "
            "not a "
            "valid HTTP header name",
            result.out,
        ), result.out
    assert "pals/ok.yaml:10:24: error" not in result.out, "a valid token is accepted"
    assert ws.run("plan").code == 1 and ws.emulator.store.user_pals() == []


@pytest.mark.parametrize("name", ["", "a/b", "~0", "a~1b", "/", "x/y/z"])
def test_any_header_name_stays_secret_in_plan_json_and_plan_files(name: str) -> None:
    """Item 10, with validation bypassed: the plan's JSON (and so plan files) never shows a
    header value, whatever its name (empty, `/`, `~`), in field changes or in patch ops."""
    from palsync import plan as planning
    from palsync.fields import is_secret_pointer, join_pointer
    from palsync.lock import new_lock

    secret = "hdr-VALUE-that-must-not-show"
    pointer = join_pointer(["layers", "llm", "headers", name])
    assert is_secret_pointer(pointer)
    body = {**pal_body(1), "layers": {"llm": {"model": "m", "headers": {name: secret}}}}
    live = {"pal_id": "p0000000001", "pal_type": "user", **pal_body(1)}
    created = planning.build([planning.Desired("a", "pals/a.yaml", body)], [], new_lock())
    updated = planning.build([planning.Desired("a", "pals/a.yaml", body)], [live], new_lock())
    assert [c.action for c in created.changes + updated.changes] == ["create", "adopt"]
    for plan in (created, updated):
        text = json.dumps(plan.to_dict())
        assert secret not in text
    assert updated.changes[0].ops, "the header is sent"
    assert secret in json.dumps(updated.changes[0].ops), "the real ops still carry the value"


def test_lock_fingerprints_are_slow_salted_and_memoised() -> None:
    """Item 11: scrypt, versioned prefix, salted (salt and pointer), deliberately slow per new
    value, and one derivation per (salt, pointer, value) within a run."""
    from palsync.lock import secret_fingerprint

    start = time.perf_counter()
    first = secret_fingerprint("salt-a", "/layers/llm/api_key", "abc123")
    slow = time.perf_counter() - start
    assert first.startswith("scrypt:") and len(first) == len("scrypt:") + 64
    assert slow > 0.01, f"one derivation took {slow * 1000:.1f} ms: not deliberately slow"
    start = time.perf_counter()
    for _ in range(1000):
        assert secret_fingerprint("salt-a", "/layers/llm/api_key", "abc123") == first
    assert time.perf_counter() - start < 0.05, "a thousand PALs sharing one key: one derivation"
    assert secret_fingerprint("salt-b", "/layers/llm/api_key", "abc123") != first
    assert secret_fingerprint("salt-a", "/layers/tts/api_key", "abc123") != first
    assert hashlib.sha256(b"salt-a\0/layers/llm/api_key\0abc123").hexdigest() not in first


def test_old_sha256_fingerprints_are_resent_once_then_recorded_as_scrypt(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 11, upgrade: a lock written by an older pal-sync (`sha256:` fingerprints) makes the
    next plan resend each secret once (shown as (sensitive)); apply records scrypt, and the
    plan after it is clean."""
    set_secrets(monkeypatch)
    ws.write("s", pal_body(1, layers=secret_layers()))
    assert ws.run("apply", "--auto-approve").code == 0
    lock = ws.lock()
    secrets = lock["pals"]["s"]["secrets"]
    assert sorted(secrets) == [
        "/layers/llm/api_key",
        "/layers/llm/headers/X-Token",
        "/layers/tts/api_key",
    ]
    assert all(v.startswith("scrypt:") for v in secrets.values())
    salt = lock["salt"]
    old = {
        p: "sha256:" + hashlib.sha256(f"{salt}\0{p}\0{v}".encode()).hexdigest()
        for p, v in {
            "/layers/llm/api_key": PLANTED["LLM_KEY"],
            "/layers/llm/headers/X-Token": PLANTED["HDR"],
            "/layers/tts/api_key": PLANTED["TTS_KEY"],
        }.items()
    }
    text = (ws.pals / "palsync.lock").read_text()
    for pointer, fp in secrets.items():
        text = text.replace(fp, old[pointer])
    (ws.pals / "palsync.lock").write_text(text)
    result = ws.run("plan", "--detailed-exitcode")
    assert result.code == 2, result.out
    assert "layers.llm.api_key: (sensitive)" in result.out
    pal_id = ws.lock()["pals"]["s"]["pal_id"]

    def patches() -> int:
        return sum(1 for m, p, _ in ws.emulator.requests() if m == "PATCH" and pal_id in p)

    before = patches()
    assert ws.run("apply", "--auto-approve").code == 0
    assert patches() == before + 1, "each secret sent once more"
    assert all(v.startswith("scrypt:") for v in ws.lock()["pals"]["s"]["secrets"].values())
    assert ws.run("plan", "--detailed-exitcode").code == 0


def test_emulator_admin_endpoints_need_the_key_and_never_return_secrets(
    emulator: Emulator, api_key: str
) -> None:
    """Item 11: every /_emulator/ endpoint answers 401 without the key (or with a wrong one);
    with it, the stored PALs come back with their secrets masked."""
    import httpx

    emulator.store.create_pal(
        {
            **pal_body(1),
            "layers": {"llm": {"model": "m", "api_key": LLM_KEY, "headers": {"X-Token": HEADER}}},
        },
        legacy=False,
    )
    pal_id = emulator.store.user_pals()[0]["pal_id"]
    calls = [
        ("POST", "/_emulator/faults", {"rules": []}),
        ("DELETE", "/_emulator/faults", None),
        ("GET", "/_emulator/requests", None),
        ("DELETE", "/_emulator/requests", None),
        ("GET", "/_emulator/pals", None),
        ("POST", f"/_emulator/maker-draft/{pal_id}", None),
        ("POST", "/_emulator/reset", None),
    ]
    with httpx.Client(base_url=emulator.url) as http:
        for method, path, body in calls:
            for headers in ({}, {"x-api-key": "wrong"}):
                answer = http.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, (method, path, headers)
        assert len(emulator.store.user_pals()) == 1, "the reset without a key did nothing"
        assert pal_id not in emulator.store.maker_drafts
        answer = http.get("/_emulator/pals", headers={"x-api-key": api_key})
        assert answer.status_code == 200
        assert LLM_KEY not in answer.text and HEADER not in answer.text
        llm = answer.json()["data"][0]["layers"]["llm"]
        assert llm["api_key"] == "********" and llm["headers"] == {"X-Token": "********"}
        assert http.post("/_emulator/reset", headers={"x-api-key": api_key}).status_code == 204
    assert emulator.store.user_pals() == []


def test_emulator_state_file_holds_no_secret_and_stays_faithful(tmp_path: Path) -> None:
    """Item 11: `--state` keeps secrets only as salted one-way digests; after a restart, reads
    still mask them, a patch that sets the same secret is a 304 no-op, another value a 200."""
    import httpx

    state = tmp_path / "state.json"
    key = "state-test-key"
    body = {
        **pal_body(1),
        "layers": {
            "llm": {"model": "m", "api_key": LLM_KEY, "headers": {"X-Token": HEADER}},
            "tts": {"tts_engine": "cartesia", "api_key": TTS_KEY},
        },
    }
    with Emulator(state_file=state, api_key=key) as emu:
        pal_id = emu.store.create_pal(body, legacy=False)["pal_id"]
    text = state.read_text()
    for secret in (LLM_KEY, HEADER, TTS_KEY):
        assert secret not in text
    # the PAL's three secrets, and the seeded registry tool's bearer token (issue 11)
    assert text.count("emulator-sealed:scrypt:") == 4
    assert "tool-token-seeded" not in text
    same = [
        {"op": "replace", "path": "/layers/llm/api_key", "value": LLM_KEY},
        {"op": "replace", "path": "/layers/llm/headers/X-Token", "value": HEADER},
    ]
    with (
        Emulator(state_file=state, api_key=key) as emu,
        httpx.Client(base_url=emu.url, headers={"x-api-key": key}) as http,
    ):
        got = http.get(f"/v2/pals/{pal_id}").json()["data"][0]
        assert got["layers"]["llm"]["api_key"] == "********"
        assert got["layers"]["tts"]["api_key"] == "********"
        assert http.patch(f"/v2/pals/{pal_id}", json=same).status_code == 304
        other = [{"op": "replace", "path": "/layers/tts/api_key", "value": "tts-other-444"}]
        assert http.patch(f"/v2/pals/{pal_id}", json=other).status_code == 200
        assert http.patch(f"/v2/pals/{pal_id}", json=other).status_code == 304
    text = state.read_text()
    assert "tts-other-444" not in text and LLM_KEY not in text and HEADER not in text


def test_emulator_help_says_how_secrets_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    from palsync.cli import main

    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "only as salted scrypt digests, never in clear" in out
    assert "admin endpoints need the API key too" in out


def test_a_secret_in_an_exception_from_a_subprocess_is_scrubbed(ws: Workspace) -> None:
    """The real console script in its own process: an API key that httpx refuses (a newline
    inside) fails the run with a message, never the key, with and without PALSYNC_DEBUG."""
    ws.write("a", pal_body(1))
    key = "line-one-SECRET\nline-two-SECRET"
    for debug in ("0", "1"):
        ws.env.update({"TAVUS_API_KEY": key, "PALSYNC_DEBUG": debug})
        result = ws.run_process("plan", "-v")
        assert result.code == 1, result.err
        text = result.out + result.err
        assert "line-one-SECRET" not in text and "line-two-SECRET" not in text, text


def test_a_key_from_api_key_file_is_redacted_too(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API key read from --api-key-file (TAVUS_API_KEY unset) is as secret as the variable:
    pasted literally into a prompt, it is shown (sensitive) in every plan format and file."""
    monkeypatch.delenv("TAVUS_API_KEY")
    (ws.root / "key.txt").write_text(ws.api_key + "\n")
    ws.write("a", pal_body(1, system_prompt=f"Never say {ws.api_key}."))
    texts = []
    for args in (
        ["plan", "--api-key-file", "key.txt", "-v"],
        ["plan", "--api-key-file", "key.txt", "--format", "json"],
        ["plan", "--api-key-file", "key.txt", "--format", "markdown", "--out", "plan.json"],
    ):
        result = ws.run(*args)
        assert result.code == 0, result.err
        texts += [result.out, result.err]
    texts.append((ws.root / "plan.json").read_text())
    assert "Never say (sensitive)." in "\n".join(texts)
    assert_nowhere(texts, ws.api_key)
