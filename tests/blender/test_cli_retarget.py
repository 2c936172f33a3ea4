"""``python -m dance_ai_addon retarget``: real subprocesses on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

bpy = pytest.importorskip("bpy")

from dance_ai_addon.blender import compat  # noqa: E402

pytestmark = pytest.mark.bpy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SALSA = os.path.join(ROOT, "tests", "data", "cmu_60_01_sl60.bvh")
RIGS = os.path.join(ROOT, "sample_rigs")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "dance_ai_addon", "retarget", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_bakes_and_reports(tmp_path):
    out = tmp_path / "out.blend"
    rep = tmp_path / "report.json"
    src = os.path.join(RIGS, "vrm_apose_rolls.blend")
    proc = _cli("--blend", src, "--armature", "vrm_apose_rolls", "--motion", SALSA,
                "--smooth", "0.3", "--in-place", "--action-name", "Salsa VRM",
                "--out", str(out), "--report", str(rep))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(rep.read_text())
    assert report["mapped"]["L_Elbow"] == "J_Bip_L_LowerArm"
    assert "L_Hand" in report["unmapped"]
    assert report["frames"] > 100 and report["fps"] > 0
    assert report["action"] == "Salsa VRM"
    assert report["timings"]["total"] > 0 and "bake" in report["timings"]
    bpy.ops.wm.open_mainfile(filepath=str(out))
    obj = bpy.data.objects["vrm_apose_rolls"]
    assert obj.animation_data.action.name == "Salsa VRM"
    assert "J_Bip_L_LowerArm" in {
        fc.data_path.split('"')[1] for fc in compat.fcurves_of(obj.animation_data.action, obj)
    }
    # The input file is untouched.
    bpy.ops.wm.open_mainfile(filepath=src)
    assert bpy.data.objects["vrm_apose_rolls"].animation_data is None


def test_cli_nla_and_preset(tmp_path):
    out = tmp_path / "nla.blend"
    proc = _cli("--blend", os.path.join(RIGS, "mixamo_tpose.blend"), "--armature", "mixamo_tpose",
                "--motion", SALSA, "--preset", "mixamo", "--nla", "--no-foot-cleanup",
                "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bpy.ops.wm.open_mainfile(filepath=str(out))
    anim = bpy.data.objects["mixamo_tpose"].animation_data
    assert anim.action is None and len(anim.nla_tracks) == 1
    assert anim.nla_tracks[0].strips[0].action.name.startswith("Dance cmu_60_01")


def test_cli_unknown_armature_lists_armatures(tmp_path):
    proc = _cli("--blend", os.path.join(RIGS, "ue_mannequin.blend"), "--armature", "Nope",
                "--motion", SALSA, "--out", str(tmp_path / "x.blend"))  # fmt: skip
    assert proc.returncode == 2
    assert "'Nope' does not exist" in proc.stderr and "'ue_mannequin'" in proc.stderr
    assert not (tmp_path / "x.blend").exists()


def test_cli_mesh_name_and_zero_frames(tmp_path):
    ue = os.path.join(RIGS, "ue_mannequin.blend")
    proc = _cli("--blend", ue, "--armature", "ue_mannequin_body", "--motion", SALSA,
                "--out", str(tmp_path / "x.blend"))  # fmt: skip
    assert proc.returncode == 2 and "is not an armature" in proc.stderr

    with open(SALSA, encoding="utf-8") as fh:
        text = fh.read()
    empty = tmp_path / "empty.bvh"
    empty.write_text(text[: text.index("MOTION")] + "MOTION\nFrames: 0\nFrame Time: 0.016667\n")
    proc = _cli("--blend", ue, "--armature", "ue_mannequin", "--motion", str(empty),
                "--out", str(tmp_path / "y.blend"))  # fmt: skip
    assert proc.returncode == 2
    assert "frames" in proc.stderr.lower()
    assert not (tmp_path / "y.blend").exists()


def test_cli_bad_smooth_is_a_usage_error(tmp_path):
    proc = _cli("--blend", "a.blend", "--armature", "a", "--motion", SALSA, "--smooth", "3",
                "--out", str(tmp_path / "x.blend"))  # fmt: skip
    assert proc.returncode == 2 and "outside 0..1" in proc.stderr
