"""Hostile input: generated YAML-ish bytes and mutated manifests. validate (and plan) answer with
messages naming the file, never a traceback, never a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palsync.manifest import load_bytes
from palsync.validation import check

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "pals" / "support-agent.yaml").read_bytes()
TOKENS = [
    b"\n",
    b"  ",
    b"\t",
    b": ",
    b"- ",
    b"&a ",
    b"*a",
    b"<<: ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"'",
    b'"',
    b"---\n",
    b"!!python/object ",
    b"${",
    b"$${X}",
    b"no",
    b"on",
    b"~",
    b"\xff",
    b"\x00",
    b"pal_name",
    b"layers",
    b"llm",
    b"api_key: sk",
    b"?",
    b"|",
    b">",
    b"%YAML 1.1",
]


def validate_bytes(data: bytes) -> None:
    started = time.monotonic()
    manifest, problems = load_bytes("pals/fuzz.yaml", "fuzz", data)
    if manifest is not None:
        problems += check([manifest], {})
    assert time.monotonic() - started < 2, "bounded time per file"
    for problem in problems:
        assert problem.location.path == "pals/fuzz.yaml"
        assert problem.message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    validate_bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_yaml_shaped_noise(tokens: list[bytes]) -> None:
    validate_bytes(b"".join(tokens))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SEED)), st.integers(0, 40), st.sampled_from(TOKENS))
def test_mutated_real_manifest(at: int, cut: int, insert: bytes) -> None:
    validate_bytes(SEED[:at] + insert + SEED[at + cut :])


@pytest.mark.parametrize(
    "data",
    [
        b"a: " + b"[" * 5000 + b"]" * 5000,
        b"layers:\n" + b"".join(b"  " * i + b"k:\n" for i in range(1, 300)),
    ],
    ids=["flow", "block"],
)
def test_deep_nesting_is_an_error_not_a_crash(data: bytes) -> None:
    validate_bytes(data)  # no crash, bounded time
    manifest, problems = load_bytes("pals/fuzz.yaml", "fuzz", data)
    assert manifest is None
    errors = [p for p in problems if p.is_error]
    assert errors and "levels deep" in errors[0].message, problems
    assert errors[0].location.path == "pals/fuzz.yaml" and errors[0].location.line >= 1


@pytest.mark.parametrize("size", [2 * 1024 * 1024])
def test_huge_file_is_refused_without_parsing(size: int) -> None:
    manifest, problems = load_bytes("pals/big.yaml", "big", b"a: " + b"x" * size)
    assert manifest is None
    assert "limited to" in problems[0].message


BOMB = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + b"".join(
    b"%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n" % ((c,) * 11) for c in b"bcdefghi"
)
#: name -> (file bytes, what the message must say)
HOSTILE = {
    "bomb": (BOMB, "alias bomb"),
    "binary": (b"\x00\xff\xfe garbage \x80", "not valid UTF-8"),
    "deep": (b"pal_name: " + b"[" * 3000 + b"]" * 3000, "levels deep"),
    "tabs": (b"pal_name: x\nlayers:\n\tllm: {}\n", "tab character"),
    "python-tag": (b"pal_name: !!python/object/apply:os.system ['true']\n", "unsupported YAML tag"),
    "set-tag": (b"pal_name: x\nguardrail_ids: !!set {a, b}\n", "unsupported YAML tag"),
    "two-docs": (b"pal_name: a\n---\npal_name: b\n", "several YAML documents"),
    "not-a-mapping": (b"- just\n- a list\n", "must be a mapping"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_plan_on_hostile_input_exits_1_naming_the_file_and_sends_nothing(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from palsync.cli import main
    from palsync.emulator import Emulator

    with Emulator(api_key="k") as emu:
        (tmp_path / "pals").mkdir()
        data, says = HOSTILE[name]
        (tmp_path / "pals" / f"{name}.yaml").write_bytes(data)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("TAVUS_API_URL", emu.url)
        monkeypatch.setenv("TAVUS_API_KEY", "k")
        for command in ("plan", "apply"):
            with pytest.raises(SystemExit) as done:
                main([command, "--auto-approve"] if command == "apply" else [command])
            out, err = capsys.readouterr()
            assert done.value.code == 1
            assert f"pals/{name}.yaml:" in err and says in err
            assert "Traceback" not in out + err
        assert emu.request_counts() == {}, "no API call on bad input"
