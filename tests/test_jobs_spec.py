"""Job-file parsing and validation (pure Python: no bpy, no engine)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dance_ai_addon.core.errors import DanceAIError, JobError
from dance_ai_addon.jobs_spec import (
    DanceJobSpec,
    job_from_dict,
    looks_like_engine_path,
    parse_job_data,
    parse_job_file,
)


def _write(tmp_path: Path, data, name: str = "jobs.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _valid() -> dict:
    return {
        "version": 1,
        "defaults": {"engine": "engines/test.onnx", "seconds": 4, "seed": 3, "backend": "CPU"},
        "jobs": [
            {
                "name": "salsa_rig",
                "style": {"salsa": 0.7, "modern": 0.3},
                "blend": "rigs/in.blend",
                "armature": "Armature",
                "mesh": "Face",
                "out_blend": "out/salsa.blend",
                "out_bvh": "out/salsa.bvh",
                "bpm": 110,
                "in_place": True,
                "smooth": 0.5,
            },
            {"name": "gen_only", "frames": 90, "out_npz": "/abs/gen.npz", "loop": True},
        ],
    }


def test_valid_file_resolves_relative_paths_against_its_folder(tmp_path, monkeypatch):
    sub = tmp_path / "batch"
    sub.mkdir()
    path = _write(sub, _valid())
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    jf = parse_job_file(path)
    assert jf.base_dir == sub.resolve()
    a, b = jf.jobs
    assert a.name == "salsa_rig"
    assert a.engine == os.path.normpath(str(sub.resolve() / "engines/test.onnx"))
    assert a.blend == os.path.normpath(str(sub.resolve() / "rigs/in.blend"))
    assert a.out_blend == os.path.normpath(str(sub.resolve() / "out/salsa.blend"))
    assert a.out_bvh.endswith(os.path.join("out", "salsa.bvh"))
    assert a.style == "salsa=0.7,modern=0.3"
    assert a.backend == "cpu"
    assert a.seconds == 4.0 and a.frames is None and a.seed == 3
    assert a.bpm == 110.0 and a.beat_bpm == 110.0
    assert a.in_place is True and a.foot_cleanup is True and a.smooth == 0.5
    # the job's 'frames' replaces the default 'seconds' instead of conflicting with it
    assert b.frames == 90 and b.seconds is None
    assert b.out_npz == os.path.normpath("/abs/gen.npz")
    assert b.loop is True and b.blend is None
    assert b.frame_count(30.0) == 90
    assert a.frame_count(30.0) == 120


def test_engine_name_is_not_turned_into_a_path(tmp_path):
    jf = parse_job_data(
        {"version": 1, "jobs": [{"engine": "default", "out_bvh": "a.bvh"}]}, tmp_path
    )
    assert jf.jobs[0].engine == "default"
    assert jf.jobs[0].name == "job1"
    assert looks_like_engine_path("x.onnx") and looks_like_engine_path("a/b")
    assert not looks_like_engine_path("salsa_v2")


@pytest.mark.parametrize(
    "job, words",
    [
        ({"out_bvh": "a.bvh", "stlye": "salsa"}, ["unknown key 'stlye'", "job 1"]),
        ({"out_bvh": "a.bvh", "seed": "7"}, ["'seed' must be an integer"]),
        ({"out_bvh": "a.bvh", "seed": 1.5}, ["'seed' must be an integer"]),
        ({"out_bvh": "a.bvh", "loop": 1}, ["'loop' must be true or false"]),
        ({"out_bvh": "a.bvh", "seconds": True}, ["'seconds' must be a finite number"]),
        ({"out_bvh": "a.bvh", "seconds": -1}, ["'seconds' must be > 0"]),
        ({"out_bvh": "a.bvh", "seconds": 2, "frames": 10}, ["either 'seconds' or 'frames'"]),
        ({"out_bvh": "a.bvh", "backend": "gpu"}, ["'backend' must be one of"]),
        ({"out_bvh": "a.bvh", "bpm": 5000}, ["'bpm'"]),
        ({"out_bvh": "a.bvh", "beat_lock": 1.5}, ["'beat_lock' must be between 0 and 1"]),
        ({"out_bvh": "a.bvh", "variety": -0.1}, ["'variety' must be between 0 and 1"]),
        ({"out_bvh": "a.bvh", "style": 3}, ["'style' must be a string"]),
        ({"out_bvh": "a.bvh", "style": {"salsa": -1}}, ["'style.salsa'"]),
        ({"out_bvh": "a.bvh", "style_axes": {"energy": "hi"}}, ["'style_axes.energy'"]),
        ({"out_bvh": "a.mp4"}, ["'out_bvh' must end in .bvh"]),
        ({}, ["writes nothing"]),
        ({"armature": "Rig", "out_bvh": "a.bvh"}, ["'armature' needs 'blend'"]),
        ({"blend": "in.blend"}, ["'blend' needs 'out_blend'"]),
        ({"blend": "in.blend", "out_blend": "in.blend"}, ["must differ from 'blend'"]),
        ("not an object", ["must be an object"]),
    ],
)
def test_bad_jobs_name_the_problem(tmp_path, job, words):
    with pytest.raises(JobError) as info:
        parse_job_data({"version": 1, "jobs": [job]}, tmp_path)
    msg = str(info.value)
    for w in words:
        assert w in msg, msg
    assert isinstance(info.value, DanceAIError)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"version": 1, "jobs": [], "extra": 1}, ["unknown top-level key 'extra'"]),
        ({"version": 2, "jobs": [{"out_bvh": "a.bvh"}]}, ["'version' must be 1"]),
        ({"jobs": [{"out_bvh": "a.bvh"}]}, ["'version' must be 1"]),
        ({"version": 1, "jobs": []}, ["non-empty list"]),
        ({"version": 1, "jobs": {"a": 1}}, ["non-empty list"]),
        ({"version": 1, "defaults": {"colour": 1}, "jobs": [{}]}, ["defaults", "'colour'"]),
        ({"version": 1, "defaults": {"name": "x"}, "jobs": [{}]}, ["cannot set 'name'"]),
        (
            {"version": 1, "jobs": [{"name": "a", "out_bvh": "a.bvh"}] * 2},
            ["'a' is used by an earlier job"],
        ),
        ([1, 2], ["top level must be an object"]),
    ],
)
def test_bad_files_name_the_problem(tmp_path, data, words):
    with pytest.raises(JobError) as info:
        parse_job_data(data, tmp_path)
    for w in words:
        assert w in str(info.value), str(info.value)


def test_file_level_errors(tmp_path):
    with pytest.raises(JobError, match="cannot be read"):
        parse_job_file(tmp_path / "missing.json")
    with pytest.raises(JobError, match=r"broken.json:2:\d+: not valid JSON"):
        parse_job_file(_write(tmp_path, '{"version": 1,\n "jobs": [}', "broken.json"))
    with pytest.raises(JobError, match="'seed' appears twice"):
        parse_job_file(
            _write(tmp_path, '{"version": 1, "jobs": [{"seed": 1, "seed": 2}]}', "dup.json")
        )
    with pytest.raises(JobError, match="NaN"):
        parse_job_file(_write(tmp_path, '{"version": 1, "jobs": [{"bpm": NaN}]}', "nan.json"))


def test_job_file_content_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    path = _write(tmp_path, {"version": 1, "jobs": [{"style": payload, "out_bvh": "a.bvh"}]})
    jf = parse_job_file(path)
    assert jf.jobs[0].style == payload  # kept as an (invalid) style string, never evaluated
    assert not marker.exists()


def test_spec_defaults_and_dict_roundtrip(tmp_path):
    spec = job_from_dict({"out_npz": "x.npz"}, tmp_path)
    assert spec.engine == "default" and spec.backend == "auto" and spec.foot_cleanup
    assert spec.frame_count(30) == 300  # 10 s default
    d = spec.to_dict()
    assert d["out_npz"] == os.path.normpath(str(tmp_path / "x.npz"))
    assert DanceJobSpec(**d) == spec
