"""Benchmark of the motion core (issue 3 targets), medians of 5 runs.

10,000 frames x 60 joints: forward kinematics, jerk smoothing of all rotation (6D) and root
channels, 6D <-> quaternion (dance-like joint rotations, and uniformly random rotations as the
worst case of sixd_to_quat's fast path), and reading the 3 MB CMU salsa BVH. Writes
bench/results/core.json and prints a table. Run: ``.venv/bin/python bench/bench_core.py``.

Two baselines are measured in the same process so numbers from a loaded machine can be judged:
a fixed numpy workload (``machine_baseline``: a 1e7-element multiply-add and a 512x512 matmul)
and, for smoothing, the textbook banded solve with one Python step per frame (numpy over
channels), which the block solver replaces.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dance_ai_addon.core import rotations as R  # noqa: E402
from dance_ai_addon.core import smoothing as S  # noqa: E402
from dance_ai_addon.core.bvh import read_bvh  # noqa: E402
from dance_ai_addon.core.clip import MotionClip  # noqa: E402
from dance_ai_addon.core.skeleton import Skeleton, forward_kinematics, smpl24_skeleton  # noqa: E402

T = 10_000
RUNS = 5
BVH_PATH = os.path.join(ROOT, "tests", "data", "cmu_60_01_sl60.bvh")
TARGETS_MS = {
    "fk": 50.0,
    "smooth_clip": 150.0,
    "sixd_to_quat": 20.0,
    "quat_to_sixd": 20.0,
    "bvh_read_3mb": 1000.0,
}


def skeleton60() -> Skeleton:
    """SMPL-24 plus 3-bone fingers on both hands, toes, jaw and eyes: 60 joints, depth 12."""
    base = smpl24_skeleton()
    names = list(base.names)
    parents = list(base.parents)
    offsets = [tuple(o) for o in base.offsets]
    for side, sx in (("L", 1.0), ("R", -1.0)):
        hand = names.index(f"{side}_Hand")
        for f in range(5):
            prev = hand
            for k in range(3):
                names.append(f"{side}_Finger{f}{k}")
                parents.append(prev)
                offsets.append((sx * 0.03, 0.0, 0.02 * (f - 2)) if k == 0 else (sx * 0.025, 0, 0))
                prev = len(names) - 1
        foot = names.index(f"{side}_Foot")
        names.append(f"{side}_Toe")
        parents.append(foot)
        offsets.append((0.0, 0.0, 0.05))
    head = names.index("Head")
    for n, off in (("Jaw", (0, -0.03, 0.06)), ("L_Eye", (0.03, 0.05, 0.07)),
                   ("R_Eye", (-0.03, 0.05, 0.07)), ("HeadTop", (0, 0.15, 0))):  # fmt: skip
        names.append(n)
        parents.append(head)
        offsets.append(off)
    assert len(names) == 60
    return Skeleton(names, np.array(parents), np.array(offsets, dtype=np.float64))


def motion(sk: Skeleton, seed: int = 0) -> MotionClip:
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 30.0
    J = sk.n_joints
    freq = rng.uniform(0.2, 2.0, (J, 3))
    phase = rng.uniform(0, 2 * np.pi, (J, 3))
    amp = rng.uniform(0.1, 0.8, (J, 3))
    rotvec = amp * np.sin(2 * np.pi * freq * t[:, None, None] + phase)
    rotvec += rng.normal(0, 0.02, rotvec.shape)  # mocap-like jitter
    root = np.stack([np.sin(0.3 * t), 0.9 + 0.05 * np.sin(2 * t), 0.2 * t], axis=-1)
    return MotionClip(sk, R.axis_angle_to_quat(rotvec), root, 30.0, "bench")


def timeit(fn, runs: int = RUNS) -> list[float]:
    fn()  # warm-up (caches, page faults)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def machine_baseline() -> None:
    a = np.ones(10_000_000)
    b = a * 1.0001 + 0.5
    m = np.ones((512, 512))
    _ = m @ m
    del b


def rowloop_banded_solve(y: np.ndarray, lam: float) -> np.ndarray:
    """Textbook banded Cholesky solve, one Python iteration per frame (the baseline)."""
    lb = S._banded_cholesky(S.third_difference_bands(y.shape[0], lam))
    n = y.shape[0]
    z = np.empty_like(y)
    for i in range(n):
        acc = y[i].copy()
        for k in (1, 2, 3):
            if i - k >= 0:
                acc -= lb[k, i] * z[i - k]
        z[i] = acc / lb[0, i]
    x = np.empty_like(y)
    for i in range(n - 1, -1, -1):
        acc = z[i].copy()
        for k in (1, 2, 3):
            if i + k < n:
                acc -= lb[k, i + k] * x[i + k]
        x[i] = acc / lb[0, i]
    return x


def main() -> int:
    sk = skeleton60()
    clip = motion(sk)
    rot, root = clip.rotations, clip.root_positions
    sixd = R.quat_to_sixd(rot)
    lam = S.strength_to_lambda(0.5, clip.fps)
    channels = np.concatenate([sixd.reshape(T, -1), root], axis=1)

    results: dict[str, list[float]] = {}
    results["machine_baseline"] = timeit(machine_baseline)
    results["fk"] = timeit(lambda: forward_kinematics(sk, rot, root))
    results["quat_to_sixd"] = timeit(lambda: R.quat_to_sixd(rot))
    results["sixd_to_quat"] = timeit(lambda: R.sixd_to_quat(sixd))
    # worst case for the w-branch fast path: uniformly random rotations (3/4 of them over 120°)
    sixd_u = R.quat_to_sixd(R.quat_normalize(np.random.default_rng(1).normal(size=(T, 60, 4))))
    results["sixd_to_quat_uniform_random"] = timeit(lambda: R.sixd_to_quat(sixd_u))
    results["smooth_clip"] = timeit(lambda: S.smooth_clip(clip, 0.5))
    results["jerk_smooth_363ch"] = timeit(lambda: S.jerk_smooth(channels, lam))

    def cold():
        S._cache.clear()
        S.jerk_smooth(channels, lam)

    results["jerk_smooth_363ch_cold"] = timeit(cold)
    results["banded_factor_only"] = timeit(lambda: S._Factor(T, lam))
    results["rowloop_baseline_363ch"] = timeit(lambda: rowloop_banded_solve(channels, lam), runs=3)
    results["bvh_read_3mb"] = timeit(lambda: read_bvh(BVH_PATH))

    # correctness spot checks (not timed)
    ref = rowloop_banded_solve(channels[:, :8], lam)
    solve_err = float(np.max(np.abs(S.jerk_smooth(channels[:, :8], lam) - ref)))
    sx_err = float(np.max(R.quat_angle(R.sixd_to_quat(sixd), rot)))

    med = {k: statistics.median(v) for k, v in results.items()}
    base = med["machine_baseline"]
    rows = []
    for k, v in results.items():
        target = TARGETS_MS.get(k)
        rows.append(
            {
                "name": k,
                "median_ms": round(med[k], 3),
                "runs_ms": [round(x, 3) for x in v],
                "target_ms": target,
                "meets_target": None if target is None else med[k] <= target,
                "ratio_to_machine_baseline": round(med[k] / base, 3),
            }
        )
    info = {
        "frames": T,
        "joints": sk.n_joints,
        "smoothing_channels": int(channels.shape[1]),
        "smoothing_lambda": lam,
        "bvh_file": os.path.basename(BVH_PATH),
        "bvh_bytes": os.path.getsize(BVH_PATH),
        "block_solve_speedup_vs_rowloop": round(
            med["rowloop_baseline_363ch"] / med["jerk_smooth_363ch"], 2
        ),
        "block_vs_rowloop_max_abs_diff": solve_err,
        "sixd_round_trip_max_angle_rad": sx_err,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "runs": RUNS,
    }
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "core.json"), "w") as fh:
        json.dump({"info": info, "results": rows}, fh, indent=2)

    print(f"motion core bench: {T} frames x {sk.n_joints} joints, median of {RUNS} runs")
    print(f"{'name':28s} {'median ms':>10s} {'target':>8s} {'ok':>4s} {'x base':>7s}")
    for r in rows:
        t = "" if r["target_ms"] is None else f"{r['target_ms']:.0f}"
        ok = "" if r["meets_target"] is None else ("yes" if r["meets_target"] else "NO")
        print(
            f"{r['name']:28s} {r['median_ms']:10.2f} {t:>8s} {ok:>4s} "
            f"{r['ratio_to_machine_baseline']:7.2f}"
        )
    print(
        f"block solve is {info['block_solve_speedup_vs_rowloop']}x the per-frame loop; "
        f"max diff {solve_err:.2e}; load average {info['load_average']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
