"""Native TensorRT backend, host side: binding plan, sidecar, consistency checks, error wording,
and the CPU-machine path (no tensorrt/pycuda/GPU: a clear error offering ONNX CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.engines.contract import TensorInfo, metadata_from_dict
from dance_ai_addon.core.engines.detect import backend_availability, probe_system
from dance_ai_addon.core.engines.tensorrt_backend import (
    binding_plan,
    check_engine_tensors,
    check_runtime_version,
    check_sidecar_matches_file,
    deserialize_error,
    file_sha256,
    read_sidecar,
    sidecar_path,
    tensor_dicts_from_metadata,
    write_sidecar,
)
from dance_ai_addon.core.errors import EngineError


@pytest.fixture
def meta_dict(mte):
    return mte.test_metadata(blendshapes=True)


@pytest.fixture
def engine_file(tmp_path, meta_dict):
    """A stand-in .engine (opaque bytes: its content is only hashed here) with a good sidecar."""
    path = tmp_path / "dance.engine"
    path.write_bytes(b"serialized engine bytes \x00\x01\x02")
    meta = metadata_from_dict(meta_dict, "x")
    info = {
        "tensorrt_version": "10.3.0",
        "device": "NVIDIA H100",
        "compute_capability": "9.0",
        "fp16": True,
        "batch_profile": [1, 1, 1],
        "built_from": "dance.onnx",
        "engine_sha256": file_sha256(path),
        "tensors": tensor_dicts_from_metadata(meta),
    }
    write_sidecar(path, meta_dict, info)
    return path


def test_binding_plan_from_metadata(meta_dict):
    meta = metadata_from_dict(meta_dict, "x")
    plan = binding_plan(meta, batch=1)
    assert [(b.name, b.mode, b.shape) for b in plan] == [
        ("history", "input", (1, 8, 148)),
        ("style", "input", (1, 4)),
        ("noise", "input", (1, 16, 8)),
        ("beat", "input", (1, 16, 2)),
        ("motion", "output", (1, 16, 148)),
        ("blendshapes", "output", (1, 16, 52)),
    ]
    assert plan[0].nbytes == 8 * 148 * 4
    meta_dict["history"] = 0
    meta_dict["beat"]["input"] = False
    names = [b.name for b in binding_plan(metadata_from_dict(meta_dict, "x"))]
    assert names == ["style", "noise", "motion", "blendshapes"]


def test_sidecar_roundtrip(engine_file, meta_dict):
    assert sidecar_path(engine_file).name == "dance.engine.json"
    meta, info = read_sidecar(engine_file)
    assert meta.name == meta_dict["name"] and len(meta.blendshape_names) == 52
    assert info["tensorrt_version"] == "10.3.0"
    check_sidecar_matches_file(engine_file, info)


def test_sidecar_problems(engine_file, tmp_path):
    side = sidecar_path(engine_file)
    data = json.loads(side.read_text())

    side.write_text("{broken")
    with pytest.raises(EngineError, match="dance.engine.json: engine metadata is not valid JSON"):
        read_sidecar(engine_file)

    no_build = dict(data)
    del no_build["tensorrt"]
    side.write_text(json.dumps(no_build))
    with pytest.raises(EngineError, match="no 'tensorrt' build section"):
        read_sidecar(engine_file)

    wrong = json.loads(json.dumps(data))
    wrong["tensorrt"]["tensors"][4]["shape"] = [-1, 16, 100]
    side.write_text(json.dumps(wrong))
    with pytest.raises(EngineError, match="output tensor 'motion' has shape"):
        read_sidecar(engine_file)

    side.unlink()
    with pytest.raises(EngineError, match="sidecar dance.engine.json is missing"):
        read_sidecar(engine_file)

    side.write_text(json.dumps(data))
    engine_file.write_bytes(b"another engine")
    with pytest.raises(EngineError, match="belongs to another engine file"):
        check_sidecar_matches_file(engine_file, data["tensorrt"])


def test_engine_tensors_must_agree_with_sidecar(engine_file):
    meta, info = read_sidecar(engine_file)
    tensors = [
        (t["mode"], TensorInfo(t["name"], tuple(t["shape"]), t["dtype"])) for t in info["tensors"]
    ]
    check_engine_tensors("dance.engine", meta, info, tensors)
    fixed = [(m, TensorInfo(t.name, (1,) + t.shape[1:], t.dtype)) for m, t in tensors]
    with pytest.raises(EngineError, match=r"is float32 \[1, 8, 148\] in the engine but"):
        check_engine_tensors("dance.engine", meta, info, fixed)
    half = [(m, TensorInfo(t.name, t.shape, "float16")) for m, t in tensors]
    with pytest.raises(EngineError, match="type float16"):
        check_engine_tensors("dance.engine", meta, info, half)


def test_version_and_deserialize_messages_say_rebuild(engine_file):
    _, info = read_sidecar(engine_file)
    check_runtime_version("dance.engine", info, "10.3.0")
    with pytest.raises(EngineError, match="rebuild the engine for this GPU/TensorRT"):
        check_runtime_version("dance.engine", info, "10.7.0")
    err = deserialize_error("dance.engine", info, "10.3.0", "RTX 4090 (sm_89)")
    assert "rebuild the engine for this GPU/TensorRT" in str(err)
    assert "NVIDIA H100" in str(err) and "RTX 4090" in str(err)


def test_detect_on_this_machine_names_the_missing_pieces():
    info = probe_system()
    avail = backend_availability(info)
    assert set(avail) == {"cpu", "cuda", "tensorrt", "tensorrt_native"}
    assert avail["cpu"][0] and "onnxruntime" in avail["cpu"][1]
    if info.gpu_count > 0 and info.tensorrt_version and info.pycuda_ok:
        pytest.skip("this machine has a GPU with tensorrt and pycuda")
    usable, reason = avail["tensorrt_native"]
    assert not usable
    assert "ONNX Runtime on the CPU is offered instead" in reason
    if info.tensorrt_version is None:
        assert "tensorrt Python package is not importable" in reason
    if not info.pycuda_ok:
        assert "pycuda" in reason
    if not info.cuda_driver:
        assert "CUDA driver" in reason
    for gpu in ("cuda", "tensorrt"):
        if not avail[gpu][0]:
            assert "ONNX Runtime on the CPU is offered instead" in avail[gpu][1]


def test_detect_reasons_for_a_gpu_listing_onnxruntime_without_a_gpu():
    info = probe_system()
    info.ort_providers = [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    info.cuda_driver, info.gpu_count = False, 0
    info.cuda_driver_detail = "no NVIDIA CUDA driver library (libcuda / nvcuda.dll) found"
    avail = backend_availability(info)
    assert not avail["cuda"][0] and "silently run on the CPU" in avail["cuda"][1]
    assert not avail["tensorrt"][0] and "CUDA driver" in avail["tensorrt"][1]


def test_loading_an_engine_file_without_tensorrt_says_why(engine_file):
    if backend_availability()["tensorrt_native"][0]:
        pytest.skip("TensorRT is usable here; see tests/gpu")
    with pytest.raises(EngineError) as exc:
        load_engine(engine_file)
    assert "ONNX Runtime on the CPU is offered instead" in str(exc.value)
    with pytest.raises(EngineError, match="runs only on the tensorrt backend"):
        load_engine(engine_file, backend="cpu")
    # host checks run first: a stale sidecar is reported even without TensorRT
    engine_file.write_bytes(b"different")
    with pytest.raises(EngineError, match="belongs to another engine file"):
        load_engine(engine_file)
    np.testing.assert_equal(sidecar_path(engine_file).exists(), True)
