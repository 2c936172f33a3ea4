"""Rest-pose-aware motion transfer through the canonical SMPL-24 T-pose.

For a skeleton with a bone map we compute, per mapped canonical joint j, its world rotation in a
reference pose ``W_ref[j]`` (the rest pose, or a frame of the clip when the rest is unusable)
and an alignment ``A[j]`` that turns the reference pose into the canonical T-pose (limbs: the
bone's head -> next mapped joint direction onto the canonical direction, chained from the
parent's alignment so facing and rolls do not leak into twist; torso: a two-vector frame with
the character's left axis). Then

* source -> canonical:  ``C_t[j] = W_t[j] ⊗ (A[j] ⊗ W_ref[j])⁻¹``
* canonical -> target:  ``W'_t[j] = C_t[j] ⊗ A'[j] ⊗ W'_rest[j]``

and a final swing correction points every mapped bone exactly at its next mapped joint as the
source (or the canonical pose) has it, so unmapped in-between bones (twist, lowerneck, a
missing chest) cannot bend the result. Local rotations follow by walking the target hierarchy;
unmapped bones keep an identity pose. Nothing here depends on bone axes, rolls or rest poses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..clip import MotionClip
from ..errors import DanceAIError, RigError
from ..rotations import (
    matrix_to_quat,
    quat_apply,
    quat_between,
    quat_conj,
    quat_continuity,
    quat_identity,
    quat_mul,
    quat_normalize,
    sixd_to_quat,
)
from ..skeleton import SMPL24_NAMES, SMPL24_PARENTS, Skeleton, forward_kinematics, smpl24_skeleton
from .mapping import BoneMapping, check_required

__all__ = [
    "RetargetOptions",
    "RetargetResult",
    "to_canonical",
    "retarget",
    "pose_world",
    "leg_length",
    "CANONICAL_CLEARANCE",
    "Y_TO_Z",
]

_J = {n: i for i, n in enumerate(SMPL24_NAMES)}
_CPAR = {n: (SMPL24_NAMES[p] if p >= 0 else None) for n, p in zip(SMPL24_NAMES, SMPL24_PARENTS)}
_TORSO = ("Pelvis", "Spine1", "Spine2", "Spine3", "Neck", "Head")

# Where each canonical joint's bone points: the first MAPPED joint of the list.
_CHILD_CHAIN: dict[str, tuple[str, ...]] = {
    "Pelvis": (),  # the pelvis frame comes from the hips (left) + up
    "Spine1": ("Spine2", "Spine3", "Neck"),
    "Spine2": ("Spine3", "Neck"),
    "Spine3": ("Neck", "Head"),
    "Neck": ("Head",),
    "Head": (),
    "L_Hip": ("L_Knee",),
    "R_Hip": ("R_Knee",),
    "L_Knee": ("L_Ankle",),
    "R_Knee": ("R_Ankle",),
    "L_Ankle": ("L_Foot",),
    "R_Ankle": ("R_Foot",),
    "L_Foot": (),
    "R_Foot": (),
    "L_Collar": ("L_Shoulder",),
    "R_Collar": ("R_Shoulder",),
    "L_Shoulder": ("L_Elbow",),
    "R_Shoulder": ("R_Elbow",),
    "L_Elbow": ("L_Wrist",),
    "R_Elbow": ("R_Wrist",),
    "L_Wrist": ("L_Hand",),
    "R_Wrist": ("R_Hand",),
    "L_Hand": (),
    "R_Hand": (),
}

# Canonical (SMPL) ground clearance of the foot joints in the T-pose, meters: the skeleton has
# no soles, so the floor sits this far below the joints when the foot is flat.
CANONICAL_CLEARANCE = {"Ankle": 0.10, "Foot": 0.05}

# Y-up (core) -> Z-up (Blender): (x, y, z) -> (x, -z, y), a +90 degree turn about X.
Y_TO_Z = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0])
_AXIS_Q = {
    "Y": quat_identity(),
    "Z": quat_conj(Y_TO_Z),  # Z-up data -> Y-up core
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _frame_quat(primary: np.ndarray, secondary: np.ndarray, order: str) -> np.ndarray:
    """Rotation whose columns are an orthonormal frame built from two vectors.

    ``order="yx"``: primary -> +Y, secondary (orthogonalised) -> +X. ``"xy"``: primary -> +X,
    secondary -> +Y. Batched over leading axes.
    """
    p = _unit(primary)
    s = secondary - np.sum(secondary * p, axis=-1, keepdims=True) * p
    s = _unit(s)
    if order == "yx":
        y, x = p, s
    else:
        x, y = p, s
    z = np.cross(x, y)
    m = np.stack([x, y, z], axis=-1)
    return matrix_to_quat(m)


def _parent_canon(j: str, mapped: set[str]) -> str | None:
    from .mapping import CANONICAL_PARENT

    p = CANONICAL_PARENT[j]
    while p is not None and p not in mapped:
        p = CANONICAL_PARENT[p]
    return p


def leg_length(pos: np.ndarray, idx: dict[str, int]) -> float:
    """Mean hip->knee->ankle length of both legs: the scale of a character (pose-independent)."""
    out = []
    for s in "LR":
        h, k, a = (
            pos[..., idx[s + "_Hip"], :],
            pos[..., idx[s + "_Knee"], :],
            pos[..., idx[s + "_Ankle"], :],
        )
        out.append(np.linalg.norm(k - h, axis=-1) + np.linalg.norm(a - k, axis=-1))
    return float(np.mean(out))


@dataclass
class _Rig:
    """A skeleton's mapped joints, their pointing targets and alignment to the canonical T-pose."""

    joints: list[str]  # mapped canonical joints, canonical order
    bone: np.ndarray  # (M,) bone index per mapped joint
    child: list[str | None]  # canonical joint each one points at (None: leaf)
    align: np.ndarray  # (M, 4) A[j]
    ref_rot: np.ndarray  # (M, 4) W_ref[j]
    ref_pos: np.ndarray  # (J, 3) reference head positions (canonical-aligned world)
    scale: float  # leg length


def _rig_from_reference(
    idx: dict[str, int],
    ref_pos: np.ndarray,
    ref_rot: np.ndarray,
    canon_pos: np.ndarray,
) -> _Rig:
    """Alignments A[j] for mapped joints from a reference pose (positions/rotations per bone)."""
    mapped = set(idx)
    joints = [j for j in SMPL24_NAMES if j in mapped]
    scale = leg_length(ref_pos, idx)
    eps = 1e-3 * scale
    cpos = {n: canon_pos[_J[n]] for n in SMPL24_NAMES}

    def rpos(n: str) -> np.ndarray:
        return ref_pos[idx[n]]

    left_hips_r = rpos("L_Hip") - rpos("R_Hip")
    left_sh_r = rpos("L_Shoulder") - rpos("R_Shoulder")
    left_hips_c = cpos["L_Hip"] - cpos["R_Hip"]
    left_sh_c = cpos["L_Shoulder"] - cpos["R_Shoulder"]
    up_r = np.array([0.0, 1.0, 0.0])

    child: dict[str, str | None] = {}
    for j in joints:
        c = None
        for cand in _CHILD_CHAIN[j]:
            if cand in mapped and np.linalg.norm(rpos(cand) - rpos(j)) > eps:
                c = cand
                break
        child[j] = c

    A: dict[str, np.ndarray] = {}
    for j in joints:
        if j == "Pelvis":
            # frame: left axis from the hips (rigid with the pelvis), up from the world
            fr = _frame_quat(left_hips_r, up_r, "xy")
            fc = _frame_quat(left_hips_c, np.array([0.0, 1.0, 0.0]), "xy")
            A[j] = quat_mul(fc, quat_conj(fr))
            continue
        p = _parent_canon(j, mapped)
        Ap = A[p] if p is not None else quat_identity()
        c = child[j]
        if j in _TORSO and c is not None:
            lr, lc = (left_hips_r, left_hips_c) if j == "Spine1" else (left_sh_r, left_sh_c)
            fr = _frame_quat(rpos(c) - rpos(j), lr, "yx")
            fc = _frame_quat(cpos[c] - cpos[j], lc, "yx")
            A[j] = quat_mul(fc, quat_conj(fr))
        elif c is not None:
            d_r = quat_apply(Ap, rpos(c) - rpos(j))
            A[j] = quat_mul(quat_between(d_r, cpos[c] - cpos[j]), Ap)
        else:
            A[j] = Ap
    bone = np.array([idx[j] for j in joints], dtype=np.int64)
    return _Rig(
        joints=joints,
        bone=bone,
        child=[child[j] for j in joints],
        align=np.stack([A[j] for j in joints]),
        ref_rot=ref_rot[bone],
        ref_pos=ref_pos,
        scale=scale,
    )


def _swing_pairs(rig: _Rig) -> list[tuple[int, str, str]]:
    """(column, from joint, to joint) of the direction each mapped joint's bone must point."""
    out = []
    for m, (j, c) in enumerate(zip(rig.joints, rig.child)):
        if j == "Pelvis":
            out.append((m, "R_Hip", "L_Hip"))
        elif c is not None:
            out.append((m, j, c))
    return out


def _swing_fix(
    C: np.ndarray,
    rig: _Rig,
    canon_pos: np.ndarray,
    target_pos: np.ndarray,
    idx_of,
    pairs: list[tuple[int, str, str]] | None = None,
) -> np.ndarray:
    """Point each joint's canonical bone exactly along the wanted world direction.

    ``C`` is (T, M, 4) canonical world rotations of the mapped joints; ``target_pos`` (T, K, 3)
    positions indexed by ``idx_of(name)``. Pelvis aligns its hip axis instead. ``pairs``
    (default: all of :func:`_swing_pairs`) limits the fix to those columns.
    """
    pairs = _swing_pairs(rig) if pairs is None else pairs
    if not pairs:
        return C
    cols_a = np.array([m for m, _, _ in pairs])
    ia = np.array([idx_of(a) for _, a, _ in pairs])
    ib = np.array([idx_of(b) for _, _, b in pairs])
    can_dirs = np.stack([canon_pos[_J[b]] - canon_pos[_J[a]] for _, a, b in pairs])
    want = target_pos[:, ib] - target_pos[:, ia]  # (T, K, 3)
    have = quat_apply(C[:, cols_a], can_dirs[None])
    ok = np.linalg.norm(want, axis=-1, keepdims=True) > 1e-9
    fix = quat_between(have, np.where(ok, want, have))
    C = C.copy()
    C[:, cols_a] = quat_mul(fix, C[:, cols_a])
    return C


# --------------------------------------------------------------------------------------------
# source side


def _detect_up(pos: np.ndarray, idx: dict[str, int]) -> str:
    """World up axis of a clip ("Y" or "Z") from the mean hips -> upper body direction."""
    top = (
        next(n for n in ("Neck", "Spine3", "Head", "Spine2", "Spine1") if n in idx)
        if any(n in idx for n in ("Neck", "Spine3", "Head", "Spine2", "Spine1"))
        else None
    )
    hips = 0.5 * (pos[:, idx["L_Hip"]] + pos[:, idx["R_Hip"]])
    if top is not None:
        v = np.mean(_unit(pos[:, idx[top]] - hips), axis=0)
    else:
        v = np.mean(_unit(hips - 0.5 * (pos[:, idx["L_Ankle"]] + pos[:, idx["R_Ankle"]])), axis=0)
    return "Z" if abs(v[2]) > abs(v[1]) and v[2] > 0 else "Y"


def _pose_score(pos: np.ndarray, idx: dict[str, int]) -> np.ndarray:
    """How far from a T-pose each pose is (radians summed over limbs; 0 = perfect T, Y up)."""

    def ang(u, v):
        cu = np.sum(_unit(u) * _unit(v), axis=-1)
        return np.arccos(np.clip(cu, -1.0, 1.0))

    def p(n):
        return pos[..., idx[n], :]

    down = np.array([0.0, -1.0, 0.0])
    left = _unit(p("L_Hip") - p("R_Hip"))
    score = 0.0
    for s, sign in (("L", 1.0), ("R", -1.0)):
        score = score + ang(p(s + "_Knee") - p(s + "_Hip"), down)
        score = score + ang(p(s + "_Ankle") - p(s + "_Knee"), down)
        score = score + ang(p(s + "_Elbow") - p(s + "_Shoulder"), sign * left)
        score = score + ang(p(s + "_Wrist") - p(s + "_Elbow"), sign * left)
    return score


def _rest_usable(pos: np.ndarray, idx: dict[str, int]) -> bool:
    """A rest pose we can align from: legs down, arms not along the spine, hips apart."""

    def p(n):
        return pos[idx[n]]

    L = leg_length(pos, idx)
    if L <= 0:
        return False
    up = np.array([0.0, 1.0, 0.0])
    for s in "LR":
        leg = _unit(p(s + "_Ankle") - p(s + "_Hip"))
        if leg @ up > -0.9:
            return False
        arm = _unit(p(s + "_Wrist") - p(s + "_Shoulder"))
        if arm @ up > 0.5:
            return False
    hips = p("L_Hip") - p("R_Hip")
    sh = p("L_Shoulder") - p("R_Shoulder")
    if np.linalg.norm(hips) < 0.05 * L or np.linalg.norm(sh) < 0.1 * L:
        return False
    return float(_unit(hips) @ _unit(sh)) > 0.7


def _bone_indices(skeleton: Skeleton, mapping: BoneMapping, what: str) -> dict[str, int]:
    check_required(mapping, what)
    idx = {}
    for j, b in mapping.bones.items():
        try:
            idx[j] = skeleton.names.index(b)
        except ValueError:
            raise RigError(
                f"{what or 'The skeleton'} has no bone '{b}' (mapped to {j}); fix the bone map."
            ) from None
    return idx


def _source_canonical_world(
    clip: MotionClip,
    mapping: BoneMapping,
    reference: str | int,
    up: str,
    canon_pos: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Canonical world rotations (T, 24, 4), hips-midpoint track (T, 3) in source units,
    source leg length, and source world positions (T, J, 3) (Y up)."""
    idx = _bone_indices(clip.skeleton, mapping, f"Motion '{clip.name}'" if clip.name else "")
    pos, rot = clip.world()
    if up == "auto":
        up = _detect_up(pos, idx)
    if up not in _AXIS_Q:
        raise DanceAIError(f"Unknown up axis '{up}'; use 'Y', 'Z' or 'auto'.")
    q_up = _AXIS_Q[up]
    if up != "Y":
        pos = quat_apply(q_up, pos)
        rot = quat_mul(q_up, rot)
    # reference pose
    if reference == "auto" or reference == "rest":
        sk = clip.skeleton
        rp, rr = forward_kinematics(sk, quat_identity((1, sk.n_joints)), sk.offsets[:1])
        rp, rr = quat_apply(q_up, rp[0]), quat_mul(q_up, rr[0])
        if reference == "rest" or _rest_usable(rp, idx):
            ref_pos, ref_rot = rp, rr
        else:
            t = int(np.argmin(_pose_score(pos, idx)))
            ref_pos, ref_rot = pos[t], rot[t]
    else:
        t = int(reference)
        if not -clip.n_frames <= t < clip.n_frames:
            raise DanceAIError(f"Reference frame {t} is outside the clip's {clip.n_frames} frames.")
        ref_pos, ref_rot = pos[t], rot[t]
    rig = _rig_from_reference(idx, ref_pos, ref_rot, canon_pos)
    M = quat_conj(quat_mul(rig.align, rig.ref_rot))  # (A W_ref)^-1
    C_m = quat_mul(rot[:, rig.bone], M[None])
    C_m = _swing_fix(C_m, rig, canon_pos, pos, lambda n: idx[n])
    # all 24 canonical joints: unmapped ones follow their parent (identity local)
    T = clip.n_frames
    C = np.empty((T, 24, 4))
    col = {j: m for m, j in enumerate(rig.joints)}
    from .mapping import CANONICAL_PARENT

    for j, name in enumerate(SMPL24_NAMES):
        if name in col:
            C[:, j] = C_m[:, col[name]]
        else:
            C[:, j] = C[:, _J[CANONICAL_PARENT[name]]]
    hips = 0.5 * (pos[:, idx["L_Hip"]] + pos[:, idx["R_Hip"]])
    return quat_normalize(C), hips, rig.scale, pos


def _canonical_clip_from_world(
    C: np.ndarray, hips: np.ndarray, skel: Skeleton, fps: float, name: str
) -> MotionClip:
    """Canonical clip from world rotations and the hips-midpoint track (canonical units)."""
    canon_rest = _rest_positions(skel)
    mid_rest = 0.5 * (canon_rest[_J["L_Hip"]] + canon_rest[_J["R_Hip"]])
    root = hips + quat_apply(C[:, 0], canon_rest[0] - mid_rest)
    par = skel.parents
    local = np.empty_like(C)
    local[:, 0] = C[:, 0]
    local[:, 1:] = quat_mul(quat_conj(C[:, par[1:]]), C[:, 1:])
    local = quat_continuity(quat_normalize(local), axis=0)
    return MotionClip(skel, local, root, fps, name)


def _rest_positions(skel: Skeleton) -> np.ndarray:
    pos, _ = forward_kinematics(skel, quat_identity((1, skel.n_joints)), skel.offsets[:1])
    return pos[0]


def _floor_shift(heights: np.ndarray, clearance: np.ndarray) -> float:
    """Vertical shift putting the clip's ground level at 0 (heights (T, K), clearance (K,))."""
    low = np.min(heights - clearance[None], axis=1)
    return -float(np.percentile(low, 5.0))


_FOOT_JOINTS = ("L_Ankle", "R_Ankle", "L_Foot", "R_Foot")


def to_canonical(
    clip: MotionClip,
    mapping: BoneMapping,
    reference: str | int = "auto",
    up: str = "auto",
    floor_offset: bool = True,
) -> MotionClip:
    """Convert any humanoid clip onto the canonical SMPL-24 skeleton (Y up, meters, T-pose rest).

    ``reference``: "auto" (the rest pose when it is a usable T/A/I pose, else the clip's most
    T-like frame), "rest", or a frame index. ``up``: the source's world up axis ("auto" detects it
    from the clip). The root is the source's hips track scaled by SMPL leg length / source leg
    length; with ``floor_offset`` the feet rest on y = 0. Limb directions match the source.
    """
    skel = smpl24_skeleton()
    canon_pos = _rest_positions(skel)
    C, hips, src_scale, _ = _source_canonical_world(clip, mapping, reference, up, canon_pos)
    canon_scale = leg_length(canon_pos, _J)
    out = _canonical_clip_from_world(C, hips * (canon_scale / src_scale), skel, clip.fps, clip.name)
    if floor_offset:
        wp, _ = out.world()
        fj = [_J[n] for n in _FOOT_JOINTS]
        clear = np.array([CANONICAL_CLEARANCE[n[2:]] for n in _FOOT_JOINTS])
        out.root_positions[:, 1] += _floor_shift(wp[:, fj, 1], clear)
    return out


# --------------------------------------------------------------------------------------------
# target side


@dataclass
class RetargetOptions:
    """User options of a retarget (see the Retarget panel)."""

    in_place: bool = False
    foot_cleanup: bool = True
    smooth_strength: float = 0.0
    floor_offset: bool = True
    source_up: str = "auto"
    target_up: str = "Z"
    target_world_matrix: np.ndarray | None = None
    reference: str | int = "auto"


@dataclass
class RetargetResult:
    """Pose-bone values for a target armature (armature space) plus diagnostics."""

    clip: MotionClip
    root_location: np.ndarray
    root_bone: str
    contacts: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    mapped: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    canonical: MotionClip | None = None


def _decompose(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rotation quat, uniform scale, translation) of a 4x4 similarity matrix."""
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise DanceAIError("The target world matrix must be a finite 4x4 matrix.")
    lin = m[:3, :3]
    s = np.cbrt(abs(np.linalg.det(lin)))
    if s < 1e-12:
        raise DanceAIError("The target armature has zero scale; apply a non-zero scale.")
    u, _, vt = np.linalg.svd(lin / s)
    r = u @ vt
    if np.linalg.det(r) < 0:
        raise DanceAIError("The target armature is mirrored (negative scale); apply the scale.")
    return matrix_to_quat(r), np.float64(s), m[:3, 3].copy()


def pose_world(
    skeleton: Skeleton,
    rotations: np.ndarray,
    root_positions: np.ndarray | None = None,
    loc_bone: int | None = None,
    locations: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Armature-space head positions/rotations of a Blender-style pose: local rotations plus a
    pose-bone ``location`` on one bone (the root-motion bone), as Blender evaluates them."""
    rot = np.asarray(rotations, dtype=np.float64)
    T = rot.shape[0]
    root = (
        np.broadcast_to(skeleton.offsets[0], (T, 3)).copy()
        if root_positions is None
        else (np.asarray(root_positions, dtype=np.float64))
    )
    local = quat_mul(skeleton.rest_rotations, rot)
    wr = np.empty_like(local)
    wp = np.empty(rot.shape[:-1] + (3,))
    wr[:, 0] = local[:, 0]
    wp[:, 0] = root
    if loc_bone == 0 and locations is not None:
        wp[:, 0] = skeleton.offsets[0] + quat_apply(skeleton.rest_rotations[0], locations)
    par = skeleton.parents
    for lvl in skeleton.levels()[1:]:
        p = par[lvl]
        wr[:, lvl] = quat_mul(wr[:, p], local[:, lvl])
        off = np.broadcast_to(skeleton.offsets[lvl], (T, len(lvl), 3))
        if loc_bone is not None and locations is not None and loc_bone in lvl:
            k = int(np.nonzero(lvl == loc_bone)[0][0])
            off = off.copy()
            off[:, k] = off[:, k] + quat_apply(skeleton.rest_rotations[loc_bone], locations)
        wp[:, lvl] = wp[:, p] + quat_apply(wr[:, p], off)
    return wp, wr


@dataclass
class _Driven:
    """How a skeleton's pose follows from the world rotations of a subset of its bones.

    Every other bone keeps an identity pose, so its world rotation is its nearest driven
    ancestor's times a constant chain of rest rotations. That makes the locals of the driven bones
    one batched product, and any head position a constant-weighted sum of the driven bones'
    rotation matrices (one matrix product) instead of a depth-by-depth FK pass over all bones.
    """

    bones: np.ndarray  # (M,) driven bone indices
    col: np.ndarray  # (J,) column of each bone among the driven ones, -1 if not driven
    anc: np.ndarray  # (J,) column of the nearest driven proper ancestor, -1 for none
    chain: np.ndarray  # (J, 4) rest rotations from that ancestor (exclusive) to the bone


def _driven(skel: Skeleton, bones: np.ndarray) -> _Driven:
    J = skel.n_joints
    bones = np.asarray(bones, dtype=np.int64)
    col = np.full(J, -1, dtype=np.int64)
    col[bones] = np.arange(len(bones))
    anc = np.full(J, -1, dtype=np.int64)
    chain = skel.rest_rotations.copy()
    for j in range(1, J):  # per bone of the skeleton (constant work, not per frame)
        p = int(skel.parents[j])
        if col[p] >= 0:
            anc[j] = col[p]
        else:
            anc[j] = anc[p]
            chain[j] = quat_mul(chain[p], skel.rest_rotations[j])
    return _Driven(bones, col, anc, chain)


# Hot-path layout: joint-major, component, frame ``(M, 4, T)`` ("_j" arrays). Each quaternion
# component of a joint is a contiguous run of frames, a level's joints are contiguous blocks,
# and a constant rotation applied to a joint is one 4x4 matrix in a batched matrix product.


def _to_j(q: np.ndarray) -> np.ndarray:
    """(T, M, k) -> contiguous (M, k, T)."""
    return np.ascontiguousarray(q.transpose(1, 2, 0))


def _qmul_j(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b of (M, 4, T) arrays."""
    aw, ax, ay, az = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    bw, bx, by, bz = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[:, 0] = aw * bw - ax * bx - ay * by - az * bz
    out[:, 1] = aw * bx + ax * bw + ay * bz - az * by
    out[:, 2] = aw * by - ax * bz + ay * bw + az * bx
    out[:, 3] = aw * bz + ax * by - ay * bx + az * bw
    return out


_CONJ_J = np.array([1.0, -1.0, -1.0, -1.0])[:, None]


def _qmat_left(p: np.ndarray) -> np.ndarray:
    """4x4 matrices with ``p ⊗ q = L @ q`` for quaternions ``p (..., 4)``."""
    return np.swapaxes(quat_mul(np.asarray(p)[..., None, :], np.eye(4)), -1, -2)


def _qmat_right(p: np.ndarray) -> np.ndarray:
    """4x4 matrices with ``q ⊗ p = R @ q`` for quaternions ``p (..., 4)``."""
    return np.swapaxes(quat_mul(np.eye(4), np.asarray(p)[..., None, :]), -1, -2)


def _continuity_j(q: np.ndarray) -> np.ndarray:
    """:func:`quat_continuity` along frames of an (M, 4, T) array, in place."""
    if q.shape[2] > 1:
        dots = np.einsum("mkt,mkt->mt", q[:, :, 1:], q[:, :, :-1])
        q[:, :, 1:] *= np.cumprod(np.where(dots < 0.0, -1.0, 1.0), axis=1)[:, None]
    return q


def _driven_locals(plan: _Driven, Wm: np.ndarray) -> np.ndarray:
    """Local rotations (M, 4, T) of the driven bones reaching world rotations ``Wm (M, 4, T)``:
    ``L_b = K_b⁻¹ ⊗ W_a⁻¹ ⊗ W_b`` with ``a`` the nearest driven ancestor, ``K_b`` constant."""
    a = plan.anc[plan.bones]
    has = a >= 0
    rel = Wm.copy()
    if np.any(has):
        rel[has] = _qmul_j(Wm[a[has]] * _CONJ_J, Wm[has])
    return np.matmul(_qmat_left(quat_conj(plan.chain[plan.bones])), rel)


def _driven_rotation(plan: _Driven, Wm: np.ndarray, j: int) -> np.ndarray:
    """World rotation (T, 4) of any bone ``j`` from ``Wm (M, 4, T)``."""
    if plan.col[j] >= 0:
        return Wm[plan.col[j]].T
    a = plan.anc[j]
    if a < 0:
        return np.broadcast_to(plan.chain[j], (Wm.shape[2], 4))
    return quat_mul(Wm[a].T, plan.chain[j])


def _driven_positions(
    plan: _Driven, skel: Skeleton, Wm: np.ndarray, joints, root: np.ndarray
) -> np.ndarray:
    """Head positions (3, N, T) of ``joints`` with the root bone's head at ``root`` ((T, 3) or
    (3,)): ``pos = root + sum over driven m of R_m @ V[m]`` with constant ``V``, i.e. one
    matrix product instead of an FK pass."""
    M = len(plan.bones)
    joints = list(joints)
    N = len(joints)
    V = np.zeros((M + 1, 3, N))  # row M: the constant part (no driven ancestor)
    par = skel.parents
    for n, j in enumerate(joints):  # walks rest chains: constant work per joint
        c = int(j)
        while par[c] >= 0:
            p = int(par[c])
            if plan.col[p] >= 0:
                V[plan.col[p], :, n] += skel.offsets[c]
            else:
                V[plan.anc[p], :, n] += quat_apply(plan.chain[p], skel.offsets[c])
            c = p
    T = Wm.shape[2]
    used = np.nonzero(np.any(V[:M] != 0.0, axis=(1, 2)))[0]  # driven ancestors that matter
    K = len(used)
    R = _quat_matrices_j(Wm[used])  # (3, 3, K, T)
    Vr = V[used].transpose(2, 1, 0).reshape(N, 3 * K)  # Vr[n, j*K + k] = V[used[k], j, n]
    P = np.matmul(Vr, R.reshape(3, 3 * K, T))  # (3, N, T)
    P += V[M][:, :, None]
    root = np.asarray(root, dtype=np.float64)
    P += root.T[:, None, :] if root.ndim == 2 else root[:, None, None]
    return P


def _quat_matrices_j(q: np.ndarray) -> np.ndarray:
    """Rotation matrices ``R[i, j] (M, T)`` of unit quaternions ``q (M, 4, T)``."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    m = np.empty((3, 3) + w.shape)
    x2, y2, z2 = 2.0 * x, 2.0 * y, 2.0 * z
    xx, yy, zz = x * x2, y * y2, z * z2
    xy, xz, yz = x * y2, x * z2, y * z2
    wx, wy, wz = w * x2, w * y2, w * z2
    np.subtract(1.0, yy + zz, out=m[0, 0])
    np.subtract(xy, wz, out=m[0, 1])
    np.add(xz, wy, out=m[0, 2])
    np.add(xy, wz, out=m[1, 0])
    np.subtract(1.0, xx + zz, out=m[1, 1])
    np.subtract(yz, wx, out=m[1, 2])
    np.subtract(xz, wy, out=m[2, 0])
    np.add(yz, wx, out=m[2, 1])
    np.subtract(1.0, xx + yy, out=m[2, 2])
    return m


def _world_rotations(skel: Skeleton, local: np.ndarray) -> np.ndarray:
    """World rotations (J, 4, T) of local rotations (T, J, 4): the rotation half of FK only."""
    rest = skel.rest_rotations
    loc = _to_j(local)
    if not np.array_equal(rest, quat_identity(rest.shape[:1])):
        loc = np.matmul(_qmat_left(rest), loc)
    out = np.empty_like(loc)
    out[0] = loc[0]
    for lvl in skel.levels()[1:]:
        out[lvl] = _qmul_j(out[skel.parents[lvl]], loc[lvl])
    return out


def _smooth_driven(
    local: np.ndarray, root: np.ndarray, strength: float, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`smooth_clip` on the driven bones only (the rest hold identity, which the filter
    passes unchanged): rotations in 6D, re-orthonormalised, signs kept frame by frame.

    Works component-major (each quaternion / 6D / matrix component a contiguous ``(M, T)``
    array), which is the layout the channel-major solver wants and keeps numpy on unit strides.
    """
    from ..smoothing import jerk_smooth_channels_first, strength_to_lambda

    lam = strength_to_lambda(strength, fps)
    M, _, T = local.shape
    if lam == 0.0 or T < 4:
        return local.copy(), root.copy()
    w, x, y, z = local[:, 0], local[:, 1], local[:, 2], local[:, 3]  # (M, T) each
    data = np.empty((6 * M + 3, T))
    d = data[: 6 * M].reshape(6, M, T)
    # the first two columns of the rotation matrix (the 6D representation)
    np.subtract(1.0, 2.0 * (y * y + z * z), out=d[0])
    np.multiply(2.0, x * y + w * z, out=d[1])
    np.multiply(2.0, x * z - w * y, out=d[2])
    np.multiply(2.0, x * y - w * z, out=d[3])
    np.subtract(1.0, 2.0 * (x * x + z * z), out=d[4])
    np.multiply(2.0, y * z + w * x, out=d[5])
    data[6 * M :] = root.T
    sm = jerk_smooth_channels_first(data, lam)
    q = _sixd_to_quat_cm(sm[: 6 * M].reshape(6, M, T))
    flip = (q[0] * w + q[1] * x + q[2] * y + q[3] * z) < 0.0
    np.negative(q, out=q, where=flip[None])
    return q.transpose(1, 0, 2), np.ascontiguousarray(sm[6 * M :].T)


def _sixd_to_quat_cm(d: np.ndarray) -> np.ndarray:
    """Component-major 6D ``(6, ...)`` -> quaternions ``(4, ...)`` (w >= 0): the public
    :func:`sixd_to_quat` on the transposed view, which works on unit-stride component rows."""
    return sixd_to_quat(d.reshape(6, -1).T).T.reshape((4,) + d.shape[1:])


def retarget(
    source: MotionClip,
    source_mapping: BoneMapping | None,
    target: Skeleton,
    target_mapping: BoneMapping,
    options: RetargetOptions | None = None,
) -> RetargetResult:
    """Transfer a clip onto a target armature; returns pose-bone rotations for every bone (identity
    for unmapped ones) and root-bone ``location`` values, in armature space."""
    from . import feet as _feet  # local: feet imports transfer helpers

    opt = options or RetargetOptions()
    if not 0.0 <= float(opt.smooth_strength) <= 1.0:
        raise DanceAIError(
            f"Smoothing strength {opt.smooth_strength} is outside 0..1; pick a value in range."
        )
    tm: dict[str, float] = {}
    t0 = time.perf_counter()
    # 1. canonical clip
    if source_mapping is None:
        canon = source
        if canon.skeleton.names != list(SMPL24_NAMES):
            raise RigError(
                "The source clip is not on the SMPL-24 skeleton; give its bone map instead."
            )
        if opt.source_up not in ("Y", "auto"):  # canonical clips are Y up unless told
            q = _AXIS_Q[opt.source_up]
            rot = canon.rotations.copy()
            rot[:, 0] = quat_mul(q, rot[:, 0])
            canon = MotionClip(
                canon.skeleton, rot, quat_apply(q, canon.root_positions), canon.fps, canon.name
            )
    else:
        canon = to_canonical(source, source_mapping, opt.reference, opt.source_up, False)
    tm["canonical"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    cskel = canon.skeleton
    canon_rest = _rest_positions(cskel)
    # canonical world (Y up): rotations by one pass over depth levels, every head position by
    # one matrix product; C = world rotations (rest identity)
    C = _world_rotations(cskel, canon.rotations)  # (24, 4, T)
    canon_identity_rest = np.allclose(cskel.rest_rotations, [1.0, 0, 0, 0])
    if not canon_identity_rest:  # not expected; keep T-pose semantics
        C = np.matmul(_qmat_right(quat_conj(cskel.rest_rotations)), C)

    # 2. target rest in the canonical frame: G maps canonical world -> armature space
    if opt.target_up not in _AXIS_Q:
        raise DanceAIError(f"Unknown target up axis '{opt.target_up}'; use 'Y' or 'Z'.")
    q_world, s_world, t_world = _decompose(
        np.eye(4) if opt.target_world_matrix is None else opt.target_world_matrix
    )
    q_can_to_world = quat_conj(_AXIS_Q[opt.target_up])  # canonical Y-up -> target world
    G = quat_mul(quat_conj(q_world), q_can_to_world)  # canonical -> armature rotation
    Gi = quat_conj(G)
    tidx = _bone_indices(target, target_mapping, "")
    rest_pos_arm, rest_rot_arm = forward_kinematics(
        target, quat_identity((1, target.n_joints)), target.offsets[:1]
    )
    rest_pos_arm, rest_rot_arm = rest_pos_arm[0], rest_rot_arm[0]
    t_c = quat_apply(_AXIS_Q[opt.target_up], t_world)  # world translation, canonical-aligned

    def arm_to_c(p: np.ndarray) -> np.ndarray:
        return quat_apply(Gi, p) * s_world + t_c

    rest_pos = arm_to_c(rest_pos_arm)  # canonical-aligned world (Y up), world units
    rest_rot = quat_mul(Gi, rest_rot_arm)
    rig = _rig_from_reference(tidx, rest_pos, rest_rot, canon_rest)
    canon_scale = leg_length(canon_rest, _J)
    k = rig.scale / canon_scale  # canonical meters -> target world units

    # 3. target world rotations of mapped bones (canonical frame): C, swing-fixed so each bone
    # points at its next mapped joint as the canonical pose has it, then through A' W'_rest
    # A bone whose wanted direction runs from its own joint (or a sibling hanging off it) to a
    # direct canonical child already points that way in a T-pose-rest canonical clip: skip it.
    pairs = [
        (m, a, b)
        for m, a, b in _swing_pairs(rig)
        if not (
            canon_identity_rest
            and _CPAR[b] == rig.joints[m]
            and (a == rig.joints[m] or _CPAR[a] == rig.joints[m])
        )
    ]
    # canonical head positions, only of the joints used below (all of them for foot cleanup)
    if opt.foot_cleanup and "L_Ankle" in tidx:
        cnames = list(SMPL24_NAMES)
    else:
        cnames = ["L_Hip", "R_Hip"] + [n for _, a, b in pairs for n in (a, b)]
        cnames = list(dict.fromkeys(cnames))
    ccol = {n: i for i, n in enumerate(cnames)}
    cpos = _driven_positions(
        _driven(cskel, np.arange(cskel.n_joints)),
        cskel,
        C,
        [_J[n] for n in cnames],
        canon.root_positions,
    ).transpose(2, 1, 0)  # (T, N, 3) view
    C_sel = C[[_J[j] for j in rig.joints]]
    if pairs:
        C_sel = _to_j(
            _swing_fix(C_sel.transpose(2, 0, 1), rig, canon_rest, cpos, lambda n: ccol[n], pairs)
        )
    # armature-space world rotations of the mapped bones: G ⊗ C ⊗ A' ⊗ W'_rest, one constant
    # 4x4 matrix per bone
    AR = quat_mul(rig.align, rig.ref_rot)
    Wm = np.matmul(_qmat_left(G)[None] @ _qmat_right(AR), C_sel)  # (M, 4, T)
    tm["alignment"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    T = canon.n_frames
    # unmapped bones keep an identity pose, so only the mapped bones' locals are computed
    plan = _driven(target, rig.bone)
    local_m = _continuity_j(_driven_locals(plan, Wm))  # (M, 4, T)
    tm["locals"] = time.perf_counter() - t2

    # 4. root motion: the hips midpoint follows the canonical one, scaled
    t3 = time.perf_counter()
    hips_c = 0.5 * (cpos[:, ccol["L_Hip"]] + cpos[:, ccol["R_Hip"]]) * k  # canonical, world units
    if opt.in_place:
        # remove travel (the 1 s moving average of the horizontal track), keep sway and bounce
        mid = rest_mid_xz(rest_pos, tidx)
        for ax, m0 in zip((0, 2), mid):
            hips_c[:, ax] += m0 - _moving_average(hips_c[:, ax], max(1, int(round(canon.fps))))
    # pose without root motion: where do the hips end up? (only the heads we need)
    foot_b = [tidx[n] for n in _FOOT_JOINTS if n in tidx]
    foot_names = [n for n in _FOOT_JOINTS if n in tidx]
    root_name = target_mapping.root_motion_bone or target_mapping.bones["Pelvis"]
    rb = target.index(root_name)
    pb = int(target.parents[rb])
    nf = len(foot_b)
    heads = [tidx["L_Hip"], tidx["R_Hip"], *foot_b, rb] + ([pb] if pb >= 0 else [])
    wp0 = _driven_positions(plan, target, Wm, heads, target.offsets[0]).transpose(2, 1, 0)
    wp0_c = arm_to_c(wp0[:, : 2 + nf])
    hips_0 = 0.5 * (wp0_c[:, 0] + wp0_c[:, 1])
    delta_c = hips_c - hips_0  # world-unit translation to add (canonical frame)
    if opt.floor_offset:
        heights = wp0_c[:, 2 : 2 + nf, 1] + delta_c[:, 1:2]
        clear = _target_clearance(rest_pos, tidx, foot_names, rig.scale)
        delta_c[:, 1] += _floor_shift(heights, clear)
    delta_arm = quat_apply(G, delta_c) / s_world
    head_rest = wp0[:, 2 + nf]
    desired_head = head_rest + delta_arm
    # pose-bone location: (parent_world ⊗ rest_rel)⁻¹ (desired - rest-attached head)
    if pb < 0:
        frame = np.broadcast_to(target.rest_rotations[rb], (T, 4))
        attached = np.broadcast_to(target.offsets[rb], (T, 3))
    else:
        wr_pb = _driven_rotation(plan, Wm, pb)
        frame = quat_mul(wr_pb, target.rest_rotations[rb])
        attached = wp0[:, 3 + nf] + quat_apply(wr_pb, target.offsets[rb])
    root_location = quat_apply(quat_conj(frame), desired_head - attached)
    tm["root"] = time.perf_counter() - t3

    # 5. smoothing (mapped bones and the root location) and foot cleanup
    if opt.smooth_strength > 0:
        t4 = time.perf_counter()
        local_m, root_location = _smooth_driven(
            local_m, root_location, float(opt.smooth_strength), canon.fps
        )
        tm["smoothing"] = time.perf_counter() - t4
    local = np.zeros((T, target.n_joints, 4))
    local[..., 0] = 1.0
    local[:, plan.bones] = local_m.transpose(2, 0, 1)
    clip = MotionClip(target, local, desired_head, canon.fps, source.name)
    contacts: dict[str, np.ndarray] = {}
    if opt.foot_cleanup and "L_Ankle" in tidx:
        t5 = time.perf_counter()
        clip, root_location, contacts = _feet.cleanup_retarget(
            clip, root_location, rb, tidx, cpos, G, s_world, t_c, rig.scale, rest_pos, foot_names
        )
        tm["foot_cleanup"] = time.perf_counter() - t5
    tm["total"] = time.perf_counter() - t0
    return RetargetResult(
        clip=clip,
        root_location=root_location,
        root_bone=root_name,
        contacts=contacts,
        timings=tm,
        mapped=dict(target_mapping.bones),
        unmapped=list(target_mapping.unmapped),
        canonical=canon,
    )


def rest_mid_xz(rest_pos: np.ndarray, idx: dict[str, int]) -> tuple[float, float]:
    mid = 0.5 * (rest_pos[idx["L_Hip"]] + rest_pos[idx["R_Hip"]])
    return float(mid[0]), float(mid[2])


def _target_clearance(
    rest_pos: np.ndarray, idx: dict[str, int], foot_names: list[str], scale: float
) -> np.ndarray:
    """Ground clearance of the target's foot joints: their rest height when the rest pose stands
    on y = 0, else the canonical clearances scaled."""
    h = np.array([rest_pos[idx[n], 1] for n in foot_names])
    if h.min() > -0.05 * scale and h.max() < 0.3 * scale:
        return h
    k = scale / 0.777
    return np.array([CANONICAL_CLEARANCE[n[2:]] * k for n in foot_names])


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average with edge padding (same length)."""
    if n <= 1 or len(x) < 2:
        return x.copy()
    h = n // 2
    xp = np.concatenate([np.full(h, x[0]), x, np.full(n - 1 - h, x[-1])])
    c = np.concatenate([[0.0], np.cumsum(xp)])
    return (c[n:] - c[:-n]) / n
