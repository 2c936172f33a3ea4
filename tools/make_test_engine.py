"""Build small ONNX graphs that follow the Dance AI engine contract (for tests and benches).

The graph is a fixed-weight random network, not a trained model, built with the ``onnx`` helper
API so tests need no committed binaries. Every input matters to the output: ``history`` (last
frame and mean), ``style``, ``noise`` (smoothed over the window, so frames inside a window move
smoothly) and ``beat``. Options give an H = 0 variant, an ARKit-52 ``blendshapes`` output, a
NaN-emitting variant and a ~1.4M-parameter "big" variant the size of a real default engine.

Usage: ``python tools/make_test_engine.py OUT.onnx [--big] [--history 0] [--blendshapes]``
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from dance_ai_addon.core.engines.contract import ARKIT_52, CONTRACT_VERSION  # noqa: E402
from dance_ai_addon.core.engines.features import rest_features  # noqa: E402
from dance_ai_addon.core.skeleton import smpl24_skeleton  # noqa: E402

OPSET = 17
STYLE_AXES = [
    {"name": "salsa", "kind": "category", "default": 0.0, "min": 0.0, "max": 1.0},
    {"name": "modern", "kind": "category", "default": 0.0, "min": 0.0, "max": 1.0},
    {"name": "hiphop", "kind": "category", "default": 0.0, "min": 0.0, "max": 1.0},
    {"name": "energy", "kind": "descriptor", "default": 0.5, "min": 0.0, "max": 1.0},
]
PRESETS = {
    "salsa": [1.0, 0.0, 0.0, 0.6],
    "modern": [0.0, 1.0, 0.0, 0.4],
    "hiphop": [0.0, 0.0, 1.0, 0.8],
    "calm": [0.3, 0.6, 0.1, 0.1],
}


def test_metadata(
    history: int = 8,
    window: int = 16,
    noise: int = 8,
    beat: bool = True,
    blendshapes: bool = False,
    name: str = "test-engine",
) -> dict:
    """Contract metadata for a test engine on SMPL-24."""
    skel = smpl24_skeleton()
    meta: dict[str, Any] = {
        "contract_version": CONTRACT_VERSION,
        "name": name,
        "version": "0.1",
        "description": "contract-shaped test engine with fixed random weights (not trained)",
        "license": "CC0-1.0",
        "fps": 30,
        "history": history,
        "window": window,
        "features": {
            "layout": "root_heading_v1",
            "size": 4 + 6 * len(skel.names),
            "rotation": "6d",
            "root": ["root_height", "vel_x", "vel_z", "yaw_rate"],
        },
        "skeleton": {"name": "SMPL-24"},
        "style": {
            "axes": copy.deepcopy(STYLE_AXES),
            "presets": copy.deepcopy(PRESETS),
            "normalise": "categories_sum_to_one",
        },
        "noise": {"size": noise},
        "beat": {"input": bool(beat), "default_bpm": 120},
        "recommended": {"overlap": min(4, window - 1), "noise_scale": 1.0},
    }
    if blendshapes:
        meta["blendshapes"] = {"names": list(ARKIT_52), "standard": "ARKit-52"}
    return meta


def build_model(
    history: int = 8,
    window: int = 16,
    noise: int = 8,
    hidden: int = 64,
    layers: int = 0,
    beat: bool = True,
    blendshapes: bool = False,
    emit_nan: bool = False,
    dynamic_batch: bool = True,
    seed: int = 0,
    metadata: dict | None = None,
    name: str = "test-engine",
) -> onnx.ModelProto:
    """The ONNX model (in memory); ``metadata`` replaces the generated metadata dict."""
    rng = np.random.default_rng(seed)
    meta = metadata or test_metadata(history, window, noise, beat, blendshapes, name)
    skel = smpl24_skeleton()
    n_feat = 4 + 6 * len(skel.names)
    n_style = len(STYLE_AXES)
    batch: Any = "batch" if dynamic_batch else 1
    H, W, Z, D = history, window, noise, hidden

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(nm: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), nm))
        return nm

    def iconst(nm: str, arr) -> str:
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.int64), nm))
        return nm

    def node(op: str, ins: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def weight(nm: str, fan_in: int, fan_out: int, gain: float = 1.0) -> str:
        return const(nm, rng.standard_normal((fan_in, fan_out)) * gain / np.sqrt(fan_in))

    rest = rest_features(skel, 1).astype(np.float32)  # (1, F)
    const("rest", rest[None])  # (1, 1, F)
    # per-channel output scale: small root motion, visible joint rotations
    scale = np.full(n_feat, 0.25, dtype=np.float32)
    scale[:4] = [0.03, 0.01, 0.02, 0.01]
    const("scale", scale)

    inputs = []
    if H > 0:
        inputs.append(
            helper.make_tensor_value_info("history", TensorProto.FLOAT, [batch, H, n_feat])
        )
    inputs.append(helper.make_tensor_value_info("style", TensorProto.FLOAT, [batch, n_style]))
    inputs.append(helper.make_tensor_value_info("noise", TensorProto.FLOAT, [batch, W, Z]))
    if beat:
        inputs.append(helper.make_tensor_value_info("beat", TensorProto.FLOAT, [batch, W, 2]))

    ctx = node("MatMul", ["style", weight("w_style", n_style, D, 2.0)], "ctx_style")
    if H > 0:
        last = node(
            "Slice",
            ["history", iconst("sl_start", [H - 1]), iconst("sl_end", [H]), iconst("sl_ax", [1])],
            "h_last",
        )
        mean = node("ReduceMean", ["history"], "h_mean", axes=[1], keepdims=0)
        mean_dev = node("Sub", [mean, const("rest_row", rest)], "h_mean_dev")
        ctx_h = node("MatMul", [mean_dev, weight("w_hist", n_feat, D, 4.0)], "ctx_hist")
        ctx = node("Add", [ctx, ctx_h], "ctx_sum")
        dev = node("Sub", [last, "rest"], "h_dev")  # (B, 1, F)
        decay = (0.85 ** np.arange(1, W + 1, dtype=np.float32)).reshape(1, W, 1)
        carried = node("Mul", [dev, const("decay", decay)], "carried")  # (B, W, F)
    ctx = node("Add", [ctx, const("b_ctx", rng.standard_normal(D) * 0.1)], "ctx_b")
    ctx3 = node("Unsqueeze", [ctx, iconst("unsq_ax", [1])], "ctx3")  # (B, 1, D)

    t = np.arange(W, dtype=np.float64)
    kern = np.exp(-0.5 * ((t[:, None] - t[None, :]) / max(1.0, W / 4.0)) ** 2)
    kern /= np.sqrt((kern**2).sum(axis=1, keepdims=True))  # unit-variance smoothed noise
    nz = node("MatMul", [const("smooth", kern), "noise"], "noise_smooth")  # (B, W, Z)
    pre = node("MatMul", [nz, weight("w_noise", Z, D, 1.0)], "pre_noise")
    if beat:
        pb = node("MatMul", ["beat", weight("w_beat", 2, D, 1.5)], "pre_beat")
        pre = node("Add", [pre, pb], "pre_nb")
    pre = node("Add", [pre, ctx3], "pre")
    h = node("Tanh", [pre], "h0")
    for i in range(layers):
        lin = node("MatMul", [h, weight(f"w_l{i}", D, D, 1.0)], f"lin{i}")
        lin = node("Add", [lin, const(f"b_l{i}", np.zeros(D))], f"linb{i}")
        h = node("Tanh", [lin], f"h{i + 1}")
    delta = node("MatMul", [h, weight("w_out", D, n_feat, 1.0)], "delta_raw")
    delta = node("Mul", [delta, "scale"], "delta")
    motion = node("Add", ["rest", delta], "motion_base")
    if H > 0:
        motion = node("Add", [motion, carried], "motion_carried")
    if emit_nan:
        # sqrt(-(|x| + 1)) is NaN for every element: a broken engine at run time
        neg = node(
            "Neg",
            [node("Add", [node("Abs", [motion], "nan_abs"), const("one", 1.0)], "nan_p1")],
            "nan_neg",
        )
        motion = node("Add", [motion, node("Sqrt", [neg], "nan_sqrt")], "motion_nan")
    nodes.append(helper.make_node("Identity", [motion], ["motion"], name="motion_out"))
    outputs = [helper.make_tensor_value_info("motion", TensorProto.FLOAT, [batch, W, n_feat])]
    if blendshapes:
        k = len(ARKIT_52)
        bs = node("MatMul", [h, weight("w_bs", D, k, 2.0)], "bs_lin")
        nodes.append(helper.make_node("Sigmoid", [bs], ["blendshapes"], name="bs_out"))
        outputs.append(
            helper.make_tensor_value_info("blendshapes", TensorProto.FLOAT, [batch, W, k])
        )

    graph = helper.make_graph(nodes, "dance_ai_test_engine", inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_test_engine"
    )
    model.ir_version = 8
    set_metadata(model, meta)
    onnx.checker.check_model(model)
    return model


def set_metadata(model: onnx.ModelProto, meta: dict | str) -> None:
    """Store ``meta`` (dict -> JSON, or a raw string) under metadata_props['dance_ai']."""
    text = meta if isinstance(meta, str) else json.dumps(meta)
    for prop in model.metadata_props:
        if prop.key == "dance_ai":
            prop.value = text
            return
    helper.set_model_props(model, {"dance_ai": text})


def make_test_engine(path: str | Path, **kwargs) -> Path:
    """Build and save a test engine; returns its path. Keyword arguments as :func:`build_model`."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_model(**kwargs), str(p))
    return p


def make_big_test_engine(path: str | Path, **kwargs) -> Path:
    """A ~1.4M-parameter (~5.7 MB) engine, the size of a real default engine, for benches."""
    opts = dict(history=16, window=32, noise=32, hidden=768, layers=2, name="test-engine-big")
    opts.update(kwargs)
    return make_test_engine(path, **opts)


def count_parameters(path: str | Path) -> int:
    model = onnx.load(str(path))
    return int(sum(np.prod(t.dims) for t in model.graph.initializer))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--big", action="store_true", help="~1.4M parameters (bench size)")
    ap.add_argument("--history", type=int, default=None)
    ap.add_argument("--window", type=int, default=None)
    ap.add_argument("--no-beat", action="store_true")
    ap.add_argument("--blendshapes", action="store_true")
    ap.add_argument("--nan", action="store_true", help="emit NaN (to test refusal to bake)")
    args = ap.parse_args(argv)
    opts: dict[str, Any] = {
        "beat": not args.no_beat,
        "blendshapes": args.blendshapes,
        "emit_nan": args.nan,
    }
    if args.history is not None:
        opts["history"] = args.history
    if args.window is not None:
        opts["window"] = args.window
    path = (
        make_big_test_engine(args.out, **opts) if args.big else make_test_engine(args.out, **opts)
    )
    print(f"wrote {path} ({count_parameters(path):,} parameters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
