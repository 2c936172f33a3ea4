"""Retarget speed: 10,000 frames onto a 60-bone target, transfer + smoothing (median of runs).

Also records the accuracy numbers (limb direction error, foot contact stats on CMU salsa 60_01).
Writes bench/results/retarget.json. Run: python bench/bench_retarget.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from retarget.synth_rigs import make_target  # noqa: E402

from dance_ai_addon.core.bvh import load_bvh_clip  # noqa: E402
from dance_ai_addon.core.clip import MotionClip  # noqa: E402
from dance_ai_addon.core.retarget import (  # noqa: E402
    RetargetOptions,
    detect_mapping,
    pose_world,
    retarget,
    to_canonical,
)
from dance_ai_addon.core.retarget.quality import (  # noqa: E402
    foot_contact_stats,
    limb_direction_errors,
    y_up_to_z_up,
)
from dance_ai_addon.core.skeleton import Skeleton, forward_kinematics  # noqa: E402


def _target_60():
    sk, _ = make_target("ue", 45.0, seed=11)
    n = sk.n_joints
    extra = 60 - n  # pad with finger-like unmapped bones under the hands
    names, parents = list(sk.names), list(sk.parents)
    offs, rest = list(sk.offsets), list(sk.rest_rotations)
    hands = [sk.names.index("hand_l"), sk.names.index("hand_r")]
    for i in range(extra):
        names.append(f"finger_{i:02d}")
        parents.append(hands[i % 2] if i < 2 else len(names) - 3)
        offs.append(np.array([0.0, 0.03, 0.0]))
        rest.append(np.array([1.0, 0.0, 0.0, 0.0]))
    return Skeleton(names, np.array(parents), np.array(offs), np.array(rest))


def main() -> None:
    salsa = load_bvh_clip(ROOT / "tests/data/cmu_60_01_sl60.bvh")
    sm = detect_mapping(salsa.skeleton.names, salsa.skeleton.parents)
    canon = to_canonical(salsa, sm)
    reps = int(np.ceil(10_000 / canon.n_frames))
    rot = np.concatenate([canon.rotations] * reps)[:10_000]
    root = np.concatenate([canon.root_positions] * reps)[:10_000]
    big = MotionClip(canon.skeleton, rot, root, canon.fps, "bench")
    tgt = _target_60()
    tm = detect_mapping(tgt.names, tgt.parents)
    out: dict = {"frames": 10_000, "target_bones": tgt.n_joints}
    # the machine is shared: record its load, and a same-process baseline (one plain FK pass of
    # the 60-bone target over the 10k frames) so the retarget numbers can be read as ratios
    out["machine_load"] = {"loadavg_start": list(os.getloadavg()), "cpu_count": os.cpu_count()}
    rng = np.random.default_rng(0)
    q_rand = rng.normal(size=(10_000, tgt.n_joints, 4))
    q_rand /= np.linalg.norm(q_rand, axis=-1, keepdims=True)
    zeros = np.zeros((10_000, 3))
    base = []
    for _ in range(9):
        t0 = time.perf_counter()
        forward_kinematics(tgt, q_rand, zeros)
        base.append(time.perf_counter() - t0)
    out["baseline_fk_60_bones_median_s"] = statistics.median(base)
    for label, opt in {
        "transfer_smooth": RetargetOptions(smooth_strength=0.5, foot_cleanup=False),
        "transfer_only": RetargetOptions(foot_cleanup=False),
        "transfer_smooth_feet": RetargetOptions(smooth_strength=0.5, foot_cleanup=True),
    }.items():
        times, parts = [], []
        for _ in range(9):
            t0 = time.perf_counter()
            res = retarget(big, None, tgt, tm, opt)
            times.append(time.perf_counter() - t0)
            parts.append(res.timings)
        out[label + "_median_s"] = statistics.median(times)
        out[label + "_parts_median_s"] = {
            k: statistics.median(p[k] for p in parts) for k in parts[0]
        }
        out[label + "_vs_baseline_fk"] = (
            out[label + "_median_s"] / out["baseline_fk_60_bones_median_s"]
        )
    # to_canonical speed on the real take
    t = []
    for _ in range(5):
        t0 = time.perf_counter()
        to_canonical(salsa, sm)
        t.append(time.perf_counter() - t0)
    out["to_canonical_salsa_frames"] = salsa.n_frames
    out["to_canonical_salsa_median_s"] = statistics.median(t)
    # accuracy on salsa: limb directions (no cleanup) and feet (cleanup)
    tgt2, _ = make_target("mixamo", 45.0, seed=4)
    tm2 = detect_mapping(tgt2.names, tgt2.parents)
    sp, _ = salsa.world()
    sidx = {j: salsa.skeleton.names.index(b) for j, b in sm.bones.items()}
    tidx = {j: tgt2.index(b) for j, b in tm2.bones.items()}
    for cleanup in (False, True):
        res = retarget(salsa, sm, tgt2, tm2, RetargetOptions(foot_cleanup=cleanup))
        wp, _ = pose_world(
            tgt2, res.clip.rotations, None, tgt2.index(res.root_bone), res.root_location
        )
        key = "cleanup" if cleanup else "no_cleanup"
        out[f"salsa_limb_error_deg_{key}"] = limb_direction_errors(y_up_to_z_up(sp), sidx, wp, tidx)
        if cleanup:
            feet = ("L_Ankle", "R_Ankle", "L_Foot", "R_Foot")
            c = np.stack([res.contacts[n] for n in feet], axis=1)
            out["salsa_feet_cleanup"] = foot_contact_stats(
                wp[:, [tidx[n] for n in feet]], c, salsa.fps
            )
    out["machine_load"]["loadavg_end"] = list(os.getloadavg())
    (ROOT / "bench/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench/results/retarget.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
