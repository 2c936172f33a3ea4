"""``python -m dance_ai_addon generate``: run an engine and write the motion as BVH or NPZ.

BVH is written on the engine's own skeleton in meters (Y up), as the motion core holds it, so any
BVH tool can open it (scale by 100 on import if a tool expects centimetres). NPZ holds
``rotations`` (T, J, 4 wxyz local), ``root_positions`` (T, 3), ``fps``, ``joint_names``,
``parents``, ``offsets``, ``rest_rotations`` and, for engines with a face, ``blendshape_names``
and ``blendshape_weights`` (T, K); strings are fixed-width unicode arrays, so
``np.load(..., allow_pickle=False)`` reads it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate",
        help="generate dance motion with an engine and write BVH or NPZ",
        description="Generate dance motion with an engine (autoregressive windows, seeded) and "
        "write it as BVH (engine skeleton, meters, Y up) or NPZ (clip + blendshape curves).",
    )
    p.add_argument(
        "--engine",
        default="default",
        help="'default' (bundled), an engine NAME from `engines`, or a PATH (.onnx/.engine)",
    )
    p.add_argument("--backend", default="auto", choices=["auto", "tensorrt", "cuda", "cpu"])
    p.add_argument(
        "--style",
        default=None,
        help="preset mix, e.g. salsa=0.7,modern=0.3; descriptor axes set raw values "
        "(energy=0.9); default: the engine's axis defaults",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=None, help="length (default 10 s)")
    length.add_argument("--frames", type=int, default=None, help="length in output frames")
    p.add_argument("--fps", type=float, default=None, help="output fps (default: the engine's)")
    p.add_argument("--bpm", type=float, default=None, help="beat tempo (beat-aware engines)")
    p.add_argument("--beat-phase", type=float, default=0.0, help="beat phase at frame 0, beats")
    p.add_argument(
        "--beat-lock",
        type=float,
        default=None,
        help="0..1: retime so the motion's accents land on the beat "
        "(default 1 for beat-aware engines, else 0)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--variety",
        type=float,
        default=None,
        help="0..1: how far each seed's dance drifts through the style's real dancers' "
        "characters (default: the engine's recommendation; 0 = every seed aims at the preset)",
    )
    p.add_argument("--loop", action="store_true", help="make the clip cycle (last -> first)")
    p.add_argument("--overlap", type=int, default=None, help="window overlap in frames")
    p.add_argument(
        "--no-foot-cleanup",
        dest="foot_cleanup",
        action="store_false",
        help="keep the engine's raw feet (default: pin planted feet, see docs/engine-contract.md)",
    )
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--out", required=True, help="output FILE.bvh or FILE.npz")
    p.add_argument("--report", default=None, help="write a JSON report here")
    return p


def _style(meta, text: str | None):
    from .core.errors import DanceAIError
    from .core.style import known_style_names, parse_style, style_vector

    known = known_style_names(meta)
    descriptors = [a.name for a in meta.style_axes if a.kind == "descriptor"]
    try:
        parsed = parse_style(text, known + [d for d in descriptors if d not in known])
    except DanceAIError as exc:
        raise DanceAIError(f"{exc} (descriptor axes: {', '.join(descriptors) or 'none'})") from None
    weights = {k: v for k, v in parsed.items() if k in known}
    raw = {k: v for k, v in parsed.items() if k not in known}
    return style_vector(meta, weights, raw)


def _resample_weights(weights, src_fps: float, dst_fps: float, frames: int):
    import numpy as np

    t_src = np.arange(weights.shape[0]) / src_fps
    t_dst = np.arange(frames) / dst_fps
    return np.stack(
        [np.interp(t_dst, t_src, weights[:, k]) for k in range(weights.shape[1])], axis=-1
    )


def write_npz(path: Path, clip, blendshapes) -> None:
    """Save a clip (+ optional (names, weights)) without pickled objects."""
    import numpy as np

    sk = clip.skeleton
    arrays = {
        "rotations": np.asarray(clip.rotations, dtype=np.float32),
        "root_positions": np.asarray(clip.root_positions, dtype=np.float32),
        "fps": np.asarray(clip.fps, dtype=np.float64),
        "joint_names": np.array(sk.names, dtype=np.str_),
        "parents": np.asarray(sk.parents, dtype=np.int32),
        "offsets": np.asarray(sk.offsets, dtype=np.float32),
        "rest_rotations": np.asarray(sk.rest_rotations, dtype=np.float32),
    }
    if blendshapes is not None:
        arrays["blendshape_names"] = np.array(blendshapes[0], dtype=np.str_)
        arrays["blendshape_weights"] = np.asarray(blendshapes[1], dtype=np.float32)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def run(args: argparse.Namespace) -> int:
    from .core.bvh import write_bvh
    from .core.engines import load_engine
    from .core.engines.registry import resolve_engine
    from .core.errors import DanceAIError
    from .core.generation import generate

    out = Path(args.out)
    kind = out.suffix.lower()
    if kind not in (".bvh", ".npz"):
        raise DanceAIError(f"--out {out.name}: write a .bvh or .npz file")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise DanceAIError(f"--seconds must be positive, got {args.seconds}")
    if args.frames is not None and args.frames < 1:
        raise DanceAIError(f"--frames must be at least 1, got {args.frames}")
    if args.fps is not None and not (math.isfinite(args.fps) and 1 <= args.fps <= 1000):
        raise DanceAIError(f"--fps must be between 1 and 1000, got {args.fps}")

    path = resolve_engine(args.engine, prefer_tensorrt=args.backend == "tensorrt")
    engine = load_engine(path, backend=args.backend, threads=args.threads)
    try:
        meta = engine.metadata
        out_fps = float(args.fps) if args.fps else meta.fps
        if args.frames is not None:
            n_out = int(args.frames)
        else:
            n_out = max(1, int(round((10.0 if args.seconds is None else args.seconds) * out_fps)))
        resample = abs(out_fps - meta.fps) > 1e-9
        n_engine = math.ceil((n_out - 1) * meta.fps / out_fps - 1e-9) + 1 if resample else n_out
        style = _style(meta, args.style)
        result = generate(
            engine,
            frames=n_engine,
            style=style,
            seed=args.seed,
            bpm=args.bpm,
            beat_phase=args.beat_phase,
            loop=args.loop,
            overlap=args.overlap,
            foot_cleanup=None if args.foot_cleanup else False,
            beat_lock=args.beat_lock,
            variety=args.variety,
        )
        clip, shapes = result.clip, result.blendshapes
        if resample:
            clip = clip.resample(out_fps).trim(0, n_out)
            if shapes is not None:
                shapes = (shapes[0], _resample_weights(shapes[1], meta.fps, out_fps, n_out))
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            if kind == ".bvh":
                write_bvh(out, clip)
            else:
                write_npz(out, clip, shapes)
        except OSError as exc:
            raise DanceAIError(f"{out}: cannot write the output ({exc.strerror or exc})") from None
        report = {
            "frames": clip.n_frames,
            "fps": clip.fps,
            "engine": meta.name,
            "engine_path": str(path),
            "backend": engine.backend,
            "provider": engine.provider,
            "generation_seconds": result.seconds,
            "windows": result.windows,
            "seed": args.seed,
            "variety": result.variety,
            "noise_scale": result.noise_scale,
            "style": {a.name: float(v) for a, v in zip(meta.style_axes, style)},
            "style_spec": args.style,
            "bpm": (args.bpm or meta.default_bpm) if meta.beat_input else None,
            "loop": bool(args.loop),
            "blendshapes": len(shapes[0]) if shapes is not None else 0,
            "output": str(out),
        }
        if kind == ".bvh" and shapes is not None:
            report["note"] = "blendshape curves are not stored in BVH; write .npz to keep them"
    finally:
        engine.close()
    if args.report:
        rp = Path(args.report)
        rp.parent.mkdir(parents=True, exist_ok=True)
        rp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"wrote {out} ({report['frames']} frames at {report['fps']:g} fps) with "
        f"{meta.name} on {engine.backend}/{engine.provider} in "
        f"{report['generation_seconds']:.3f} s",
        file=sys.stdout,
    )
    return 0
