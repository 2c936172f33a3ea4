"""Bake throughput: bulk ``foreach_set`` writer vs a per-frame ``keyframe_insert`` loop.

Run: ``.venv/bin/python bench/bench_bake.py [--bones 56] [--frames 3000] [--repeats 7]
[--skip-insert] [--skip-transfer]``. Writes ``bench/results/bake.json``.

Both writers put the same keys (rotation_quaternion for every bone + location for the root) on
the same armature in the same process. The bulk bake runs once untimed (the first bake of a
process pays for fresh memory pages; reported as ``cold_seconds``), then ``--repeats`` timed
runs: keys/s is keys / median seconds. A per-step breakdown of the writer (F-curve creation,
``add``, each ``foreach_set``, ``update``) shows where the time goes. The load average is
recorded before and after, since the machine may be shared: compare runs only at similar load.
The keyframe_insert loop runs once (about two minutes); ``--skip-insert`` leaves it out when only
the bulk throughput is re-measured (the JSON then has no speedup). Also times the core transfer +
smoothing + foot cleanup for 10,000 frames x 60 bones, and the bake of that result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import bpy  # noqa: E402

from dance_ai_addon.blender import bake, compat  # noqa: E402


def _fresh_rig(n_bones: int) -> bpy.types.Object:
    """A humanoid-sized chain tree of ``n_bones`` bones (root + 5 branches)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    arm = bpy.data.armatures.new("Bench")
    obj = bpy.data.objects.new("Bench", arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    root = arm.edit_bones.new("b000")
    root.head, root.tail = (0, 0, 1), (0, 0, 1.1)
    branch_tips = [root] * 5
    for i in range(1, n_bones):
        k = i % 5
        parent = branch_tips[k]
        eb = arm.edit_bones.new(f"b{i:03d}")
        eb.head = parent.tail
        eb.tail = (parent.tail[0] + 0.02 * (k - 2), parent.tail[1], parent.tail[2] + 0.05)
        eb.parent = parent
        branch_tips[k] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _random_quats(rng, t, b):
    q = rng.normal(size=(t, b, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _load() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen, "cpus": os.cpu_count()}


def bench_bulk(n_bones: int, n_frames: int, repeats: int) -> dict:
    """Full ``bake_pose_arrays`` (arrays in, new action with every key out), median of runs."""
    rng = np.random.default_rng(0)
    obj = _fresh_rig(n_bones)
    bones = [pb.name for pb in obj.pose.bones]
    rot = _random_quats(rng, n_frames, n_bones)
    loc = rng.normal(size=(n_frames, 3))
    times = []
    for r in range(repeats + 1):
        t0 = time.perf_counter()
        info = bake.bake_pose_arrays(obj, bones, rot, bones[0], loc, "Bench bulk", 1)
        times.append(time.perf_counter() - t0)
        act = info.action
        if r == 0:  # the bake must hold the values it was given, bit for bit (float32)
            path = f'pose.bones["{bones[1]}"].rotation_quaternion'
            fc = next(
                f for f in compat.fcurves_of(act, obj) if f.data_path == path and f.array_index == 1
            )
            co = np.empty(2 * n_frames, dtype=np.float32)
            fc.keyframe_points.foreach_get("co", co)
            assert np.array_equal(co[1::2], rot[:, 1, 1].astype(np.float32)), "bake mismatch"
        compat.assign_action(obj, None)
        bpy.data.actions.remove(act)
    cold, times = times[0], times[1:]
    keys = info.n_keys
    med = statistics.median(times)
    return {
        "keys": keys,
        "seconds_median": med,
        "seconds_min": min(times),
        "seconds_all": times,
        "cold_seconds": cold,
        "keys_per_s": keys / med,
        "keys_per_s_best": keys / min(times),
    }


def bench_steps(n_bones: int, n_frames: int, repeats: int) -> dict:
    """Seconds per writer step over all F-curves (median of runs): where the bulk time goes."""
    from bpy_extras import anim_utils  # noqa: F401  (imported by compat on 5.x; warm it)

    rng = np.random.default_rng(1)
    obj = _fresh_rig(n_bones)
    bones = [pb.name for pb in obj.pose.bones]
    specs = [(f'pose.bones["{b}"].rotation_quaternion', i, b) for b in bones for i in range(4)]
    co = np.empty((len(specs), n_frames, 2), dtype=np.float32)
    co[:, :, 0] = np.arange(1, n_frames + 1)
    co[:, :, 1] = rng.normal(size=(len(specs), n_frames))
    rows = co.reshape(len(specs), -1)
    ival = compat.keyframe_interpolation_value("LINEAR")
    interp_np = np.full(n_frames, ival, dtype=np.int32)
    interp_mv = memoryview(interp_np)
    steps: dict[str, list[float]] = {}

    def timed(name, fn, curves):
        t0 = time.perf_counter()
        for c, fc in enumerate(curves):
            fn(c, fc)
        steps.setdefault(name, []).append(time.perf_counter() - t0)

    for _ in range(repeats + 1):
        action = compat.new_action("Bench steps")
        compat.assign_action(obj, action)
        t0 = time.perf_counter()
        curves = compat.new_fcurves(action, obj, specs)
        steps.setdefault("create_fcurves", []).append(time.perf_counter() - t0)
        timed("add", lambda c, fc: fc.keyframe_points.add(n_frames), curves)
        timed("set_co", lambda c, fc: fc.keyframe_points.foreach_set("co", rows[c]), curves)
        timed(
            "set_interpolation_numpy",
            lambda c, fc: fc.keyframe_points.foreach_set("interpolation", interp_np),
            curves,
        )
        timed(
            "set_interpolation_memoryview",
            lambda c, fc: fc.keyframe_points.foreach_set("interpolation", interp_mv),
            curves,
        )
        timed("update", lambda c, fc: fc.update(), curves)
        compat.assign_action(obj, None)
        bpy.data.actions.remove(action)
    out = {k: statistics.median(v[1:]) for k, v in steps.items()}  # first run is cold
    out["keys"] = len(specs) * n_frames
    return out


def bench_keyframe_insert(n_bones: int, n_frames: int) -> dict:
    rng = np.random.default_rng(0)
    obj = _fresh_rig(n_bones)
    pbs = list(obj.pose.bones)
    rot = _random_quats(rng, n_frames, n_bones)
    loc = rng.normal(size=(n_frames, 3))
    for pb in pbs:
        pb.rotation_mode = "QUATERNION"
    obj.animation_data_create().action = compat.new_action("Bench insert")
    t0 = time.perf_counter()
    for f in range(n_frames):
        for b, pb in enumerate(pbs):
            pb.rotation_quaternion = rot[f, b]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1, group=pb.name)
        pbs[0].location = loc[f]
        pbs[0].keyframe_insert("location", frame=f + 1, group=pbs[0].name)
    dt = time.perf_counter() - t0
    keys = n_frames * (n_bones * 4 + 3)
    return {"keys": keys, "seconds": dt, "keys_per_s": keys / dt}


def bench_transfer(repeats: int) -> dict:
    """10,000 frames x 60 target bones: core retarget (+ smoothing, foot cleanup) and bake."""
    from dance_ai_addon.blender import armature
    from dance_ai_addon.core.bvh import load_bvh_clip
    from dance_ai_addon.core.clip import MotionClip
    from dance_ai_addon.core.retarget import RetargetOptions, detect_mapping, retarget
    from dance_ai_addon.core.skeleton import rest_pose_world

    bpy.ops.wm.open_mainfile(filepath=os.path.join(ROOT, "sample_rigs", "mixamo_tpose.blend"))
    obj = bpy.data.objects["mixamo_tpose"]
    # Grow the 22-bone rig to 60 with finger chains (unmapped bones are part of the work too).
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    ebs = obj.data.edit_bones
    slots = [(side, finger) for side in ("Left", "Right") for finger in range(5)]
    tips = {slot: ebs[f"mixamorig:{slot[0]}Hand"] for slot in slots}
    i = 0
    while len(ebs) < 60:  # finger chains, round robin, up to 60 bones in all
        slot = slots[i % len(slots)]
        parent = tips[slot]
        eb = ebs.new(f"mixamorig:{slot[0]}Hand_f{slot[1]}_{i // len(slots)}")
        eb.head = parent.tail
        eb.tail = eb.head + (parent.tail - parent.head).normalized() * 0.02
        eb.parent = parent
        tips[slot] = eb
        i += 1
    bpy.ops.object.mode_set(mode="OBJECT")
    skel, mw = armature.skeleton_from_armature(obj)
    tmap = detect_mapping(skel.names, skel.parents, rest_pose_world(skel)[0])
    src = load_bvh_clip(os.path.join(ROOT, "tests", "data", "cmu_60_01_sl60.bvh"))
    reps = int(np.ceil(10_000 / src.n_frames))
    src = MotionClip(
        src.skeleton,
        np.concatenate([src.rotations] * reps)[:10_000],
        np.concatenate([src.root_positions] * reps)[:10_000],
        src.fps,
        "salsa10k",
    )
    smap = detect_mapping(
        src.skeleton.names, src.skeleton.parents, rest_pose_world(src.skeleton)[0]
    )
    out = {"frames": src.n_frames, "target_bones": skel.n_joints}
    for label, opts in (
        ("transfer_smooth", RetargetOptions(smooth_strength=0.5, foot_cleanup=False)),
        ("transfer_smooth_feet", RetargetOptions(smooth_strength=0.5, foot_cleanup=True)),
    ):
        opts.target_world_matrix = mw
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = retarget(src, smap, skel, tmap, opts)
            times.append(time.perf_counter() - t0)
        out[f"{label}_seconds_median"] = statistics.median(times)
        out[f"{label}_core_timings"] = {k: round(v, 4) for k, v in result.timings.items()}
    names = list(skel.names)
    t0 = time.perf_counter()
    info = bake.bake_pose_arrays(
        obj, names, result.clip.rotations, result.root_bone, result.root_location, "B10k", 1
    )
    out["bake_all_bones_seconds"] = time.perf_counter() - t0
    out["bake_all_bones_keys"] = info.n_keys
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bones", type=int, default=56)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-insert", action="store_true",
                    help="leave out the keyframe_insert loop (no speedup in the JSON)")  # fmt: skip
    ap.add_argument("--skip-transfer", action="store_true",
                    help="leave out the 10k-frame transfer timing")  # fmt: skip
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "bake.json"))
    args = ap.parse_args(argv)

    load_before = _load()
    print(f"load before: {load_before}", flush=True)
    bulk = bench_bulk(args.bones, args.frames, args.repeats)
    print(f"bulk: {bulk['keys']} keys in {bulk['seconds_median']:.3f} s median "
          f"({bulk['keys_per_s'] / 1e6:.2f} M keys/s; best {bulk['keys_per_s_best'] / 1e6:.2f}, "
          f"cold {bulk['cold_seconds']:.3f} s)", flush=True)  # fmt: skip
    steps = bench_steps(args.bones, args.frames, args.repeats)
    print("writer steps (s): " + ", ".join(f"{k} {v:.4f}" for k, v in steps.items()), flush=True)
    result = {
        "blender": bpy.app.version_string,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "bones": args.bones,
        "frames": args.frames,
        "load_before": load_before,
        "bulk": bulk,
        "writer_steps_seconds": steps,
        "targets": {"speedup_min": 200.0, "bulk_keys_per_s_min": 3e6, "transfer_max_s": 0.25},
    }
    if not args.skip_insert:
        ins = bench_keyframe_insert(args.bones, args.frames)
        print(f"keyframe_insert: {ins['keys']} keys in {ins['seconds']:.1f} s "
              f"({ins['keys_per_s']:.0f} keys/s)", flush=True)  # fmt: skip
        result["keyframe_insert"] = ins
        result["speedup_same_keys"] = ins["seconds"] / bulk["seconds_median"]
    if not args.skip_transfer:
        transfer = bench_transfer(max(1, args.repeats // 2))
        print(json.dumps(transfer, indent=1), flush=True)
        result["transfer_10k_x_60"] = transfer
    result["load_after"] = _load()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1)
    if "speedup_same_keys" in result:
        print(f"speedup {result['speedup_same_keys']:.0f}x", flush=True)
    print(f"load after: {result['load_after']} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
