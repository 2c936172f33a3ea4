"""Export the trained dance network as a contract-1.0 ONNX engine, check it, write its model card.

``export_engine`` runs the whole chain: ``torch.onnx.export`` (opset 17, fixed H/W/F/S/Z, dynamic
batch) -> the ``dance_ai`` metadata JSON in ``metadata_props`` -> ``onnx.checker`` -> the runtime's
own loader (``core.engines.load_engine``, so the file is validated by exactly the code users run)
-> ONNX Runtime vs PyTorch parity -> a 20-second generation per preset through
``core.generation.generate`` (NaN, frozen-motion and root-height checks) -> the model card.

``python -m training.export`` re-exports saved weights (``build/default_weights.npz``);
``python -m training.export --card`` only rewrites the model card (for instance after
``python -m training.evaluate`` has written ``docs/quality/report.md``).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import torch

from dance_ai_addon.core.engines.contract import CONTRACT_VERSION, METADATA_KEY, ROOT_CHANNELS_V1
from dance_ai_addon.core.engines.features import decode_features
from dance_ai_addon.core.rotations import quat_angle
from dance_ai_addon.core.skeleton import forward_kinematics, smpl24_skeleton
from training.fp16_weights import convert_file
from training.model import DanceCVAE, ExportWrapper

__all__ = [
    "ENGINE_VERSION",
    "build_metadata",
    "export_onnx",
    "parity_check",
    "sanity_check",
    "motion_stats",
    "export_engine",
    "write_model_card",
    "read_train_info",
    "write_train_info",
]

REPO = Path(__file__).resolve().parents[1]
ENGINE_VERSION = "1.2.0"  # 1.2: v31 (half-way style balancing, per-style noise); 1.1 v29; 1.0 v11
OPSET = 17
FP16_PARITY_TOL = 1e-2  # raw feature units; float16 weight rounding alone, not a model change
NOISE_SCALE = 1.0
CARD_PATH = REPO / "dance_ai_addon" / "engines" / "default.md"
DOCS_CARD_PATH = REPO / "docs" / "model-card.md"
REPORT_PATH = REPO / "docs" / "quality" / "report.md"
CMU_CREDIT = (
    "The data used in this project was obtained from mocap.cs.cmu.edu. "
    "The database was created with funding from NSF EIA-0196217."
)
# Named mixes shipped as presets besides the pure styles (weights over the style categories).
MIX_PRESETS = {
    "salsa_modern": {"salsa": 0.5, "modern": 0.5},
    "groove_salsa": {"groove": 0.5, "salsa": 0.5},
}


# -------------------------------------------------------------------------------- metadata


def build_metadata(
    data,
    train_info: dict,
    overlap: int,
    history: int,
    window: int,
    latent: int,
    seed_motion: bool = False,
    noise_use: str | None = None,
):
    """The contract metadata dict for the trained network and its dataset.

    ``seed_motion`` adds ``seed_histories`` and ``seed_descriptors`` (recipe v3).
    """
    n_styles = len(data.style_names)
    train = data.frame_split
    desc_mean = data.descriptors[train].mean(axis=0)
    axes = []
    for i, name in enumerate(data.style_names):
        axes.append(
            {"name": name, "kind": "category", "default": 1.0 if i == 0 else 0.0,
             "min": 0.0, "max": 1.0}
        )  # fmt: skip
    for j, name in enumerate(data.descriptor_names):
        axes.append(
            {"name": name, "kind": "descriptor", "default": round(float(desc_mean[j]), 4),
             "min": 0.0, "max": 1.0}
        )  # fmt: skip
    presets: dict[str, list[float]] = {}
    style_desc = {}
    for i, name in enumerate(data.style_names):
        mask = train & (data.frame_style == i)
        if not mask.any():
            continue
        style_desc[name] = data.descriptors[mask].mean(axis=0)
        onehot = np.eye(n_styles)[i]
        presets[name] = _rounded(np.concatenate([onehot, style_desc[name]]))
    for mix, weights in MIX_PRESETS.items():
        if not all(k in style_desc for k in weights):
            continue
        cat = np.zeros(n_styles)
        desc = np.zeros(len(data.descriptor_names))
        for k, w in weights.items():
            cat[data.style_names.index(k)] = w
            desc += w * style_desc[k]
        presets[mix] = _rounded(np.concatenate([cat, desc / sum(weights.values())]))
    from training.train import initial_history

    train_takes = data.take_split == "train"
    bpm = float(np.median(data.take_bpm[train_takes])) if train_takes.any() else 120.0
    meta = {
        "contract_version": CONTRACT_VERSION,
        "name": "default",
        "version": ENGINE_VERSION,
        "description": (
            "Dance AI default engine: an autoregressive conditional VAE trained on CMU salsa and "
            "modern dance and a small groove set, style-mixable and beat-aware."
        ),
        "license": "GPL-3.0-or-later",
        "authors": "Dance AI contributors",
        "citation": CMU_CREDIT,
        "fps": 30,
        "history": history,
        "window": window,
        "features": {
            "layout": "root_heading_v1",
            "size": int(data.features.shape[1]),
            "rotation": "6d",
            "root": list(ROOT_CHANNELS_V1),
        },
        "skeleton": {"name": "SMPL-24"},
        "style": {"axes": axes, "presets": presets, "normalise": "categories_sum_to_one"},
        "noise": {
            "size": latent,
            "use": noise_use or DanceCVAE.noise_use,
        },
        "descriptor_ranges": {
            n: _rounded(r, 6) for n, r in zip(data.descriptor_names, data.descriptor_ranges)
        },
        "beat": {"input": True, "default_bpm": round(bpm, 1)},
        "recommended": {"overlap": overlap, "noise_scale": NOISE_SCALE},
        "initial_history": [_rounded(r, 6) for r in initial_history(data, history)],
        "training": {
            "steps": train_info.get("steps"),
            "seed": train_info.get("seed"),
            "minutes": train_info.get("minutes"),
            "command": "python -m training.train",
        },
    }
    if seed_motion:
        meta["seed_histories"] = {
            name: [[_rounded(r, 6) for r in h] for h in hists]
            for name, hists in seed_histories(data, history).items()
        }
        meta["seed_descriptors"] = {
            name: [_rounded(d, 4) for d in desc]
            for name, desc in seed_descriptors(data, history).items()
        }
    return meta


SEEDS_PER_STYLE = 24
SEED_MARGIN_S = 1.0  # keep seeds this far from a take's ends (T-pose / settling frames)


def seed_starts(data, history: int, per_style: int = SEEDS_PER_STYLE) -> dict[str, np.ndarray]:
    """First frames of the seed histories per style, from its TRAIN takes only.

    All ``H``-frame runs inside one training take of the style (``SEED_MARGIN_S`` away from the
    take's ends when the take is long enough) are listed in take order and ``per_style`` are taken
    at the evenly spread quantiles ``(k + 0.5) / per_style``, so the picks are fixed, spread over
    the takes and never from a held-out take.
    """
    out: dict[str, np.ndarray] = {}
    if history <= 0:
        return out
    tid = data.take_id
    edges = np.concatenate([[0], np.flatnonzero(np.diff(tid)) + 1, [tid.shape[0]]])
    margin = int(round(SEED_MARGIN_S * 30))
    for i, name in enumerate(data.style_names):
        starts = []
        for a, b in zip(edges[:-1], edges[1:]):
            if not data.frame_split[a] or data.frame_style[a] != i or b - a < history:
                continue
            m = margin if b - a >= history + 2 * margin + 1 else 0
            starts.append(np.arange(a + m, b - history - m + 1))
        if not starts:
            continue
        cand = np.concatenate(starts)
        out[name] = cand[((np.arange(per_style) + 0.5) / per_style * cand.shape[0]).astype(int)]
    return out


def seed_histories(data, history: int, per_style: int = SEEDS_PER_STYLE) -> dict[str, np.ndarray]:
    """Real ``(n, H, F)`` raw feature histories per style at :func:`seed_starts`.

    Generation starts from one of them (picked by the seed), so a clip begins dancing in the
    asked style instead of from one neutral stance.
    """
    return {
        name: np.stack([data.features[p : p + history] for p in starts]).astype(np.float64)
        for name, starts in seed_starts(data, history, per_style).items()
    }


def seed_descriptors(data, history: int, per_style: int = SEEDS_PER_STYLE) -> dict[str, np.ndarray]:
    """The normalised (0..1) descriptors ``(n, D)`` of each seed history's take around it.

    Mean of the per-frame descriptors (centred 2 s windows) over the seed's ``H`` frames; the
    runtime prefers seeds whose descriptors are close to the requested sliders, so a seed does
    not pull a clip away from its slider values.
    """
    return {
        name: np.stack([data.descriptors[p : p + history].mean(axis=0) for p in starts])
        for name, starts in seed_starts(data, history, per_style).items()
    }


def _rounded(a: np.ndarray, digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in np.asarray(a).reshape(-1)]


# ---------------------------------------------------------------------------------- export


def _example_inputs(model: DanceCVAE, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, cfg.history, cfg.features, generator=g) * 0.3,
        torch.rand(batch, cfg.style, generator=g),
        torch.randn(batch, cfg.window, cfg.latent, generator=g),
        torch.randn(batch, cfg.window, 2, generator=g),
    )


#: Margin (fraction of each channel's training range) around the range the graph clamps to.
RANGE_MARGIN = 0.1


def make_wrapper(
    model: DanceCVAE,
    data,
    guidance: float = 1.0,
    clamp_history: bool = False,
    guidance_desc: float | None = None,
) -> ExportWrapper:
    """The exported module: baked normalisation, root channels clamped to the data's range.

    ``guidance`` != 1 bakes classifier-free guidance in (one batched cond + uncond pass);
    ``clamp_history`` also keeps the history the network reads inside the training range
    (every channel, plus :data:`RANGE_MARGIN`), which stops long runs drifting away.
    """
    train = data.features[data.frame_split]
    lo, hi = train.min(axis=0), train.max(axis=0)
    margin = RANGE_MARGIN * (hi - lo)
    lo, hi = lo - margin, hi + margin
    return ExportWrapper(
        model,
        torch.from_numpy(data.mean),
        torch.from_numpy(data.std),
        torch.from_numpy(lo[:4]),
        torch.from_numpy(hi[:4]),
        guidance=guidance,
        hist_lo=torch.from_numpy(lo) if clamp_history else None,
        hist_hi=torch.from_numpy(hi) if clamp_history else None,
        guidance_desc=guidance_desc if model.cfg.style_flags else None,
    )


def export_onnx(wrapper: ExportWrapper, path: Path, metadata: dict) -> Path:
    """``torch.onnx.export`` at opset 17 with a dynamic batch axis, metadata attached, checked."""
    import onnx

    wrapper.eval()
    names_in = ["history", "style", "noise", "beat"]
    dyn = {n: {0: "batch"} for n in names_in + ["motion"]}
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            _example_inputs(wrapper.model, 2),
            buf,
            input_names=names_in,
            output_names=["motion"],
            dynamic_axes=dyn,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name = "dance-ai-training"
    # Declare the output shape exactly (the tracer's symbolic inference can mislabel the feature
    # axis after the in-graph reshapes); the runtime's loader checks it against the metadata.
    cfg = wrapper.model.cfg
    for dim, value in zip(
        proto.graph.output[0].type.tensor_type.shape.dim, ("batch", cfg.window, cfg.features)
    ):
        dim.Clear()
        if isinstance(value, str):
            dim.dim_param = value
        else:
            dim.dim_value = value
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata, separators=(",", ":"))
    onnx.checker.check_model(proto, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def parity_check(wrapper: ExportWrapper, path: Path, batch: int = 3, seed: int = 7) -> float:
    """Max abs difference between ONNX Runtime (CPU) and PyTorch on random realistic inputs."""
    import onnxruntime as ort

    inputs = _example_inputs(wrapper.model, batch, seed)
    # use realistic histories: the baked mean plus noise in normalised units
    hist = wrapper.mean + inputs[0] * wrapper.std
    inputs = (hist,) + inputs[1:]
    with torch.no_grad():
        ref = wrapper(*inputs).numpy()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {n: t.numpy() for n, t in zip(["history", "style", "noise", "beat"], inputs)}
    got = sess.run(["motion"], feed)[0]
    return float(np.max(np.abs(got - ref)))


# ---------------------------------------------------------------------------------- sanity


def motion_stats(features: np.ndarray, fps: float = 30.0) -> dict[str, float]:
    """Numbers that catch broken motion: joint angular speed, root height, foot sliding, jerk."""
    skel = smpl24_skeleton()
    clip = decode_features(features, skel, fps)
    rot = clip.rotations
    ang = quat_angle(rot[:-1], rot[1:]) * fps  # (T-1, J) rad/s
    pos, _ = forward_kinematics(skel, rot, clip.root_positions)
    feet = pos[:, [7, 8, 10, 11]]
    vel = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
    low = feet[1:, :, 1] < (np.percentile(feet[..., 1], 5, axis=0) + 0.05)
    slow = vel < 0.45
    jerk = np.diff(pos, n=3, axis=0) * fps**3
    from training.metrics import bone_angular_speed, foot_skating

    return {
        "foot_skate_cm_s": float(foot_skating(pos, fps)["mean_cm_s"]) if len(pos) > 2 else 0.0,
        # the stability bar's measure: how fast the bones swing in the world, which is what
        # reads as speed (local joint angles also count twists and rotations that cancel)
        "bone_angular_speed": float(bone_angular_speed(pos, fps).mean()) if len(pos) > 1 else 0.0,
        "nan": bool(not np.isfinite(features).all()),
        "angular_speed": float(ang[:, 1:].mean()),
        "angular_speed_min_second": float(
            ang[: (ang.shape[0] // int(fps)) * int(fps), 1:]
            .reshape(-1, int(fps), ang.shape[1] - 1)
            .mean(axis=(1, 2))
            .min()
        )
        if ang.shape[0] >= fps
        else float("nan"),
        "root_height_min": float(clip.root_positions[:, 1].min()),
        "root_height_max": float(clip.root_positions[:, 1].max()),
        "foot_skate": float((vel * (low & slow)).sum() / max(1, (low & slow).sum())),
        "floor_penetration": float(max(0.0, -feet[..., 1].min())),
        "jerk": float(np.mean(np.sum(jerk**2, axis=-1))),
        "travel_m": float(
            np.linalg.norm(np.diff(clip.root_positions[:, [0, 2]], axis=0), axis=-1).sum()
        ),
    }


def real_stats(data, split: str = "heldout") -> dict[str, dict[str, float]]:
    """:func:`motion_stats` of the real takes of ``split`` ("heldout" or "train") per style (all
    takes of the style when that split has none of it)."""
    out = {}
    in_split = data.frame_split if split == "train" else ~data.frame_split
    for i, name in enumerate(data.style_names):
        mask = np.flatnonzero(in_split & (data.frame_style == i))
        if mask.size < 60:
            mask = np.flatnonzero(data.frame_style == i)
        stats = [
            motion_stats(data.features[data.take_id == t].astype(np.float64))
            for t in np.unique(data.take_id[mask])
            if np.sum(data.take_id == t) > 60
        ]
        if stats:
            out[name] = {k: float(np.mean([s[k] for s in stats])) for k in stats[0] if k != "nan"}
    return out


def sanity_check(
    path: Path,
    data=None,
    seconds: float = 20.0,
    seed: int = 0,
    noise_scale: float | None = None,
    foot_cleanup: bool = False,
) -> dict:
    """Generate ``seconds`` per preset with the runtime and compare to the real data's numbers.

    The runtime's foot cleanup is off by default here: these numbers judge the network itself.
    """
    from dance_ai_addon.core.engines import load_engine
    from dance_ai_addon.core.generation import generate
    from dance_ai_addon.core.style import style_vector

    report: dict = {"generated": {}, "real": {}}
    with load_engine(path, "cpu", threads=1) as engine:
        meta = engine.metadata
        frames = int(round(seconds * meta.fps))
        for name in meta.style_presets:
            res = generate(
                engine,
                frames=frames,
                style=style_vector(meta, {name: 1.0}),
                seed=seed,
                noise_scale=noise_scale,
                foot_cleanup=foot_cleanup,
            )
            report["generated"][name] = motion_stats(res.features, meta.fps)
    if data is not None:
        report["real"] = real_stats(data)
    return report


CANDIDATE_SCALES = (0.75, 1.0, 1.5, 2.0, 2.5, 3.0)
SKATE_LIMIT = 1.2  # x the real takes' foot skating (the acceptance bar), runtime cleanup on


def calibrate_noise_scale(path: Path, data, seconds: float = 20.0) -> tuple[float, dict]:
    """The recommended noise scale: the candidate whose motion speed best matches the real data.

    For each candidate the pure-style presets are generated (seeds 0 and 1) as users get them
    (runtime foot cleanup on); the score is the mean |log(generated / real angular speed)| over
    styles, against the training takes. Candidates whose foot skating
    (``training.metrics.foot_skating``, mean over styles) exceeds the training takes' by more than
    20 % (the acceptance bar's margin) are only used when no candidate stays below it: more noise
    moves more, but slides more.
    """
    # the training takes, not the held-out ones: the acceptance numbers are measured against
    # those, so choosing a setting by them would grade the engine on its own tuning set
    real = real_stats(data, "train")
    real_skate = float(np.mean([r["foot_skate_cm_s"] for r in real.values()]))
    rows = {}
    for scale in CANDIDATE_SCALES:
        logs, skates = [], []
        for seed in (0, 1):
            rep = sanity_check(path, None, seconds, seed, scale, foot_cleanup=True)
            for name in data.style_names:
                g, r = rep["generated"].get(name), real.get(name)
                if g is None or r is None:
                    continue
                logs.append(abs(np.log(max(g["angular_speed"], 1e-6) / r["angular_speed"])))
                skates.append(g["foot_skate_cm_s"])
        rows[scale] = {
            "speed_log_error": float(np.mean(logs)),
            "foot_skate_cm_s": float(np.mean(skates)),
            "skate_ok": bool(np.mean(skates) <= SKATE_LIMIT * real_skate),
        }
    ok = [s for s in CANDIDATE_SCALES if rows[s]["skate_ok"]] or list(CANDIDATE_SCALES)
    best = min(ok, key=lambda s: rows[s]["speed_log_error"])
    table = {str(k): v for k, v in rows.items()}
    table["real_foot_skate_cm_s"] = real_skate
    return float(best), table


# A style's own noise scale (recommended.style_noise_scale): only for a style that the shared
# scale leaves well below its real speed (a thin style: the network learnt too little of it to
# move like it), searched in STYLE_SCALE_STEP steps up to STYLE_SCALE_MAX x the shared scale
STYLE_SCALE_RAISE_BELOW = 0.75  # x the style's real bone speed: below it, raise until it is reached
STYLE_SCALE_MAX = 1.5
STYLE_SCALE_STEP = 0.5
# long enough to see past the seed motion and through a variety drift (20 s clips read groove
# at 0.47x where minutes of it move at 0.53x-0.9x), seeds not used by the quality report
STYLE_SCALE_SECONDS = 60.0
STYLE_SCALE_SEEDS = (0, 1)


def calibrate_style_noise_scales(
    path: Path, data, shared: float, seconds: float = STYLE_SCALE_SECONDS
) -> tuple[dict[str, float], dict]:
    """Per style category, a noise scale of its own where the shared one leaves it too slow.

    Each pure-style preset is generated as users get it (60 s, seeds 0 and 1, foot cleanup and
    variety on) and its bone angular speed (the stability bar's measure) compared with the
    style's training takes. A style below :data:`STYLE_SCALE_RAISE_BELOW` of its real speed gets
    the smallest scale above the shared one (in :data:`STYLE_SCALE_STEP` steps, up to
    :data:`STYLE_SCALE_MAX` times it) at which it reaches that fraction: every step of noise adds
    shaking too (more jerk where a slider is pushed), so a style is raised only as far as it
    needs. The others keep the shared scale and get no entry. Scales only go up: a style too
    fast at the shared scale is what the shared calibration weighs.
    """
    from dance_ai_addon.core.engines import load_engine
    from dance_ai_addon.core.generation import generate
    from dance_ai_addon.core.style import style_vector

    real = real_stats(data, "train")
    candidates = np.arange(shared, STYLE_SCALE_MAX * shared + 1e-9, STYLE_SCALE_STEP)
    scales: dict[str, float] = {}
    table: dict = {}
    with load_engine(path, "cpu", threads=1) as engine:
        meta = engine.metadata
        frames = int(round(seconds * meta.fps))

        def measure(name: str, scale: float) -> dict:
            stats = [
                motion_stats(
                    generate(
                        engine,
                        frames=frames,
                        style=style_vector(meta, {name: 1.0}),
                        seed=seed,
                        noise_scale=float(scale),
                    ).features,
                    meta.fps,
                )
                for seed in STYLE_SCALE_SEEDS
            ]
            speed = float(np.mean([s["bone_angular_speed"] for s in stats]))
            return {
                "speed_ratio": speed / real[name]["bone_angular_speed"],
                "foot_skate_cm_s": float(np.mean([s["foot_skate_cm_s"] for s in stats])),
            }

        for name in data.style_names:
            if name not in meta.style_presets or name not in real:
                continue
            rows = {float(shared): measure(name, shared)}
            for c in candidates[1:]:
                if rows[max(rows)]["speed_ratio"] >= STYLE_SCALE_RAISE_BELOW:
                    break
                rows[float(c)] = measure(name, c)
            if max(rows) != float(shared):
                scales[name] = round(max(rows), 3)
            table[name] = {str(round(c, 3)): r for c, r in rows.items()}
    return scales, table


CANDIDATE_GAINS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
GAIN_SLIDERS = (0.1, 0.9)  # the ends of the slider range the gain is measured between
GAIN_SEEDS = (900, 901)  # not the quality report's seeds
GAIN_JERK_LIMIT = 1.25  # x the jerk at gain 1 (or the training takes', if higher)


def calibrate_descriptor_gains(
    path: Path, data, seconds: float = 10.0
) -> tuple[dict[str, float], dict]:
    """Per descriptor axis, the gain (``recommended.descriptor_gain``) that makes the measured
    descriptor follow its slider one to one.

    The network moves a descriptor only part of the way its input asks (slider 0.1 -> 0.9 moves
    the measured energy by 0.1-0.3), so the runtime can stretch each slider's distance from the
    preset (``core.generation.network_style``). For each axis and candidate gain, every pure-style
    preset is generated with that slider at 0.1 and 0.9 (seeds 900 and 901, runtime as users get
    it); the response is the mean measured change (normalised descriptor) over 0.8. The gain
    whose response is nearest 1 (in log) wins among those whose mean squared jerk at the slider
    ends (``motion_stats``) stays within 1.25x the unstretched slider's (or the training takes',
    if higher), so a stretched slider does not buy its range with shaking.
    """
    from dance_ai_addon.core.engines import load_engine
    from dance_ai_addon.core.generation import generate
    from dance_ai_addon.core.style import style_vector
    from training.descriptors import clip_descriptors, normalise_descriptors

    real = real_stats(data, "train")
    real_jerk = float(np.mean([r["jerk"] for r in real.values()]))
    gains: dict[str, float] = {}
    table: dict = {"real_jerk": real_jerk}
    with load_engine(path, "cpu", threads=1) as engine:
        meta = engine.metadata
        names = [meta.style_axes[i].name for i in meta.descriptor_indices]
        ranges = np.array([meta.raw["descriptor_ranges"][n] for n in names], dtype=np.float64)
        styles = [n for n in data.style_names if n in meta.style_presets]
        frames = int(round(seconds * meta.fps))
        for j, axis in enumerate(names):
            rows = {}
            for gain in CANDIDATE_GAINS:
                ends, jerks, skates = {}, [], []
                for v in GAIN_SLIDERS:
                    got = []
                    for name in styles:
                        for seed in GAIN_SEEDS:
                            res = generate(
                                engine,
                                frames=frames,
                                style=style_vector(meta, {name: 1.0}, raw={axis: v}),
                                seed=seed,
                                descriptor_gain={axis: gain},
                            )
                            pos = res.clip.world()[0]
                            got.append(
                                normalise_descriptors(clip_descriptors(pos, meta.fps), ranges)[j]
                            )
                            stats = motion_stats(res.features, meta.fps)
                            jerks.append(stats["jerk"])
                            skates.append(stats["foot_skate_cm_s"])
                    ends[v] = float(np.mean(got))
                response = (ends[GAIN_SLIDERS[1]] - ends[GAIN_SLIDERS[0]]) / (
                    GAIN_SLIDERS[1] - GAIN_SLIDERS[0]
                )
                rows[gain] = {
                    "response": response,
                    "jerk": float(np.mean(jerks)),
                    "foot_skate_cm_s": float(np.mean(skates)),
                }
            jerk_limit = max(real_jerk, GAIN_JERK_LIMIT * rows[1.0]["jerk"])
            for row in rows.values():
                row["jerk_ok"] = bool(row["jerk"] <= jerk_limit)
            ok = [g for g in CANDIDATE_GAINS if rows[g]["jerk_ok"] and rows[g]["response"] > 0]
            best = min(ok, key=lambda g: abs(np.log(rows[g]["response"]))) if ok else 1.0
            gains[axis] = float(best)
            table[axis] = {str(g): r for g, r in rows.items()}
    return gains, table


def set_metadata(path: Path, metadata: dict) -> None:
    """Replace the ``dance_ai`` metadata of an ONNX file (the graph is untouched)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata, separators=(",", ":"))
    onnx.save(proto, str(path))


def check_sanity(report: dict) -> list[str]:
    """Problems found by :func:`sanity_check` (empty when the engine looks healthy)."""
    problems = []
    for name, s in report["generated"].items():
        if s["nan"]:
            problems.append(f"{name}: NaN in generated motion")
        if not s["angular_speed_min_second"] > 0.05:
            speed = s["angular_speed_min_second"]
            problems.append(f"{name}: motion freezes (angular speed {speed} rad/s)")
        if not (0.3 < s["root_height_min"] and s["root_height_max"] < 1.5):
            problems.append(
                f"{name}: root height leaves the human range "
                f"({s['root_height_min']:.2f}..{s['root_height_max']:.2f} m)"
            )
    return problems


# ------------------------------------------------------------------------------------ main


def export_engine(
    model: DanceCVAE,
    data,
    out: Path,
    train_info: dict,
    overlap: int = 4,
    guidance: float = 1.0,
    seed_motion: bool = False,
    clamp_history: bool = False,
    guidance_desc: float | None = None,
    variety: float = 0.0,
) -> Path:
    """Export, validate with the runtime, check parity and sanity, write the model card."""
    from dance_ai_addon.core.engines import load_engine

    cfg = model.cfg
    meta = build_metadata(
        data,
        train_info,
        overlap,
        cfg.history,
        cfg.window,
        cfg.latent,
        seed_motion,
        getattr(model, "noise_use", None),
    )
    meta["recommended"]["guidance"] = float(guidance)
    if variety > 0.0:  # before the calibrations, so they measure what users get
        meta["recommended"]["variety"] = float(variety)
    if cfg.style_flags:
        g_desc = guidance if guidance_desc is None else guidance_desc
        meta["recommended"]["guidance_descriptors"] = float(g_desc)
    meta["training"]["model"] = {"kind": cfg.kind, "temporal": cfg.temporal, "codes": cfg.codes}
    if cfg.root_absolute:
        meta["training"]["model"]["root_absolute"] = True
    if train_info.get("recipe"):
        meta["training"]["recipe"] = train_info["recipe"]
        meta["training"]["command"] = f"python -m training.train --recipe {train_info['recipe']}"
    wrapper = make_wrapper(model, data, guidance, clamp_history, guidance_desc)
    export_onnx(wrapper, out, meta)
    with load_engine(out, "cpu", threads=1) as engine:
        summary = engine.metadata.summary()
    diff = parity_check(wrapper, out)
    if diff > 1e-4:
        raise RuntimeError(f"ONNX Runtime and PyTorch differ by {diff:.2e} (> 1e-4)")
    # Ship the weights as float16 (the zip must stay < 25 MB); I/O and maths stay float32.
    convert_file(out, out)
    diff_fp16 = parity_check(wrapper, out)
    if diff_fp16 > FP16_PARITY_TOL:
        raise RuntimeError(
            f"float16 weights move the output by {diff_fp16:.2e} (> {FP16_PARITY_TOL})"
        )
    meta["training"]["parity_max_abs_diff"] = float(f"{diff:.3g}")
    meta["training"]["parity_fp16_weights_max_abs_diff"] = float(f"{diff_fp16:.3g}")
    calibration, gain_calibration = calibrate(out, data, meta)
    sanity = sanity_check(out, data)
    problems = check_sanity(sanity)
    size_mb = out.stat().st_size / 1e6
    info = dict(train_info)
    info.update(
        {
            "parity_max_abs_diff": diff,
            "parity_fp16_weights_max_abs_diff": diff_fp16,
            "size_mb": round(size_mb, 2),
            "sanity": sanity,
            "engine": summary,
            "noise_scale_calibration": calibration,
            "descriptor_gain_calibration": gain_calibration,
        }
    )
    export_info_path(out).write_text(json.dumps(info, indent=1, default=str))
    print(json.dumps({"parity": diff, "size_mb": size_mb, "problems": problems}), flush=True)
    for name, s in sanity["generated"].items():
        real = sanity["real"].get(name.split("_")[0], {})
        print(
            f"  {name:14s} ang {s['angular_speed']:.2f} (real {real.get('angular_speed', 0):.2f})"
            f" skate {s['foot_skate']:.3f} (real {real.get('foot_skate', 0):.3f})"
            f" jerk {s['jerk']:.0f} (real {real.get('jerk', 0):.0f})"
            f" root {s['root_height_min']:.2f}..{s['root_height_max']:.2f}",
            flush=True,
        )
    if size_mb >= 15.0:
        raise RuntimeError(f"{out} is {size_mb:.1f} MB; the shipped engine must stay under 15 MB")
    write_model_card(meta, data, info, out.with_suffix(".md"))
    if problems:
        raise RuntimeError("engine sanity check failed: " + "; ".join(problems))
    return out


def calibrate(out: Path, data, meta: dict) -> tuple[dict, dict]:
    """Choose the runtime settings the metadata recommends, on the training takes, and write them
    into ``out``: the noise scale, then (with it) the descriptor gains. Returns both tables."""
    scale, calibration = calibrate_noise_scale(out, data)
    meta["recommended"]["noise_scale"] = scale
    meta["recommended"].pop("descriptor_gain", None)
    meta["recommended"].pop("style_noise_scale", None)
    set_metadata(out, meta)
    print(f"noise scale {scale} ({json.dumps(calibration)})", flush=True)
    style_scales, calibration["per_style"] = calibrate_style_noise_scales(out, data, scale)
    if style_scales:
        meta["recommended"]["style_noise_scale"] = style_scales
        set_metadata(out, meta)
    print(f"style noise scales {json.dumps(style_scales)}", flush=True)
    if any(a["kind"] == "descriptor" for a in meta["style"]["axes"]):
        gains, gain_calibration = calibrate_descriptor_gains(out, data)
        meta["recommended"]["descriptor_gain"] = gains
        # the card's numbers, kept with the engine so a fresh checkout can rewrite the card
        meta["training"]["descriptor_response"] = {
            axis: {
                "plain": _response_row(gain_calibration[axis]["1.0"]),
                "calibrated": _response_row(gain_calibration[axis][str(gain)]),
            }
            for axis, gain in gains.items()
        }
        set_metadata(out, meta)
        print(f"descriptor gains {json.dumps(gains)}", flush=True)
    else:
        gain_calibration = {}
    return calibration, gain_calibration


def _response_row(row: dict) -> dict:
    return {
        "response": round(row["response"], 3),
        "jerk": float(f"{row['jerk']:.3g}"),
        "foot_skate_cm_s": round(row["foot_skate_cm_s"], 1),
    }


def _style_noise_section(meta: dict) -> str:
    """The card's lines on per-style noise scales ("" when the engine recommends none)."""
    scales = meta["recommended"].get("style_noise_scale") or {}
    if not scales:
        return ""
    listed = ", ".join(f"{name} {scale:g}" for name, scale in sorted(scales.items()))
    text = (
        f"A style that the shared scale leaves below {STYLE_SCALE_RAISE_BELOW:g} of its real"
        " bone speed (60 s clips) gets the smallest scale, in steps of"
        f" {STYLE_SCALE_STEP:g} up to {STYLE_SCALE_MAX:g}x the shared one, at which it reaches that"
        f" (`recommended.style_noise_scale`: {listed}); mixes blend the scales by their category"
        " weights (`calibrate_style_noise_scales`). The network learnt too little of a thin style"
        " to move like it at the scale that suits the rest."
    )
    return "".join(f"  {line}\n" for line in _wrap(text, 96))


def _gain_section(meta: dict) -> str:
    """The model card's lines on the descriptor gains (empty for engines without them)."""
    gains = meta["recommended"].get("descriptor_gain")
    if not gains:
        return ""
    resp = meta.get("training", {}).get("descriptor_response", {})
    rows = []
    for axis, gain in gains.items():
        r = resp.get(axis, {})
        p, c = r.get("plain", {}), r.get("calibrated", {})
        rows.append(
            f"  | {axis} | {gain:g} | {p.get('response', float('nan')):.2f} | "
            f"{c.get('response', float('nan')):.2f} | {p.get('foot_skate_cm_s', float('nan')):.0f}"
            f" -> {c.get('foot_skate_cm_s', float('nan')):.0f} |"
        )
    cands = ", ".join(f"{g:g}" for g in CANDIDATE_GAINS)
    text = (
        "Descriptor sliders (`recommended.descriptor_gain`): the network moves a descriptor only "
        "part of the way its input asks, so the runtime feeds it `preset + gain * (slider - "
        "preset)` (`core.generation.network_style`; presets reach the network unchanged). Each "
        f"gain is chosen at export among {cands} as the one whose response (the measured change "
        "of the normalised descriptor per unit of slider between 0.1 and 0.9; pure-style "
        f"presets, seeds {GAIN_SEEDS[0]}-{GAIN_SEEDS[-1]}) is nearest 1 while the jerk at the "
        f"slider ends stays within {GAIN_JERK_LIMIT}x the unstretched slider's. Foot skating at "
        "the slider ends (cm/s, runtime cleanup on) rises with the stretch:"
    )
    para = textwrap.fill(text, 98, initial_indent="- ", subsequent_indent="  ")
    return f"""{para}

  | slider | gain | response at gain 1 | response | foot skating at the ends |
  |---|---|---|---|---|
{chr(10).join(rows)}
"""


def recalibrate(out: Path, data) -> None:
    """Re-run :func:`calibrate` on an exported engine (the graph is untouched) and record the
    tables where export keeps its numbers (``export_info_path``)."""
    from dance_ai_addon.core.engines import load_engine

    with load_engine(out, "cpu", threads=1) as engine:
        meta = json.loads(json.dumps(engine.metadata.raw))
    calibration, gain_calibration = calibrate(out, data, meta)
    path = export_info_path(out)
    info = json.loads(path.read_text()) if path.exists() else {}
    info["noise_scale_calibration"] = calibration
    info["descriptor_gain_calibration"] = gain_calibration
    path.write_text(json.dumps(info, indent=1, default=str))


def export_info_path(out: Path) -> Path:
    """Where export writes its numbers: build/ for the shipped engine (nothing extra ships)."""
    if out.resolve().parent == CARD_PATH.resolve().parent:
        (REPO / "build").mkdir(exist_ok=True)
        return REPO / "build" / f"{out.stem}_export.json"
    return out.with_name(f"{out.stem}_export.json")


def write_train_info(weights: Path, info: dict) -> None:
    weights.with_suffix(".json").write_text(json.dumps(info, indent=1, default=str))


def card_info(meta: dict, data, info: dict, out: Path) -> dict:
    """``info`` with what the model card needs filled in from the engine file itself when the
    build folder that export writes to is gone (a fresh checkout): the recipe's training config
    (``meta["training"]["recipe"]``), the file size, the parity recorded in the metadata and a
    fresh sanity run."""
    from training.train import RECIPES, recipe_config

    info = dict(info)
    training = meta.get("training", {})
    recipe = training.get("recipe")
    if "config" not in info and recipe in RECIPES:
        cfg, _, _ = recipe_config(recipe)
        info["config"] = {**cfg.__dict__, "guidance": meta["recommended"].get("guidance", 1.0)}
    info.setdefault("size_mb", round(out.stat().st_size / 1e6, 2))
    for key in ("parity_max_abs_diff", "parity_fp16_weights_max_abs_diff"):
        if key not in info and key in training:
            info[key] = training[key]
    if "sanity" not in info:
        info["sanity"] = sanity_check(out, data)
    return info


def read_train_info(weights: Path) -> dict:
    p = weights.with_suffix(".json")
    return json.loads(p.read_text()) if p.exists() else {}


# ------------------------------------------------------------------------------ model card


def _metrics_section() -> str:
    """The metrics table from docs/quality/report.md when the report exists."""
    if not REPORT_PATH.exists():
        return (
            "Not measured yet: run `make report` (`python -m training.evaluate`), which writes "
            "`docs/quality/report.md`, then `python -m training.export --card`.\n"
        )
    text = REPORT_PATH.read_text()
    tables = re.findall(r"((?:^\|.*\|\s*$\n?)+)", text, flags=re.M)
    body = "\n\n".join(t.strip() for t in tables) if tables else text.strip()
    return (
        "From `docs/quality/report.md` (generated by `python -m training.evaluate` against the "
        "held-out takes):\n\n" + body + "\n"
    )


def _limits_from_report() -> str:
    """The known-limits bullet about acceptance bars, from docs/quality/report.json."""
    path = REPORT_PATH.with_suffix(".json")
    if not path.exists():
        return "- Not evaluated yet against the acceptance bars (`python -m training.evaluate`)."
    bars = json.loads(path.read_text()).get("bars", {})
    failed = [
        f"{name} ({b['value']:.3g}, bar {b['op']} {b['threshold']:.3g})"
        for name, b in bars.items()
        if not b.get("pass")
    ]
    # a pass within 2 % of its threshold is as much the seeds' luck as the engine's
    narrow = [
        f"{name} ({b['value']:.3g}, bar {b['op']} {b['threshold']:.3g})"
        for name, b in bars.items()
        if b.get("pass") and 0 < abs(b["value"] - b["threshold"]) <= 0.02 * abs(b["threshold"])
    ]
    if not failed:
        text = "- It passes every acceptance bar of the quality report."
    else:
        text = (
            f"- This version passes {len(bars) - len(failed)} of {len(bars)} acceptance bars and "
            "misses: " + "; ".join(failed) + ". Long generation is stable (5 minutes per style "
            "without NaN)."
        )
    if narrow:
        text += " Passed narrowly (within 2 % of the bar): " + "; ".join(narrow) + "."
    return "\n  ".join(_wrap(text, 98))


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width)


def _v3_section(meta: dict, info: dict | None = None) -> str:
    """Architecture bullets of guidance, history corruption and seed motions, when in use."""
    config = (info or {}).get("config", {})
    guidance = float(meta["recommended"].get("guidance", 1.0))
    drop = float(config.get("style_drop", 0.1))
    text = ""
    if guidance != 1.0:
        text += (
            "- Classifier-free guidance: during training the style is replaced by the "
            f'all-zero "unconditional" style for {drop:.0%} of the windows; the graph runs the '
            "conditional and the unconditional decoder in one batched pass and returns "
            f"`uncond + g * (cond - uncond)` with g = {guidance} (`recommended.guidance`), so "
            "the style inputs count for more than the history alone implies.\n"
        )
    if float(config.get("hist_noise", 0.15 if guidance != 1.0 else 0.0)) > 0.0:
        text += (
            "- History corruption (v3): the decoder and prior see a noisy, sometimes time-shifted "
            "history during training, so they cannot just continue their input; the losses use "
            "the clean history.\n"
        )
    if meta.get("seed_histories"):
        text += (
            f"- Seed motions: the metadata holds {_seed_count(meta)} real "
            f"{meta['history']}-frame histories per style (`seed_histories`, from training takes "
            "at evenly spread positions, with their descriptors in `seed_descriptors`); the "
            "runtime starts each clip from one of the dominant style's seeds, picked by the "
            "generation seed with a preference for seeds near the requested sliders.\n"
        )
    bullets = [textwrap.fill(b, 98, subsequent_indent="  ") for b in text.splitlines() if b]
    return "".join(b + "\n" for b in bullets)


def _variant_section(meta: dict, info: dict) -> str:
    """Architecture bullets of the variants in use (temporal latent, absolute root, variety...)."""
    model = meta.get("training", {}).get("model", {})
    config = info.get("config", {})
    text = ""
    if model.get("temporal"):
        text += (
            "- Temporal latent: the encoder keeps the window's time axis (its strided convolution "
            "output is flattened, not pooled over time) and `z` also sets a per-frame offset of "
            "the window tokens, so the latent can say when a move happens as well as which; the "
            "prior also sees the beat phase at the window's first and middle frame. (Pooled, the "
            "decoder reproduced held-out windows at half their joint speed even from the "
            "encoder's own latent: it averaged over timing.)\n"
        )
    if model.get("root_absolute"):
        text += (
            "- Absolute root velocities: the decoder predicts each window as an offset from the "
            "last history frame, except the root's three velocity channels (forward and sideways "
            "speed, yaw rate), which it predicts outright. As offsets they integrate: a small "
            "bias per window added up over minutes, and earlier networks drifted into spins "
            "(yaw rate 8-10 rad/s) in 5-minute runs; with them predicted outright they no longer "
            "spin away (`python -m training.longrun`, training/EXPERIMENTS.md).\n"
        )
    variety = float(meta.get("recommended", {}).get("variety", 0.0))
    if variety > 0.0:
        text += (
            f"- Variety (`recommended.variety` = {variety:g}): a clip starts with the "
            "descriptor values of the real take its seed motion came from and drifts through "
            "other takes of the style, one per 20 s, on the sliders the user left at the preset "
            f"({variety:g} of the way; `core.generation.character_drift`). Without it every seed "
            "aims at the style's average and seeds differ less than real dancers do.\n"
        )
    if "style_temper" in config:
        temper = float(config["style_temper"])
        text += (
            "- Style sampling: training windows come from a style with probability proportional "
            f"to its frames to the power {temper:g} (`TrainConfig.style_temper`; 1 = the data's "
            "own shares, 0 = every style equally often), so the thin styles are seen more often "
            "than their share of the data without starving the large one of its variety.\n"
        )
    if model.get("kind") == "vq":
        text += (
            f"- VQ variant: the latent is one of {model.get('codes')} learned code vectors (EMA "
            "codebook, dead codes restarted) and the prior a classifier over them, sampled in the "
            "graph by Gumbel-max from the noise input (`training/model_vq.py`).\n"
        )
    if float(config.get("w_speed", 0.0)) > 0.0:
        text += (
            "- Joint-speed loss (weight "
            f"{config['w_speed']}): the squared log-ratio of every joint's mean speed over the "
            "window to the data's; the other losses are lowest for the average (slow) move when "
            "the next move is uncertain, this one at the data's speed whatever the direction.\n"
        )
    bullets = [textwrap.fill(b, 98, subsequent_indent="  ") for b in text.splitlines() if b]
    return "".join(b + "\n" for b in bullets)


def _style_minutes(data) -> dict[str, float]:
    """Minutes of training motion per style (mirrors included), from the dataset itself."""
    frames = np.bincount(data.take_id, minlength=len(data.take_names))
    out: dict[str, float] = {}
    for i, n in enumerate(frames):
        if data.take_split[i] == "train":
            style = data.style_names[int(data.take_style[i])]
            out[style] = out.get(style, 0.0) + float(n) / 30.0 / 60.0
    return out


def _thin_styles_note(data) -> str:
    """The known-limits bullet on the thin style, with the dataset's own numbers."""
    minutes = _style_minutes(data)
    thin = min(minutes, key=minutes.get)
    rest = [(s, m) for s, m in minutes.items() if s != thin]
    others = " and ".join(
        f"{m:.1f}{' minutes' if k == 0 else ''} of {s}" for k, (s, m) in enumerate(rest)
    )
    takes = sorted(
        n
        for i, n in enumerate(data.take_names)
        if not n.endswith("_mirror")
        and data.take_split[i] == "train"
        and data.style_names[int(data.take_style[i])] == thin
    )
    text = (
        f"- {thin.capitalize()} is thin: {minutes[thin] * 60:.0f} s of training motion "
        f"({len(takes)} takes, each also mirrored: {', '.join(takes)}) against {others}, "
        f"so generated {thin} drifts towards the larger styles (see which label the report's "
        f"classifier gives it) and varies less between seeds than the very different real "
        f"{thin} takes do. More {thin} mocap is the fix."
    )
    return textwrap.fill(text, 98, subsequent_indent="  ")


def _groove_credits(data) -> str:
    """Where the groove takes come from, naming only the sources this dataset holds."""
    names = set(data.take_names)
    cmu = ['131 ("Michael Jackson styled" walks and hops)']
    if "groove_55_01_whirl" in names:
        cmu.append('55 ("dance, whirl", read from FBX)')
    many = len(cmu) > 1
    text = f"CMU subject{'s' if many else ''} {' and '.join(cmu)} {'are' if many else 'is'} "
    text += "in the groove set under the CMU terms."
    if "groove_ymca" in names:
        text += " The YMCA loop is Mesh2Motion art (Scott Petrovic), CC0 1.0."
    return textwrap.fill(text, 98)


def _seed_count(meta: dict) -> int:
    seeds = meta.get("seed_histories") or {}
    return max((len(v) for v in seeds.values()), default=0)


def write_model_card(meta: dict, data, info: dict, path: Path = CARD_PATH) -> None:
    """Write the model card (``dance_ai_addon/engines/default.md``; the docs pointer with it)."""
    takes_rows = []
    for i, name in enumerate(data.take_names):
        if name.endswith("_mirror"):  # each take is also used mirrored; list it once
            continue
        style = data.style_names[int(data.take_style[i])]
        split = data.take_split[i]
        n = int(np.sum(data.take_id == i))
        bpm = data.take_bpm[i]
        takes_rows.append(f"| {name} | {style} | {split} | {n / 30.0:.1f} | {bpm:.0f} |")
    axes = ", ".join(f"`{a['name']}`" for a in meta["style"]["axes"])
    presets = ", ".join(f"`{p}`" for p in meta["style"]["presets"])
    tr = meta.get("training", {})
    sanity = info.get("sanity", {}).get("generated", {})
    real = info.get("sanity", {}).get("real", {})
    sanity_rows = []
    for name, s in sanity.items():
        r = real.get(name, {})
        r_ang = f"{r['angular_speed']:.2f}" if r else "-"
        r_skate = f"{r['foot_skate']:.3f}" if r else "-"
        sanity_rows.append(
            f"| {name} | {s['angular_speed']:.2f} | {r_ang} | "
            f"{s['foot_skate']:.3f} | {r_skate} | "
            f"{s['root_height_min']:.2f}-{s['root_height_max']:.2f} |"
        )
    size = info.get("size_mb", "?")
    noise_scale = meta["recommended"]["noise_scale"]
    candidates = ", ".join(str(c) for c in CANDIDATE_SCALES)
    text = f"""# Dance AI default engine (`default.onnx`)

Version {meta["version"]}, engine contract {meta["contract_version"]}, {size} MB.

## What it is

A generative dance model on the SMPL-24 skeleton at {meta["fps"]} fps. Each call turns the previous
{meta["history"]} frames, a style vector and the beat into the next {meta["window"]} frames; the
runtime's window loop (`core/generation.py`, overlap {meta["recommended"]["overlap"]} frames,
crossfaded) chains calls into clips of any length. Style axes: {axes}. Presets: {presets}.

## Architecture

An autoregressive conditional VAE over windows (`training/model.py`).

- Decoder (the ONNX graph): the history is encoded by an MLP into a context vector together with
  the style (MLP) and a {meta["noise"]["size"]}-dimensional latent `z`. A 1-D convolutional net
  (residual blocks, kernel 5, FiLM conditioning on the context) runs over the {meta["history"]}
  history frames followed by the {meta["window"]} window frames (which get the context plus their
  per-frame beat `(sin, cos)`), and predicts the window as an offset from the last history frame.
  Feature normalisation (training-set mean/std) is baked into the graph: raw features in, raw
  features out. The output is projected onto valid features inside the graph: each joint's 6D
  pair re-orthonormalised, the root channels clamped to the training data's range (+10 %), so
  feeding outputs back as history for minutes cannot compound into an overflow.
- Latent: a learned conditional prior (an MLP on the history and style context) gives a mean and
  a standard deviation; `z = mean + std * noise[:, 0, :]`, with the runtime's standard-normal
  noise of the window's first frame (the other frames' noise is not read).
  `recommended.noise_scale` = {noise_scale}, chosen at export among {candidates} as the scale
  whose generated joint angular speed (runtime foot cleanup on, as users get it) best matches the
  real training takes (never the held-out ones) while foot skating stays within those takes' + 20 %
  (`training/export.py`).
{_style_noise_section(meta)}\
{_gain_section(meta)}\
{_v3_section(meta, info)}\
{_variant_section(meta, info)}\
- Encoder (training only): a strided 1-D conv net over history + window giving q(z | ...).
- Losses: feature reconstruction (normalised, root channels weighted x2), frame-to-frame feature
  velocities (so the dynamics are not averaged away), joint positions through
  a differentiable SMPL-24 FK (`training/fk_torch.py`), foot sliding while the data's foot is in
  contact, floor penetration, the jerk penalty (third difference of the window including its seam
  with the history), KL of the encoder's posterior to the learned prior with free bits. Bone
  lengths are exact by construction (the network outputs rotations; the skeleton's offsets are
  fixed).
- Autoregressive rollouts of 3 windows spaced like the runtime's loop, with scheduled sampling
  (up to 60 % of the histories are the model's own previous prediction) so long generation neither
  drifts nor freezes.
- Operators: Conv, Gemm/MatMul, Sigmoid, Exp, Clip, Sqrt, ReduceSum, Min/Max, Mul/Add/Sub/Div,
  Concat, Slice, Reshape, Transpose at opset {OPSET} with static shapes and a dynamic batch: ONNX
  Runtime and TensorRT 10 both build it.

## Data

Real motion capture converted onto SMPL-24 with the project's own retargeter, resampled to 30 fps,
mirrored left/right for augmentation (every take below is also used mirrored, in the same split),
split by take (no take in both splits; the two salsa partners of a couple take share a split).
Beat phase: each take's tempo and phase are estimated from its own kinematic beats (minima of mean
joint speed, `training/beats.py`), since the mocap has no music. Descriptors (0..1 sliders):
computed from each clip's motion over a 2 s window (`training/descriptors.py`); their raw ranges
are in the metadata (`descriptor_ranges`). Source files, repositories and licences of every take:
`training/DATA.md`. Every take used:

| take | style | split | seconds | BPM |
|---|---|---|---|---|
{chr(10).join(takes_rows)}

Credits: CMU Graphics Lab Motion Capture Database — "{CMU_CREDIT}" The CMU terms allow including
the data (and so a model trained on it) in products, not reselling the data itself. The freestyle
and dab takes come from Meta's AnimatedDrawings (MIT License, Copyright (c) Meta Platforms, Inc.
and affiliates).
{_groove_credits(data)}

## Licence

The model weights are released under GPL-3.0-or-later, like the extension that ships them. The data
terms (CMU: free for research and commercial use, may be included in products; AnimatedDrawings:
MIT{"; Mesh2Motion: CC0" if "groove_ymca" in data.take_names else ""}) allow distributing a model
trained on them.

## Training

`make train` (= `python -m training.train`, which runs `python -m training.prepare_data` first when
the recipe's dataset under `build/` is missing; `training.train.dataset_for_recipe` says which).
CPU only, one intra-op thread (steadier than two on a shared
2-core machine, and a fixed thread count keeps the run bit-reproducible), seed {tr.get("seed")},
{tr.get("steps")} optimiser steps; {tr.get("minutes")} minutes on the 2-core development machine.
Losses per epoch: `training/logs/train_log.csv`.

## Metrics

{_metrics_section()}
Export-time sanity (20 s per preset with seed 0 through the runtime with its foot cleanup off, so
the network's own output, vs the real held-out takes of that style): mean joint angular speed
(rad/s), foot sliding while in contact (m/s), root height (m).

| preset | angular speed | real | foot slide | real | root height |
|---|---|---|---|---|---|
{chr(10).join(sanity_rows)}

ONNX Runtime vs PyTorch max abs difference: {info.get("parity_max_abs_diff", float("nan")):.1e}.

## Known limits

{_limits_from_report()}
{_thin_styles_note(data)}
- Foot contacts: the runtime pins planted feet (`core.generation.clean_feet`); the network's own
  output slides more (the report gives both numbers).
- Variety follows real dancers, slow ones included: a long run's minute that drifts past the
  character of a slow take moves slowly too (real modern takes move at 0.3-1.7x their style's mean
  speed): see the report's long runs at seeds 1000-1005 in the metrics table, where such a
  minute can sit below the stability bar's 0.5x (the bar itself runs seed 1000).
- Beat: the network barely follows its beat input (its latent already fixes each window's timing);
  the runtime's beat lock (`core.beat_lock`) retimes the motion so its accents land on the beat
  (the report gives the beat alignment with and without it).
- Salsa was danced in couples; the engine dances one partner alone.
- No hands or fingers (SMPL-24 ends at the hand joint), no face.
- No music input: the engine follows a beat (BPM and phase), not audio.
- Trained at 30 fps; other rates are resampled by the runtime.
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if path.resolve() != CARD_PATH.resolve():
        return
    DOCS_CARD_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOCS_CARD_PATH.write_text(
        "# Model card\n\nThe default engine's model card ships next to the engine: "
        "[`dance_ai_addon/engines/default.md`](../dance_ai_addon/engines/default.md).\n"
    )


def main(argv: list[str] | None = None) -> int:
    from training.train import (
        SHIPPED_RECIPE,
        dataset_for_recipe,
        load_training_data,
        load_weights,
    )

    ap = argparse.ArgumentParser(description="Export saved weights as the default engine.")
    ap.add_argument(
        "--dataset",
        type=Path,
        default=dataset_for_recipe(SHIPPED_RECIPE),
        help="the dataset the weights were trained on (default: the shipped recipe's)",
    )
    ap.add_argument("--weights", type=Path, default=REPO / "build" / "default_weights.npz")
    ap.add_argument("--out", type=Path, default=CARD_PATH.with_suffix(".onnx"))
    ap.add_argument("--card", action="store_true", help="only rewrite the model card")
    ap.add_argument(
        "--recalibrate",
        action="store_true",
        help="only re-run the runtime calibrations (noise scale, descriptor gains) on --out",
    )
    ap.add_argument(
        "--guidance", type=float, default=None, help="guidance scale (default: the training run's)"
    )
    ap.add_argument(
        "--seed-motion", action="store_true", help="ship seed histories (recipe v3) in the metadata"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    data = load_training_data(args.dataset)
    info = read_train_info(args.weights)
    if args.recalibrate:
        recalibrate(args.out, data)
    if args.card or args.recalibrate:
        from dance_ai_addon.core.engines import load_engine

        with load_engine(args.out, "cpu", threads=1) as engine:
            meta = engine.metadata.raw
        export_info = export_info_path(args.out)
        if export_info.exists():
            info.update(json.loads(export_info.read_text()))
        write_model_card(
            meta, data, card_info(meta, data, info, args.out), args.out.with_suffix(".md")
        )
        return 0
    model, _, _ = load_weights(args.weights)
    guidance = args.guidance
    if guidance is None:
        guidance = float(info.get("config", {}).get("guidance", 1.0))
    variety = float(info.get("config", {}).get("variety", 0.0))
    export_engine(
        model,
        data,
        args.out,
        info,
        guidance=guidance,
        seed_motion=args.seed_motion,
        variety=variety,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
