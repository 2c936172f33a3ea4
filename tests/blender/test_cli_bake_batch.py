"""``bake`` and ``batch`` subcommands end to end, in subprocesses; results checked in bpy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from dance_ai_addon.blender import compat  # noqa: E402
from dance_ai_addon.core.engines.contract import ARKIT_52  # noqa: E402
from tools import make_test_engine  # noqa: E402  (repo root is on pytest's path)

pytestmark = pytest.mark.bpy

REPO = Path(__file__).resolve().parents[2]
MIXAMO = REPO / "sample_rigs" / "mixamo_tpose.blend"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "dance_ai_addon", *args],
        cwd=str(cwd or REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Engines, a rig .blend with an ARKit face mesh, and a generated NPZ with face curves."""
    if not MIXAMO.is_file():
        pytest.skip(f"sample rig missing: {MIXAMO}")
    d = tmp_path_factory.mktemp("cli_bake")
    mte = make_test_engine
    mte.make_test_engine(d / "engines" / "face.onnx", blendshapes=True)
    mte.make_test_engine(d / "engines" / "plain.onnx")
    bpy.ops.wm.open_mainfile(filepath=str(MIXAMO))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    face = bpy.data.objects.new("Face", mesh)
    scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    for n in ARKIT_52:
        if n != "tongueOut":
            face.shape_key_add(name=n)
    (d / "rigs").mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(d / "rigs" / "rig.blend"))
    proc = _cli(
        "generate", "--engine", str(d / "engines" / "face.onnx"), "--backend", "cpu",
        "--frames", "45", "--seed", "4", "--out", str(d / "motion.npz"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return d


def _curves_by_path(action, idb) -> dict[tuple[str, int], np.ndarray]:
    out = {}
    for fc in compat.fcurves_of(action, idb):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co.reshape(-1, 2)
    return out


def test_bake_cli_writes_a_new_blend_with_body_and_face(work):
    out = work / "out" / "baked.blend"
    report = work / "out" / "bake.json"
    proc = _cli(
        "bake", "--blend", str(work / "rigs" / "rig.blend"), "--motion",
        str(work / "motion.npz"), "--mesh", "Face", "--in-place", "--out", str(out),
        "--report", str(report),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "tongueOut" in proc.stderr  # the missing shape key is reported by name
    rep = json.loads(report.read_text())
    assert rep["frames"] == 45 and rep["face"]["missing"] == ["tongueOut"]
    assert set(rep["timings"]) >= {"load_motion_s", "open_blend_s", "bake_s", "save_s"}

    bpy.ops.wm.open_mainfile(filepath=str(out))
    scene = bpy.context.scene
    arm = bpy.data.objects["mixamo_tpose"]
    action = arm.animation_data.action
    assert action.name == rep["action"]
    assert (scene.frame_start, scene.frame_end) == (rep["frame_start"], rep["frame_end"])
    curves = _curves_by_path(action, arm)
    quat = [k for k in curves if k[0].endswith("rotation_quaternion")]
    assert len(quat) >= 60 and all(len(curves[k]) == 45 for k in quat)
    key = bpy.data.objects["Face"].data.shape_keys
    face_curves = _curves_by_path(key.animation_data.action, key)
    assert len(face_curves) == 51
    # the face values baked are the NPZ's weights, frame for frame
    data = np.load(work / "motion.npz", allow_pickle=False)
    names = [str(n) for n in data["blendshape_names"]]
    jaw = face_curves[('key_blocks["jawOpen"].value', 0)]
    np.testing.assert_allclose(jaw[:, 1], data["blendshape_weights"][:, names.index("jawOpen")],
                               atol=1e-6)  # fmt: skip
    # the input file is untouched
    bpy.ops.wm.open_mainfile(filepath=str(work / "rigs" / "rig.blend"))
    assert bpy.data.objects["mixamo_tpose"].animation_data is None


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--armature", "Nope"], "object 'Nope' does not exist"),
        (["--mesh", "mixamo_tpose_body"], "has no shape keys"),
        (["--smooth", "3"], "--smooth must be between 0 and 1"),
    ],
)
def test_bake_cli_errors_exit_2_with_one_line(work, extra, message):
    out = work / "bad.blend"
    proc = _cli(
        "bake", "--blend", str(work / "rigs" / "rig.blend"), "--motion",
        str(work / "motion.npz"), "--out", str(out), *extra,
    )  # fmt: skip
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_bake_cli_rejects_bad_motion_and_overwriting_the_input(work):
    bad = work / "bad.npz"
    np.savez(bad, rotations=np.zeros((3, 2, 4)))
    proc = _cli("bake", "--blend", str(work / "rigs" / "rig.blend"), "--motion", str(bad),
                "--out", str(work / "x.blend"))  # fmt: skip
    assert proc.returncode == 2 and "not a Dance AI motion NPZ" in proc.stderr
    proc = _cli("bake", "--blend", str(work / "rigs" / "rig.blend"), "--motion",
                str(work / "motion.npz"), "--out", str(work / "rigs" / "rig.blend"))  # fmt: skip
    assert proc.returncode == 2 and "never overwritten" in proc.stderr


def _job_file(work: Path, jobs: list[dict], name: str = "jobs.json") -> Path:
    path = work / name
    data = {"version": 1, "defaults": {"engine": "engines/plain.onnx", "backend": "cpu",
                                       "seconds": 1.0, "bpm": 100}, "jobs": jobs}  # fmt: skip
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_batch_runs_jobs_reports_each_and_fails_if_any_failed(work):
    jobs = [
        {"name": "rig", "blend": "rigs/rig.blend", "style": "salsa", "seed": 1,
         "out_blend": "batch/rig.blend", "out_bvh": "batch/rig.bvh"},
        {"name": "broken", "blend": "rigs/rig.blend", "armature": "Ghost",
         "out_blend": "batch/broken.blend"},
        {"name": "genonly", "style": {"modern": 1.0}, "frames": 20, "out_npz": "batch/g.npz"},
    ]  # fmt: skip
    path = _job_file(work, jobs)
    report = work / "batch" / "report.json"
    proc = _cli("batch", str(path), "--report", str(report), "--keep-going", cwd=work.parent)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "object 'Ghost' does not exist" in proc.stderr
    rep = json.loads(report.read_text())
    assert [j["status"] for j in rep["jobs"]] == ["ok", "failed", "ok"]
    assert (rep["ok"], rep["failed"]) == (2, 1)
    first = rep["jobs"][0]
    assert first["frames"] == 30 and first["provider"] == "CPUExecutionProvider"
    assert first["out_blend"] == str((work / "batch" / "rig.blend").resolve())
    assert (work / "batch" / "rig.bvh").is_file() and (work / "batch" / "g.npz").is_file()
    assert not (work / "batch" / "broken.blend").exists()
    assert np.load(work / "batch" / "g.npz", allow_pickle=False)["rotations"].shape[0] == 20
    bpy.ops.wm.open_mainfile(filepath=first["out_blend"])
    arm = bpy.data.objects["mixamo_tpose"]
    assert arm.animation_data.action.name == first["action"]
    assert bpy.context.scene.frame_end == first["frame_end"]

    # without --keep-going the job after a failure is skipped
    path = _job_file(work, [jobs[1], jobs[2]], "stop.json")
    proc = _cli("batch", str(path), "--report", str(report))
    assert proc.returncode == 1
    assert [j["status"] for j in json.loads(report.read_text())["jobs"]] == ["failed", "skipped"]


def test_batch_invalid_file_exits_2_and_runs_nothing(work):
    path = _job_file(work, [{"name": "x", "out_bvh": "never.bvh", "temp0": 1}], "bad.json")
    proc = _cli("batch", str(path))
    assert proc.returncode == 2
    assert "unknown key 'temp0'" in proc.stderr and "job 1 ('x')" in proc.stderr
    assert not (work / "never.bvh").exists()
