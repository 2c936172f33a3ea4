"""Engine runtime bench: first load time, 60 s @ 30 fps generation on ONNX Runtime CPU,
real-time factor and extra resident memory. Medians over fresh subprocesses (each measures a
cold import + load, then several generations). Writes bench/results/engine.json.

Uses the bundled default engine if present, else a contract-shaped test engine of similar size
(~1.4M parameters, tools/make_test_engine.py --big).

Targets (issue 5): >= 100x real time (1800 frames in <= 0.6 s), first load <= 1 s, <= 300 MB.
Usage: python bench/bench_engine.py [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRAMES, FPS_SECONDS = 1800, 60.0


def _rss_kb(field: str = "VmRSS") -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child(engine_path: str, threads: int, gens: int) -> dict:
    """One cold process: import + load, then ``gens`` generations of 1800 frames."""
    sys.path.insert(0, str(REPO))
    import numpy as np  # noqa: F401  (baseline includes numpy: the add-on always has it)

    from dance_ai_addon.core.errors import DanceAIError  # noqa: F401

    base_rss = _rss_kb()
    t0 = time.perf_counter()
    from dance_ai_addon.core.engines import load_engine

    engine = load_engine(engine_path, backend="cpu", threads=threads)
    load_s = time.perf_counter() - t0
    from dance_ai_addon.core.generation import generate
    from dance_ai_addon.core.style import style_vector

    style = style_vector(engine.metadata, {engine.metadata.style_names[0]: 1.0})
    times, unlocked, windows = [], [], 0
    for i in range(gens):
        t = time.perf_counter()
        r = generate(engine, frames=FRAMES, style=style, seed=i)
        times.append(time.perf_counter() - t)
        windows = r.windows
        # the same clip without the beat lock's retiming, interleaved so both see the same load
        t = time.perf_counter()
        generate(engine, frames=FRAMES, style=style, seed=i, beat_lock=0.0)
        unlocked.append(time.perf_counter() - t)
    # baseline in the same process: decoding alone (numpy), to separate engine cost from the loop
    from dance_ai_addon.core.engines.features import decode_features

    t = time.perf_counter()
    decode_features(r.features, engine.metadata.skeleton, engine.metadata.fps)
    decode_s = time.perf_counter() - t
    return {
        "load_s": load_s,
        "generate_s": statistics.median(times),
        "generate_unlocked_s": statistics.median(unlocked),
        "windows": windows,
        "decode_s": decode_s,
        "extra_rss_mb": (_rss_kb("VmHWM") - base_rss) / 1024.0,
        "provider": engine.provider,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--gens", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.gens)))
        return 0

    bundled = REPO / "dance_ai_addon" / "engines" / "default.onnx"
    tmp = None
    if bundled.is_file():
        engine_path, label = bundled, "bundled default.onnx"
    else:
        sys.path.insert(0, str(REPO / "tools"))
        import make_test_engine as mte

        tmp = tempfile.TemporaryDirectory()
        engine_path = mte.make_big_test_engine(Path(tmp.name) / "big.onnx")
        label = f"test engine ({mte.count_parameters(engine_path):,} parameters)"
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(engine_path), "--threads",
             str(args.threads), "--gens", str(args.gens)],
            capture_output=True, text=True, check=True, cwd=str(REPO),
        )  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in runs) for k in ("load_s", "generate_s",
           "generate_unlocked_s", "decode_s", "extra_rss_mb")}  # fmt: skip
    size_mb = os.path.getsize(engine_path) / 1e6
    result = {
        "engine": label,
        "engine_mb": round(size_mb, 2),
        "provider": runs[0]["provider"],
        "threads": args.threads,
        "frames": FRAMES,
        "windows": runs[0]["windows"],
        "runs": args.runs,
        "generations_per_run": args.gens,
        "first_load_s": round(med["load_s"], 4),
        "generate_60s_s": round(med["generate_s"], 4),
        "realtime_factor": round(FPS_SECONDS / med["generate_s"], 1),
        "ms_per_window": round(1000 * med["generate_s"] / runs[0]["windows"], 3),
        "decode_only_s": round(med["decode_s"], 4),
        "beat_lock_cost_ratio": round(med["generate_s"] / med["generate_unlocked_s"], 2),
        "loop_vs_decode_ratio": round(med["generate_s"] / med["decode_s"], 1),
        "extra_rss_mb": round(med["extra_rss_mb"], 1),
        "targets": {"realtime_factor": ">= 100", "first_load_s": "<= 1", "extra_rss_mb": "<= 300"},
        "meets_targets": bool(
            FPS_SECONDS / med["generate_s"] >= 100
            and med["load_s"] <= 1.0
            and med["extra_rss_mb"] <= 300
        ),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "per_run": runs,
    }
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "engine.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_run"}, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
