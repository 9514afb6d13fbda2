"""No secret and no API key in any output, log, plan file or lock file, whatever the command."""

from __future__ import annotations

from pathlib import Path

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
