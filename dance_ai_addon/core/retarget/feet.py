"""Foot contacts and foot-skate cleanup.

Contacts are read from the source (low and slow feet). On the target, each foot is pinned at
its contact position while in contact and kept above the floor always; a vectorised analytic
two-bone IK per leg (hip-knee-ankle) moves the ankle there, keeping the knee's bend plane and
the foot's world orientation, blended in and out with a smoothstep over a few frames.
"""

from __future__ import annotations

import numpy as np

from ..clip import MotionClip
from ..rotations import (
    matrix_to_quat,
    quat_apply,
    quat_conj,
    quat_mul,
    quat_slerp,
)

__all__ = ["detect_contacts", "cleanup", "two_bone_ik", "contact_weights"]

_UP = {"X": 0, "Y": 1, "Z": 2, 0: 0, 1: 1, 2: 2}


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) indices of True runs in a 1-D bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]


def _hysteresis(strict: np.ndarray, loose: np.ndarray) -> np.ndarray:
    """Runs of ``loose`` that contain at least one ``strict`` frame (1-D)."""
    starts, stops = _runs(loose)
    if len(starts) == 0:
        return np.zeros_like(loose)
    c = np.concatenate([[0], np.cumsum(strict & loose)])
    keep = (c[stops] - c[starts]) > 0
    out = np.zeros(len(loose) + 1, dtype=np.int64)
    np.add.at(out, starts[keep], 1)
    np.add.at(out, stops[keep], -1)
    return np.cumsum(out)[:-1] > 0


def _min_duration(mask: np.ndarray, min_on: int, max_gap: int) -> np.ndarray:
    """Close gaps shorter than ``max_gap`` frames, then drop runs shorter than ``min_on``."""
    m = mask.copy()
    if max_gap > 0:
        gs, ge = _runs(~m)
        inner = (gs > 0) & (ge < len(m)) & (ge - gs <= max_gap)
        for a, b in zip(gs[inner], ge[inner]):
            m[a:b] = True
    s, e = _runs(m)
    for a, b in zip(s, e):
        if b - a < min_on:
            m[a:b] = False
    return m


def detect_joint_contacts(
    positions: np.ndarray,
    fps: float,
    up_axis: str | int = "Y",
    scale: float = 1.0,
    height_tol: float = 0.05,
    speed_tol: float = 0.35,
) -> np.ndarray:
    """Contact flags (T, K) for K foot joints: near the joint's own floor level and slow.

    ``scale`` = units per meter; thresholds are meters and meters/second (hysteresis: a contact
    starts under the thresholds and lasts while under 1.6x them; runs under 0.08 s are dropped).
    """
    pos = np.asarray(positions, dtype=np.float64)
    T = pos.shape[0]
    up = _UP[up_axis]
    hor = [a for a in range(3) if a != up]
    h = pos[..., up]
    floor = np.percentile(h, 5.0, axis=0)
    rel = (h - floor[None]) / scale
    if T > 1:
        v = np.gradient(pos[..., hor], axis=0) * fps
        speed = np.linalg.norm(v, axis=-1) / scale
    else:
        speed = np.zeros_like(rel)
    strict = (rel < height_tol) & (speed < speed_tol)
    loose = (rel < 1.6 * height_tol) & (speed < 1.6 * speed_tol)
    min_on = max(1, int(round(0.08 * fps)))
    gap = max(0, int(round(0.04 * fps)))
    out = np.zeros_like(strict)
    for k in range(pos.shape[1]):
        out[:, k] = _min_duration(_hysteresis(strict[:, k], loose[:, k]), min_on, gap)
    return out


def detect_contacts(
    positions: np.ndarray, fps: float, up_axis: str | int = "Y", scale: float = 1.0
) -> np.ndarray:
    """Per-foot contact flags (T, n_feet) from (T, 2, 3) ankles or (T, 4, 3) ankles + toes
    (order L_Ankle, R_Ankle, L_Foot, R_Foot): a foot is in contact when its heel or toe is."""
    pos = np.asarray(positions, dtype=np.float64)
    c = detect_joint_contacts(pos, fps, up_axis, scale)
    if pos.shape[1] == 4:
        return c[:, :2] | c[:, 2:]
    return c


def contact_weights(mask: np.ndarray, blend: int) -> np.ndarray:
    """1 inside contacts, smoothstep ramps over ``blend`` frames outside them (1-D)."""
    T = len(mask)
    if not mask.any():
        return np.zeros(T)
    idx = np.arange(T)
    last = np.where(mask, idx, -(10**9))
    last = np.maximum.accumulate(last)
    nxt = np.where(mask, idx, 10**9)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    d = np.minimum(idx - last, nxt - idx).astype(np.float64)
    x = np.clip(1.0 - d / max(blend, 1), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _pin_targets(pos: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per frame, the position the joint is pinned to: the mean over its contact run."""
    out = pos.copy()
    s, e = _runs(mask)
    for a, b in zip(s, e):
        out[a:b] = pos[a:b].mean(axis=0)
    return out


def _hold_rotation(q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per frame, the rotation held during its run of ``mask`` (the run's middle frame)."""
    out = q.copy()
    s, e = _runs(mask)
    for a, b in zip(s, e):
        out[a:b] = q[(a + b - 1) // 2]
    return out


def _frame(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Rotation matrices with columns (d, n x d, n) orthonormalised (d primary)."""
    x = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    z = n - np.sum(n * x, axis=-1, keepdims=True) * x
    z = z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def two_bone_ik(
    hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Analytic two-bone IK, vectorised over frames (all (T, 3)).

    Returns (thigh_delta, shin_delta, new_knee, new_ankle): world rotations to pre-multiply the
    thigh and shin world rotations with. The bend plane (normal hip->knee x knee->ankle) is kept.
    """
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
    to = target - hip
    d = np.linalg.norm(to, axis=-1)
    d = np.clip(d, np.abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    u = to / np.maximum(np.linalg.norm(to, axis=-1, keepdims=True), 1e-12)
    n = np.cross(knee - hip, ankle - knee)
    bad = np.linalg.norm(n, axis=-1) < 1e-9 * np.maximum(l1 * l2, 1e-12)
    if np.any(bad):  # straight leg: bend forward-ish using any axis perpendicular to the leg
        alt = np.cross(u, np.array([0.0, 1.0, 0.0]))
        alt2 = np.cross(u, np.array([0.0, 0.0, 1.0]))
        alt = np.where(np.linalg.norm(alt, axis=-1, keepdims=True) > 1e-6, alt, alt2)
        n = np.where(bad[:, None], alt, n)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    # keep the plane: n ⟂ u
    n = n - np.sum(n * u, axis=-1, keepdims=True) * u
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
    cos_a = np.clip((l1**2 + d**2 - l2**2) / (2 * l1 * d), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a**2)
    perp = np.cross(n, u)  # in-plane, perpendicular to u; knee bends to this side
    # choose the side the knee is on now
    side = np.sign(np.sum((knee - hip) * perp, axis=-1, keepdims=True))
    side = np.where(side == 0, 1.0, side)
    new_knee = hip + l1[:, None] * (cos_a[:, None] * u + side * sin_a[:, None] * perp)
    new_ankle = hip + d[:, None] * u
    n_old = np.cross(knee - hip, ankle - knee)
    n_old = np.where(bad[:, None], n, n_old)
    n_new = np.cross(new_knee - hip, new_ankle - new_knee)
    n_new = np.where(np.linalg.norm(n_new, axis=-1, keepdims=True) > 1e-12, n_new, n_old)
    f_old = _frame(knee - hip, n_old)
    f_new = _frame(new_knee - hip, n_new)
    thigh = matrix_to_quat(f_new @ np.swapaxes(f_old, -1, -2))
    g_old = _frame(ankle - knee, n_old)
    g_new = _frame(new_ankle - new_knee, n_new)
    shin = matrix_to_quat(g_new @ np.swapaxes(g_old, -1, -2))
    return thigh, shin, new_knee, new_ankle


def cleanup(
    world_pos: np.ndarray,
    world_rot: np.ndarray,
    legs: list[tuple[int, int, int, int | None]],
    contacts: np.ndarray,
    clearance: np.ndarray,
    fps: float,
    up_axis: int = 1,
    blend_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Foot-skate and floor-penetration fix on world data (floor at height 0).

    ``legs``: per foot (hip, knee, ankle, toe-or-None) joint indices; ``contacts`` (T, n_feet)
    per foot, or (T, 2 * n_feet) ankles then toes (the toe is pinned while only it is down);
    ``clearance`` (n_feet, 2): the ankle and toe heights when the foot stands flat. Returns the new
    world rotations (thigh, shin and held feet changed), the ankle positions reached
    (T, n_feet, 3) and the hips shift (T, 3) to add to the root (non-zero where a leg could not
    reach its target).
    """
    wr = world_rot.copy()
    T = world_pos.shape[0]
    reached = np.zeros((T, len(legs), 3))
    blend = max(1, int(round(blend_s * fps)))
    targets = []
    for f, (_hi, _ki, ai, ti) in enumerate(legs):
        ankle = world_pos[:, ai]
        c_heel = contacts[:, f]
        c_toe = contacts[:, len(legs) + f] if contacts.shape[1] == 2 * len(legs) else None
        if c_toe is not None and ti is not None:
            toe = world_pos[:, ti]
            c = c_heel | c_toe
            starts, stops = _runs(c)
            # flat foot (heel and toe down): hold one foot orientation per contact run, from its
            # first to its last flat frame, so the toe stays put
            flat = c_heel & c_toe
            hold_mask = np.zeros(T, dtype=bool)
            q_cur = wr[:, ai].copy()
            q_hold = q_cur.copy()
            for s0, s1 in zip(starts, stops):
                fl = np.nonzero(flat[s0:s1])[0]
                if fl.size:
                    f0, f1 = s0 + fl[0], s0 + fl[-1] + 1
                    hold_mask[f0:f1] = True
                    q_hold[f0:f1] = q_cur[(f0 + f1 - 1) // 2]
            v = toe - ankle
            if hold_mask.any():
                wgt = contact_weights(hold_mask, blend)
                # outside hold runs slerp towards the nearest held value
                idx = np.arange(T)
                last = np.maximum.accumulate(np.where(hold_mask, idx, 0))
                nxt = np.minimum.accumulate(np.where(hold_mask, idx, T - 1)[::-1])[::-1]
                near = np.where(np.abs(idx - last) <= np.abs(nxt - idx), last, nxt)
                q_new = quat_slerp(q_cur, q_hold[near], wgt)
                wr[:, ai] = q_new
                v = quat_apply(quat_mul(q_new, quat_conj(q_cur)), v)
            pinned = toe - v  # = ankle outside contacts (with the held orientation)
            # one anchor per run: the ankle while the heel is down, the toe (where the held foot
            # puts it) otherwise, so heel-strike -> flat -> toe-off stays continuous
            for s0, s1 in zip(starts, stops):
                heel = c_heel[s0:s1]
                seg = pinned[s0:s1]
                if heel.any():
                    a_star = ankle[s0:s1][heel].mean(axis=0)
                    seg[heel] = a_star
                    hs = np.nonzero(heel)[0]
                    before = np.arange(s1 - s0) < hs[0]
                    after = np.arange(s1 - s0) > hs[-1]
                    seg[before] = (a_star + v[s0 + hs[0]]) - v[s0:s1][before]
                    seg[after] = (a_star + v[s0 + hs[-1]]) - v[s0:s1][after]
                    mid = ~heel & ~before & ~after
                    seg[mid] = a_star
                else:
                    seg[:] = toe[s0:s1].mean(axis=0) - v[s0:s1]
        else:
            c = c_heel
            pinned = _pin_targets(ankle, c)
        w = contact_weights(c, blend)[:, None]
        target = ankle + w * (pinned - ankle)
        # floor: neither the ankle nor the toe below 0 (the foot keeps its orientation)
        lift = np.maximum(0.0, -target[:, up_axis])
        if ti is not None:
            toe = world_pos[:, ti] + (target - ankle)
            lift = np.maximum(lift, -toe[:, up_axis])
        target[:, up_axis] += lift
        targets.append(target)
    # legs too short for their targets (straight legs in contact): lower the hips just enough
    drop = np.zeros(T)
    for f, (hi, ki, ai, _ti) in enumerate(legs):
        hip = world_pos[:, hi]
        reach = 0.999 * (
            np.linalg.norm(world_pos[:, ki] - hip, axis=-1)
            + np.linalg.norm(world_pos[:, ai] - world_pos[:, ki], axis=-1)
        )
        v = targets[f] - hip
        hor = np.sum(np.delete(v, up_axis, axis=-1) ** 2, axis=-1)
        need = np.where(
            np.sum(v * v, axis=-1) > reach**2,
            -v[:, up_axis] - np.sqrt(np.maximum(reach**2 - hor, 0.0)),
            0.0,
        )
        drop = np.maximum(drop, np.maximum(need, 0.0))
    if drop.any():
        k = max(1, blend)
        # widen and smooth the drop so it eases in and out
        pad = np.concatenate([np.full(k, drop[0]), drop, np.full(k, drop[-1])])
        win = np.lib.stride_tricks.sliding_window_view(pad, 2 * k + 1).max(axis=1)
        c = np.concatenate(
            [[0.0], np.cumsum(np.concatenate([np.full(k, win[0]), win, np.full(k, win[-1])]))]
        )
        drop = (c[2 * k + 1 :] - c[: -(2 * k + 1)]) / (2 * k + 1)
        drop = drop[:T]
    shift = np.zeros((T, 3))
    shift[:, up_axis] = -drop
    for f, (hi, ki, ai, _ti) in enumerate(legs):
        dq_thigh, dq_shin, _, new_ankle = two_bone_ik(
            world_pos[:, hi] + shift,
            world_pos[:, ki] + shift,
            world_pos[:, ai] + shift,
            targets[f],
        )
        wr[:, hi] = quat_mul(dq_thigh, wr[:, hi])
        wr[:, ki] = quat_mul(dq_shin, wr[:, ki])
        reached[:, f] = new_ankle
    return wr, reached, shift


def cleanup_retarget(
    clip: MotionClip,
    root_location: np.ndarray,
    root_bone: int,
    tidx: dict[str, int],
    canon_pos: np.ndarray,
    G: np.ndarray,
    s_world: float,
    t_c: np.ndarray,
    scale: float,
    rest_pos: np.ndarray,
    foot_names: list[str],
) -> tuple[MotionClip, np.ndarray, dict[str, np.ndarray]]:
    """The retarget's foot pass: contacts from the canonical source, IK on the target legs."""
    from ..skeleton import SMPL24_NAMES
    from .transfer import _continuity_j, _driven, _driven_locals, _to_j, pose_world

    J = {n: i for i, n in enumerate(SMPL24_NAMES)}
    cj = [J[n] for n in ("L_Ankle", "R_Ankle", "L_Foot", "R_Foot")]
    per_joint = detect_joint_contacts(canon_pos[:, cj], clip.fps, "Y", 1.0)
    foot_contact = per_joint[:, :2] | per_joint[:, 2:]
    contacts = {"L": foot_contact[:, 0], "R": foot_contact[:, 1]}
    for k, n in enumerate(("L_Ankle", "R_Ankle", "L_Foot", "R_Foot")):
        contacts[n] = per_joint[:, k]
    target = clip.skeleton
    Gi = quat_conj(G)
    wp, wr = pose_world(target, clip.rotations, None, root_bone, root_location)
    wp_c = quat_apply(Gi, wp) * s_world + t_c
    wr_c = quat_mul(Gi, wr)
    legs = []
    for s in "LR":
        toe = tidx.get(s + "_Foot")
        legs.append((tidx[s + "_Hip"], tidx[s + "_Knee"], tidx[s + "_Ankle"], toe))
    new_wr_c, _, shift_c = cleanup(wp_c, wr_c, legs, per_joint, np.zeros((2, 2)), clip.fps, 1)
    # hips shift (canonical-aligned world) -> armature -> root bone's location frame
    shift_arm = quat_apply(G, shift_c) / s_world
    par = int(target.parents[root_bone])
    frame = target.rest_rotations[root_bone][None]
    if par >= 0:
        frame = quat_mul(wr[:, par], target.rest_rotations[root_bone])
    root_location = root_location + quat_apply(quat_conj(frame), shift_arm)
    # rebuild locals: mapped bones take their (possibly IK-changed) world rotations
    # (only the mapped bones' locals are computed; the others keep an identity pose)
    bones = np.array(sorted(set(tidx.values())), dtype=np.int64)
    plan = _driven(target, bones)
    local_m = _continuity_j(_driven_locals(plan, _to_j(quat_mul(G, new_wr_c[:, bones]))))
    local = np.zeros(clip.rotations.shape)
    local[..., 0] = 1.0
    local[:, bones] = local_m.transpose(2, 0, 1)
    out = MotionClip(target, local, clip.root_positions + shift_arm, clip.fps, clip.name)
    return out, root_location, contacts
