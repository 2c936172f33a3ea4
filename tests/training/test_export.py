"""ONNX export of the dance network and the shipped default engine, checked with the real runtime.

- A freshly exported network (small config, trained for a few steps on the synthetic dataset):
  onnx.checker, the runtime's loader (contract validation), ONNX Runtime == PyTorch.
- The shipped ``dance_ai_addon/engines/default.onnx``: size, metadata, generation through
  ``core.generation.generate`` without NaN, freezing or drift.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from dance_ai_addon.core.engines import load_engine  # noqa: E402
from dance_ai_addon.core.engines.contract import METADATA_KEY  # noqa: E402
from dance_ai_addon.core.generation import generate  # noqa: E402
from dance_ai_addon.core.style import style_vector  # noqa: E402
from tests.tolerances import ULP_NOISE  # noqa: E402
from tests.training.synthetic import synthetic_dataset  # noqa: E402
from training.export import (  # noqa: E402
    STYLE_SCALE_MAX,
    STYLE_SCALE_RAISE_BELOW,
    build_metadata,
    calibrate_style_noise_scales,
    export_onnx,
    make_wrapper,
    motion_stats,
    parity_check,
)
from training.model import ModelConfig  # noqa: E402
from training.train import TrainConfig, load_training_data, train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "dance_ai_addon" / "engines" / "default.onnx"
SMALL = dict(channels=32, blocks=2, hist_hidden=64, enc_channels=32, latent=8)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(wrapper, path, data) of a small network trained briefly and exported."""
    tmp = tmp_path_factory.mktemp("export")
    data = load_training_data(synthetic_dataset(tmp / "dataset.npz"))
    mcfg = ModelConfig(features=148, style=data.style_size, **SMALL)
    model, _ = train(data, mcfg, TrainConfig(steps=8, epoch_steps=8, batch=8), None, False)
    wrapper = make_wrapper(model, data)
    meta = build_metadata(data, {"steps": 8, "seed": 1234}, 4, mcfg.history, mcfg.window, 8)
    path = export_onnx(wrapper, tmp / "small.onnx", meta)
    return wrapper, path, data


def test_exported_graph_passes_onnx_checker(exported):
    _, path, _ = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    names = [i.name for i in proto.graph.input]
    assert names == ["history", "style", "noise", "beat"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 12, 148]
    # only operators that ONNX Runtime and TensorRT 10 both build
    allowed = {
        "Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Sigmoid", "Exp", "Clip", "Sqrt",
        "ReduceSum", "Min", "Max", "Cast",
        "Concat", "Slice", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Gather", "Split",
        "Constant", "Shape", "Expand",
    }  # fmt: skip
    assert {n.op_type for n in proto.graph.node} <= allowed
    meta = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    assert meta["contract_version"] == "1.0" and meta["features"]["layout"] == "root_heading_v1"


def test_exported_graph_validates_with_the_runtime_loader(exported):
    _, path, data = exported
    with load_engine(path, "cpu", threads=1) as engine:
        meta = engine.metadata
        assert (meta.history, meta.window, meta.feature_size, meta.noise_size) == (12, 24, 148, 8)
        assert meta.style_names[:3] == ["salsa", "modern", "groove"]
        assert meta.beat_input and meta.initial_history.shape == (12, 148)
        for name in ("salsa", "modern", "groove", "salsa_modern"):
            assert name in meta.style_presets
        # a pure-style preset is that style's one-hot plus its mean descriptors
        salsa = meta.style_presets["salsa"]
        np.testing.assert_allclose(salsa[:3], [1, 0, 0])
        mask = data.frame_split & (data.frame_style == 0)
        np.testing.assert_allclose(salsa[3:], data.descriptors[mask].mean(0), atol=1e-3)


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_matches_pytorch(exported, batch):
    wrapper, path, _ = exported
    assert parity_check(wrapper, path, batch=batch) <= 1e-4


def test_runtime_engine_runs_the_exported_graph_like_pytorch(exported):
    """Through the runtime's bound-buffer Engine.run_window, not just a bare session."""
    wrapper, path, data = exported
    rng = np.random.default_rng(3)
    hist = data.features[100:112][None].astype(np.float32)
    style = np.array([[0.2, 0.5, 0.3, 0.4, 0.5, 0.6]], dtype=np.float32)
    noise = rng.standard_normal((1, 24, 8)).astype(np.float32)
    beat = rng.standard_normal((1, 24, 2)).astype(np.float32)
    with load_engine(path, "cpu", threads=1) as engine:
        got = engine.run_window(hist, style, noise, beat)["motion"].copy()
    with torch.no_grad():
        ref = wrapper(*(torch.from_numpy(a) for a in (hist, style, noise, beat))).numpy()
    assert np.max(np.abs(got - ref)) <= 1e-4


# ------------------------------------------------------------------------- the shipped engine


def test_style_noise_scales_raise_only_slow_styles_and_only_as_far_as_needed(exported):
    """The per-style calibration on a real exported network: every style is measured at the
    shared scale; only one below the speed floor is measured further, and it stops at the first
    scale that reaches the floor (or the cap), which is the one it recommends."""
    _, path, data = exported
    shared = 1.0
    scales, table = calibrate_style_noise_scales(path, data, shared, seconds=2.0)
    assert set(table) == set(data.style_names)
    for name, rows in table.items():
        tried = [float(k) for k in rows]
        assert tried[0] == shared and tried == sorted(tried)
        assert tried[-1] <= STYLE_SCALE_MAX * shared + 1e-9
        ratios = [rows[k]["speed_ratio"] for k in rows]
        assert all(r < STYLE_SCALE_RAISE_BELOW for r in ratios[:-1])  # went on only while slow
        if len(tried) == 1:
            assert name not in scales
        else:
            assert scales[name] == tried[-1] > shared


def test_default_engine_is_shipped_small_and_valid():
    assert DEFAULT.exists(), "run `make train` to produce dance_ai_addon/engines/default.onnx"
    assert DEFAULT.stat().st_size < 15 * 1024 * 1024
    with load_engine(DEFAULT, "cpu", threads=1) as engine:
        meta = engine.metadata
        assert meta.name == "default" and meta.contract_version == "1.0"
        assert meta.skeleton_name == "SMPL-24" and meta.fps == 30
        assert {"salsa", "modern", "groove"} <= set(meta.style_presets)
        assert meta.style_normalise == "categories_sum_to_one"
        assert meta.initial_history is not None
    card = DEFAULT.with_suffix(".md").read_text()
    assert "mocap.cs.cmu.edu" in card and "NSF EIA-0196217" in card
    assert "AnimatedDrawings" in card


@pytest.mark.parametrize("style", ["salsa", "modern", "groove"])
def test_default_engine_dances_without_nan_freeze_or_drift(style):
    """10 s per style: finite, moving every second, pelvis at a human height, feet on the floor."""
    with load_engine(DEFAULT, "cpu", threads=1) as engine:
        meta = engine.metadata
        res = generate(engine, frames=300, style=style_vector(meta, {style: 1.0}), seed=5)
    stats = motion_stats(res.features, meta.fps)
    assert not stats["nan"]
    assert stats["angular_speed_min_second"] > 0.1  # rad/s: never frozen
    assert 0.5 < stats["root_height_min"] and stats["root_height_max"] < 1.3
    assert stats["floor_penetration"] < 0.15


def test_default_engine_long_generation_stays_finite_and_alive():
    """90 s (over 130 windows fed back as history): no NaN, no freeze, no drift of the pelvis."""
    with load_engine(DEFAULT, "cpu", threads=1) as engine:
        meta = engine.metadata
        res = generate(engine, frames=2700, style=style_vector(meta, {"salsa": 1.0}), seed=11)
    stats = motion_stats(res.features, meta.fps)
    assert not stats["nan"]
    assert stats["angular_speed_min_second"] > 0.1
    assert 0.5 < stats["root_height_min"] and stats["root_height_max"] < 1.3


def test_default_engine_seeds_give_different_dances():
    with load_engine(DEFAULT, "cpu", threads=1) as engine:
        s = style_vector(engine.metadata, {"salsa": 1.0})
        a = generate(engine, frames=120, style=s, seed=1).features
        b = generate(engine, frames=120, style=s, seed=2).features
        a2 = generate(engine, frames=120, style=s, seed=1).features
    np.testing.assert_allclose(a, a2, rtol=0, atol=ULP_NOISE)
    assert np.abs(a[60:] - b[60:]).mean() > 1e-2


def test_make_train_recipe_is_the_one_the_shipped_engine_was_built_with():
    """`make train` (the default recipe) must reproduce the shipped engine, not an older one."""
    from training.train import RECIPES, SHIPPED_RECIPE

    with load_engine(DEFAULT, "cpu", threads=1) as engine:
        meta = engine.metadata.raw
    recipe = RECIPES[SHIPPED_RECIPE]
    assert meta["training"]["recipe"] == SHIPPED_RECIPE
    assert meta["recommended"]["guidance"] == recipe.get("guidance", 1.0)
    assert meta["training"]["model"]["temporal"] == recipe.get("model", {}).get("temporal", False)
    assert bool(meta.get("seed_histories")) == recipe.get("seed_motion", False)
