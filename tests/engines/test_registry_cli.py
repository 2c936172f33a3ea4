"""Engine discovery and the `engines` / `generate` subcommands, run in-process through cli.main."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dance_ai_addon import cli
from dance_ai_addon.core.bvh import read_bvh
from dance_ai_addon.core.engines import registry
from dance_ai_addon.core.errors import EngineError
from dance_ai_addon.core.skeleton import SMPL24_NAMES


@pytest.fixture
def user_dir(tmp_path, monkeypatch, test_engine_path, make_engine):
    d = tmp_path / "my_engines"
    d.mkdir()
    shutil.copy(test_engine_path, d / "groove.onnx")
    shutil.copy(make_engine(history=0, blendshapes=True), d / "face.onnx")
    (d / "broken.onnx").write_bytes(b"\x08\x01garbage")
    (d / "notes.txt").write_text("not an engine")
    monkeypatch.setenv("DANCE_AI_ENGINES", str(d))
    return d


def test_user_dirs_follow_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("DANCE_AI_ENGINES", str(tmp_path / "e"))
    assert registry.user_engines_dir() == tmp_path / "e"
    monkeypatch.delenv("DANCE_AI_ENGINES")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if registry.sys.platform.startswith("linux"):
        assert registry.user_engines_dir() == tmp_path / "cfg" / "dance_ai" / "engines"
        assert registry.user_cache_dir() == tmp_path / "cache" / "dance_ai"


def test_list_and_resolve(user_dir, monkeypatch, tmp_path):
    names = {(e.name, e.source) for e in registry.list_engines()}
    assert {("groove", "user"), ("face", "user"), ("broken", "user")} <= names
    assert ("notes", "user") not in names
    assert registry.resolve_engine("groove") == user_dir / "groove.onnx"
    assert registry.resolve_engine(str(user_dir / "face.onnx")) == user_dir / "face.onnx"
    with pytest.raises(EngineError, match="no engine named 'tango'; found: "):
        registry.resolve_engine("tango")
    with pytest.raises(EngineError, match="does not exist"):
        registry.resolve_engine(str(tmp_path / "nope.onnx"))
    monkeypatch.setattr(registry, "bundled_engines_dir", lambda: tmp_path / "empty_bundle")
    with pytest.raises(EngineError, match="default engine is not installed"):
        registry.resolve_engine("default")


def test_engines_json(user_dir, capsys):
    assert cli.main(["engines", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    by_name = {e["name"]: e for e in info["engines"] if e["source"] == "user"}
    assert by_name["groove"]["valid"] and by_name["groove"]["metadata"]["window"] == 16
    assert by_name["face"]["metadata"]["blendshapes"] == 52
    assert not by_name["broken"]["valid"] and "broken.onnx" in by_name["broken"]["error"]
    assert info["backends"]["cpu"]["usable"] is True
    assert set(info["backends"]) == {"cpu", "cuda", "tensorrt", "tensorrt_native"}
    assert cli.main(["engines"]) == 0
    text = capsys.readouterr().out
    assert "groove" in text and "INVALID" in text and "Backends:" in text


def test_generate_bvh_with_report(user_dir, tmp_path, capsys):
    out, rep = tmp_path / "out" / "dance.bvh", tmp_path / "report.json"
    rc = cli.main(
        ["generate", "--engine", "groove", "--backend", "cpu", "--style", "salsa=0.7,modern=0.3",
         "--seconds", "3", "--bpm", "128", "--seed", "4", "--out", str(out), "--report", str(rep)]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    bvh = read_bvh(out)
    assert bvh.clip.n_frames == 90 and bvh.clip.fps == pytest.approx(30.0)
    assert sorted(bvh.clip.skeleton.names) == sorted(SMPL24_NAMES)  # BVH order is depth-first
    report = json.loads(rep.read_text())
    assert report["frames"] == 90 and report["fps"] == 30.0 and report["seed"] == 4
    assert report["engine"] == "test-engine" and report["backend"] == "onnxruntime"
    assert report["provider"] == "CPUExecutionProvider" and report["generation_seconds"] > 0
    assert report["style"]["salsa"] == pytest.approx(0.7) and report["bpm"] == 128
    assert report["noise_scale"] == pytest.approx(1.0)  # the test engine recommends 1 for all
    # the root stays in meters: a standing pelvis is about 0.9 m up, not 90
    assert 0.3 < bvh.clip.root_positions[:, 1].mean() < 1.5


def test_generate_no_foot_cleanup_keeps_the_raw_legs(user_dir, tmp_path, capsys):
    args = ["generate", "--engine", "default", "--backend", "cpu", "--style", "salsa",
            "--seconds", "4", "--seed", "2"]  # fmt: skip
    clean, raw = tmp_path / "clean.npz", tmp_path / "raw.npz"
    assert cli.main(args + ["--out", str(clean)]) == 0, capsys.readouterr().err
    assert cli.main(args + ["--no-foot-cleanup", "--out", str(raw)]) == 0
    with np.load(clean, allow_pickle=False) as a, np.load(raw, allow_pickle=False) as b:
        names = [str(n) for n in a["joint_names"]]
        legs = [names.index(n) for n in ("L_Knee", "R_Knee")]
        arms = [names.index(n) for n in ("L_Elbow", "R_Elbow")]
        assert np.abs(a["rotations"][:, legs] - b["rotations"][:, legs]).max() > 1e-3
        np.testing.assert_allclose(a["rotations"][:, arms], b["rotations"][:, arms], atol=1e-9)


def test_generate_npz_with_blendshapes_and_resampling(user_dir, tmp_path, capsys):
    out = tmp_path / "face.npz"
    rc = cli.main(
        ["generate", "--engine", str(user_dir / "face.onnx"), "--frames", "100", "--fps", "60",
         "--loop", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    with np.load(out, allow_pickle=False) as z:
        assert z["rotations"].shape == (100, 24, 4) and z["root_positions"].shape == (100, 3)
        assert float(z["fps"]) == 60.0 and z["joint_names"][0] == "Pelvis"
        assert z["parents"][0] == -1 and z["offsets"].shape == (24, 3)
        assert z["blendshape_names"].shape == (52,) and z["blendshape_weights"].shape == (100, 52)
        assert z["blendshape_names"].dtype.kind == "U"


def test_generate_errors_are_one_line_exit_2(user_dir, tmp_path, capsys):
    rc = cli.main(["generate", "--engine", "groove", "--style", "tango=1", "--out",
                   str(tmp_path / "a.bvh")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "unknown style 'tango'" in err and "salsa, modern, hiphop, calm" in err
    rc = cli.main(["generate", "--engine", "broken", "--out", str(tmp_path / "a.bvh")])
    assert rc == 2 and "broken.onnx" in capsys.readouterr().err
    rc = cli.main(["generate", "--engine", "groove", "--out", str(tmp_path / "a.fbx")])
    assert rc == 2 and ".bvh or .npz" in capsys.readouterr().err
    rc = cli.main(["generate", "--engine", "groove", "--variety", "1.5", "--out",
                   str(tmp_path / "a.bvh")])  # fmt: skip
    assert rc == 2 and "variety must be between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "a.bvh").exists()
