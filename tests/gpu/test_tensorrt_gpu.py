"""GPU: build a TensorRT engine from the bundled ONNX (or a test engine), run it natively and in
ONNX Runtime on the same inputs, check they agree within FP16 tolerance, print latency per window.

Skips with the reason (from core.engines.detect) when no GPU, tensorrt or pycuda is present.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.engines.detect import backend_availability
from dance_ai_addon.core.engines.registry import bundled_engines_dir
from tools import make_test_engine  # noqa: E402  (repo root is on pytest's path)

pytestmark = pytest.mark.gpu
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def availability():
    return backend_availability()


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory) -> Path:
    bundled = bundled_engines_dir() / "default.onnx"
    if bundled.is_file():
        return bundled
    return make_test_engine.make_big_test_engine(tmp_path_factory.mktemp("gpu") / "big.onnx")


def _inputs(meta, rng):
    h = rng.standard_normal((1, meta.history, meta.feature_size)) * 0.1 if meta.history else None
    s = np.full((1, meta.style_size), 1.0 / meta.style_size)
    n = rng.standard_normal((1, meta.window, meta.noise_size))
    b = rng.standard_normal((1, meta.window, 2)) if meta.beat_input else None
    return h, s, n, b


def _latency_ms(engine, inputs, runs: int = 200) -> float:
    for _ in range(20):
        engine.run_window(*inputs)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.run_window(*inputs)
        times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)


def test_native_tensorrt_matches_onnxruntime(availability, onnx_path, tmp_path):
    usable, reason = availability["tensorrt_native"]
    if not usable:
        pytest.skip(reason)
    from dance_ai_addon.core.engines.tensorrt_backend import build_engine, read_sidecar

    plan = build_engine(onnx_path, tmp_path / "engine.plan", fp16=True,
                        timing_cache=tmp_path / "timing.cache")  # fmt: skip
    meta, info = read_sidecar(plan)
    assert (tmp_path / "timing.cache").is_file() and info["engine_sha256"]
    trt_engine = load_engine(plan, backend="tensorrt")
    ref_backend = "cuda" if availability["cuda"][0] else "cpu"
    ort_engine = load_engine(onnx_path, backend=ref_backend)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(5):
        inputs = _inputs(meta, rng)
        a = trt_engine.run_window(*inputs)
        b = ort_engine.run_window(*inputs)
        for name in b:
            np.testing.assert_allclose(a[name], b[name], atol=5e-2, rtol=5e-2)
            worst = max(worst, float(np.abs(a[name] - b[name]).max()))
    inputs = _inputs(meta, rng)
    trt_ms = _latency_ms(trt_engine, inputs)
    ort_ms = _latency_ms(ort_engine, inputs)
    print(
        f"\nTensorRT FP16 {trt_ms:.3f} ms/window; ORT {ort_engine.provider} {ort_ms:.3f} "
        f"ms/window; max |diff| {worst:.4f} ({onnx_path.name}, window {meta.window})"
    )
    trt_engine.close()
    ort_engine.close()
    trt_engine.close()  # closing twice is safe


def test_onnxruntime_gpu_providers_really_run_on_the_gpu(availability, onnx_path):
    for backend in ("cuda", "tensorrt"):
        usable, reason = availability[backend]
        if not usable:
            continue
        eng = load_engine(onnx_path, backend=backend)
        assert eng.provider != "CPUExecutionProvider"
        rng = np.random.default_rng(1)
        ms = _latency_ms(eng, _inputs(eng.metadata, rng), runs=100)
        print(f"\nORT {eng.provider}: {ms:.3f} ms/window")
        eng.close()
    if not (availability["cuda"][0] or availability["tensorrt"][0]):
        pytest.skip(availability["cuda"][1])
