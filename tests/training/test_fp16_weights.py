"""Float16 weight storage: half the file, same contract, outputs within float16 rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from dance_ai_addon.core.engines import load_engine  # noqa: E402
from dance_ai_addon.core.engines.onnx_backend import read_onnx_metadata  # noqa: E402
from tools import make_test_engine  # noqa: E402  (repo root is on pytest's path)
from training.fp16_weights import convert_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _inputs(meta, rng):
    return dict(
        history=rng.normal(size=(meta.history, meta.feature_size)).astype(np.float32),
        style=rng.uniform(size=(len(meta.style_names),)).astype(np.float32),
        noise=rng.normal(size=(meta.window, meta.noise_size)).astype(np.float32),
        beat=rng.uniform(-1, 1, size=(meta.window, 2)).astype(np.float32),
    )


def test_fp16_storage_halves_the_file_and_keeps_outputs(tmp_path: Path) -> None:
    src = make_test_engine.make_big_test_engine(tmp_path / "big.onnx")
    dst = tmp_path / "big_fp16.onnx"
    converted = convert_file(src, dst)
    assert converted > 0
    assert dst.stat().st_size < 0.6 * src.stat().st_size
    # Metadata travels unchanged, and the loader's contract validation accepts the new graph.
    props = {m.key: m.value for m in onnx.load(str(src)).metadata_props}
    assert {m.key: m.value for m in onnx.load(str(dst)).metadata_props} == props
    assert read_onnx_metadata(dst).summary() == read_onnx_metadata(src).summary()
    with load_engine(src, "cpu") as a, load_engine(dst, "cpu") as b:
        feed = _inputs(a.metadata, np.random.default_rng(0))
        out_a = {k: v.copy() for k, v in a.run_window(**feed).items()}
        out_b = b.run_window(**feed)
        for name, ref in out_a.items():
            scale = np.abs(ref).max() + 1e-6
            err = np.abs(out_b[name] - ref).max() / scale
            assert err < 5e-3, f"{name}: relative error {err:.2e} beyond float16 rounding"
            assert err > 0, "weights were not rounded: the conversion did nothing"
