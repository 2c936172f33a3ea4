"""``make demo``: the main job end to end, headless, through the commands a user runs.

1. ``python -m dance_ai_addon generate``: a 20-second dance with the default engine (style
   "salsa", seed 7, 110 BPM when the engine is beat-aware) -> ``out/demo.bvh``;
2. ``python -m dance_ai_addon bake``: retarget that BVH onto ``sample_rigs/mixamo_tpose.blend``
   with the retarget job the panel uses, bake a new action, set the frame range ->
   ``out/demo.blend`` (open it in Blender 4.2+ and press play);
3. ``out/report.json``: engine, backend, provider, frames, outputs and per-stage timings.

The default engine is ``dance_ai_addon/engines/default.onnx``; if it is not there the demo stops
with a message (it never fakes one). ``--engine PATH`` runs the demo with another engine file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_ENGINE = REPO / "dance_ai_addon" / "engines" / "default.onnx"
DEFAULT_RIG = REPO / "sample_rigs" / "mixamo_tpose.blend"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default=None, help="engine file or name (default: the bundled one)")
    ap.add_argument("--backend", default="auto", choices=["auto", "tensorrt", "cuda", "cpu"])
    ap.add_argument("--style", default="salsa")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bpm", type=float, default=110.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rig", default=str(DEFAULT_RIG), help="the .blend with the rig")
    ap.add_argument("--out", default=str(REPO / "out"), help="output folder")
    return ap.parse_args(argv)


def _fail(message: str) -> int:
    print(f"demo: {message}", file=sys.stderr)
    return 1


def _stage(name: str, argv: list[str], timings: dict[str, float]) -> int:
    from dance_ai_addon.cli import main

    print(f"demo: {name}: python -m dance_ai_addon {' '.join(argv)}", flush=True)
    t = time.perf_counter()
    code = main(argv)
    timings[f"{name}_s"] = round(time.perf_counter() - t, 4)
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    t0 = time.perf_counter()
    out = Path(args.out).resolve()
    rig = Path(args.rig).resolve()
    if args.engine is None:
        if not DEFAULT_ENGINE.is_file():
            return _fail(
                f"the default engine {DEFAULT_ENGINE.relative_to(REPO)} does not exist yet "
                "(it is trained by `python -m training.train`); run the demo with "
                "--engine PATH/TO/ENGINE.onnx meanwhile"
            )
        engine = str(DEFAULT_ENGINE)
    else:
        engine = args.engine
    if not rig.is_file():
        return _fail(f"the sample rig {rig} is missing (sample_rigs/build_sample_rigs.py)")

    from dance_ai_addon.core.engines.registry import read_engine_metadata, resolve_engine
    from dance_ai_addon.core.errors import DanceAIError

    timings: dict[str, float] = {}
    try:
        engine_path = resolve_engine(engine, prefer_tensorrt=args.backend == "tensorrt")
        meta = read_engine_metadata(engine_path)
    except DanceAIError as exc:
        return _fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    bvh, blend = out / "demo.bvh", out / "demo.blend"
    gen_report, bake_report = out / "generate.json", out / "bake.json"
    gen = ["generate", "--engine", str(engine_path), "--backend", args.backend,
           "--style", args.style, "--seconds", f"{args.seconds:g}", "--seed", str(args.seed),
           "--out", str(bvh), "--report", str(gen_report)]  # fmt: skip
    if meta.beat_input and args.bpm:
        gen += ["--bpm", f"{args.bpm:g}"]
    if _stage("generate", gen, timings) != 0:
        return _fail("generation failed (see the message above)")
    bake = ["bake", "--blend", str(rig), "--motion", str(bvh), "--out", str(blend),
            "--action-name", f"Dance {args.style} s{args.seed}",
            "--report", str(bake_report)]  # fmt: skip
    if _stage("retarget_bake", bake, timings) != 0:
        return _fail("retargeting/baking failed (see the message above)")

    g = json.loads(gen_report.read_text(encoding="utf-8"))
    b = json.loads(bake_report.read_text(encoding="utf-8"))
    timings["engine_generation_s"] = round(float(g["generation_seconds"]), 4)
    timings.update({f"bake_{k}": v for k, v in b["timings"].items()})
    timings["total_s"] = round(time.perf_counter() - t0, 4)
    report = {
        "engine": g["engine"],
        "engine_path": g["engine_path"],
        "backend": g["backend"],
        "provider": g["provider"],
        "style": args.style,
        "style_vector": g["style"],
        "seed": args.seed,
        "bpm": g["bpm"],
        "seconds": args.seconds,
        "generated_frames": g["frames"],
        "generated_fps": g["fps"],
        "rig": str(rig),
        "armature": b["armature"],
        "action": b["action"],
        "baked_frames": b["frames"],
        "scene_fps": b["fps"],
        "frame_range": [b["frame_start"], b["frame_end"]],
        "bone_map_preset": b["retarget"]["preset"],
        "outputs": {"bvh": str(bvh), "blend": str(blend), "report": str(out / "report.json")},
        "timings": timings,
        "blender": b.get("blender"),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for extra in (gen_report, bake_report):
        extra.unlink(missing_ok=True)

    print()
    print(f"Dance AI demo: {args.seconds:g} s of '{args.style}' (seed {args.seed}) with "
          f"{g['engine']} on {g['backend']}/{g['provider']}")  # fmt: skip
    print(f"  motion (BVH, engine skeleton):  {bvh}")
    print(f"  rig with the baked action:      {blend}  (open in Blender 4.2+, press play)")
    print(f"  report:                         {out / 'report.json'}")
    print("  stages:")
    print(f"    generate            {timings['generate_s']:8.3f} s  "
          f"(engine {timings['engine_generation_s']:.3f} s, {g['frames']} frames)")  # fmt: skip
    print(f"    retarget + bake     {timings['retarget_bake_s']:8.3f} s  "
          f"({b['frames']} frames at {b['fps']:g} fps onto '{b['armature']}')")  # fmt: skip
    print(f"    total               {timings['total_s']:8.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
