"""`${VAR}` interpolation at plan time: resolved values, defaults, `$$`, and escaped dollars."""

from __future__ import annotations

from pathlib import Path

import pytest

from palsync.manifest import interpolate, load_bytes

FACE = "r90bbd427f71"


def body_of(text: str, env: dict[str, str]) -> tuple[dict[str, object], list[str]]:
    manifest, problems = load_bytes("pals/p.yaml", "p", text.encode())
    assert manifest is not None and not problems
    body, unset = interpolate(manifest, env)
    return body, [p.message for p in unset]


@pytest.mark.parametrize(
    ("written", "env", "expected"),
    [
        ("${NAME}", {"NAME": "Ada"}, "Ada"),
        ("${NAME:-Bob}", {}, "Bob"),
        ("${NAME:-Bob}", {"NAME": ""}, "Bob"),
        ('"price: $$5"', {}, "price: $5"),
        ('"\\x24{NAME} and \\u0024{NAME}"', {"NAME": "Ada"}, "Ada and Ada"),
        ("no references", {}, "no references"),
    ],
)
def test_values_resolve(written: str, env: dict[str, str], expected: str) -> None:
    body, unset = body_of(f"pal_name: {written}\ndefault_face_id: {FACE}\n", env)
    assert body["pal_name"] == expected
    assert unset == []


def test_an_unset_variable_without_default_is_an_error_at_its_line(tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"  # positions come from these bytes when a message needs them
    file.write_bytes(b"default_face_id: x\npal_name: ${NOPE}\n")
    manifest, _ = load_bytes(str(file), "p", file.read_bytes())
    assert manifest is not None
    _, problems = interpolate(manifest, {})
    assert [(p.location.line, p.location.col) for p in problems] == [(2, 11)]
    assert "NOPE is not set" in problems[0].message
