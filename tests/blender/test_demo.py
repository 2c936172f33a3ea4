"""``make demo`` (tools/demo.py) end to end with a contract test engine; result opened in bpy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

from dance_ai_addon.blender import compat  # noqa: E402
from dance_ai_addon.core.bvh import load_bvh_clip  # noqa: E402
from tools import make_test_engine  # noqa: E402  (repo root is on pytest's path)

pytestmark = [pytest.mark.bpy, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "tools" / "demo.py"
DEFAULT_ENGINE = REPO / "dance_ai_addon" / "engines" / "default.onnx"


def _demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        cwd=str(REPO),
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _make_engine(path: Path) -> Path:
    return make_test_engine.make_test_engine(path)


def test_demo_writes_bvh_blend_and_report(tmp_path):
    engine = _make_engine(tmp_path / "demo_engine.onnx")
    out = tmp_path / "out"
    proc = _demo("--engine", str(engine), "--seconds", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("demo.bvh", "demo.blend", "report.json"):
        assert str(out / name) in proc.stdout  # it says where the results are
    assert "retarget + bake" in proc.stdout and "total" in proc.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["seed"] == 7 and report["style"] == "salsa" and report["bpm"] == 110.0
    assert report["generated_frames"] == 90
    assert {"generate_s", "retarget_bake_s", "total_s"} <= set(report["timings"])
    clip = load_bvh_clip(out / "demo.bvh")
    assert clip.n_frames == 90 and clip.skeleton.n_joints == 24
    # the .blend opens on the dance: baked action assigned, frame range = the dance
    bpy.ops.wm.open_mainfile(filepath=str(out / "demo.blend"))
    scene = bpy.context.scene
    arm = bpy.data.objects[report["armature"]]
    action = arm.animation_data.action
    assert action is not None and action.name == report["action"] == "Dance salsa s7"
    assert [scene.frame_start, scene.frame_end] == report["frame_range"]
    curves = compat.fcurves_of(action, arm)
    assert any(fc.data_path.endswith("rotation_quaternion") for fc in curves)
    n = report["frame_range"][1] - report["frame_range"][0] + 1
    assert all(len(fc.keyframe_points) == n for fc in curves)
