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
)
from ..skeleton import SMPL24_NAMES, Skeleton, forward_kinematics, smpl24_skeleton
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


def _swing_fix(
    C: np.ndarray, rig: _Rig, canon_pos: np.ndarray, target_pos: np.ndarray, idx_of
) -> np.ndarray:
    """Point each joint's canonical bone exactly along the wanted world direction.

    ``C`` is (T, M, 4) canonical world rotations of the mapped joints; ``target_pos`` (T, K, 3)
    positions indexed by ``idx_of(name)``. Pelvis aligns its hip axis instead.
    """
    src_dirs, can_dirs, cols = [], [], []
    for m, (j, c) in enumerate(zip(rig.joints, rig.child)):
        if j == "Pelvis":
            a, b = "R_Hip", "L_Hip"
        elif c is not None:
            a, b = j, c
        else:
            continue
        src_dirs.append(target_pos[:, idx_of(b)] - target_pos[:, idx_of(a)])
        can_dirs.append(canon_pos[_J[b]] - canon_pos[_J[a]])
        cols.append(m)
    if not cols:
        return C
    cols_a = np.array(cols)
    want = np.stack(src_dirs, axis=1)  # (T, K, 3)
    have = quat_apply(C[:, cols_a], np.stack(can_dirs)[None])
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


def _locals_from_world(
    skel: Skeleton, world: np.ndarray, have: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations from wanted world rotations (``have[b]`` True) with identity elsewhere.

    Returns (local (T, J, 4), world (T, J, 4) actually reached)."""
    T, J = world.shape[:2]
    rest = skel.rest_rotations
    W = np.empty((T, J, 4))
    L = np.empty((T, J, 4))
    par = skel.parents
    for lvl in skel.levels():
        if lvl[0] == 0 and par[lvl[0]] == -1:
            base = np.broadcast_to(rest[lvl], (T, len(lvl), 4))
        else:
            base = quat_mul(W[:, par[lvl]], rest[lvl])
        h = have[lvl]
        wl = np.where(h[None, :, None], world[:, lvl], base)
        W[:, lvl] = wl
        L[:, lvl] = np.where(
            h[None, :, None], quat_mul(quat_conj(base), wl), np.array([1.0, 0, 0, 0])
        )
    return quat_normalize(L), W


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
    cpos, C = canon.world()  # canonical world (Y up), C = world rotations (rest identity)
    if not np.allclose(cskel.rest_rotations, [1.0, 0, 0, 0]):
        C = quat_mul(C, quat_conj(cskel.rest_rotations))  # not expected; keep T-pose semantics

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
    C_sel = _swing_fix(C[:, [_J[j] for j in rig.joints]], rig, canon_rest, cpos, lambda n: _J[n])
    Wt = quat_mul(C_sel, quat_mul(rig.align, rig.ref_rot)[None])
    tm["alignment"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    T = canon.n_frames
    world_arm = np.empty((T, target.n_joints, 4))
    have = np.zeros(target.n_joints, dtype=bool)
    world_arm[:, rig.bone] = quat_mul(G, Wt)
    have[rig.bone] = True
    local, _ = _locals_from_world(target, world_arm, have)
    local = quat_continuity(local, axis=0)
    tm["locals"] = time.perf_counter() - t2

    # 4. root motion: the hips midpoint follows the canonical one, scaled
    t3 = time.perf_counter()
    hips_c = 0.5 * (cpos[:, _J["L_Hip"]] + cpos[:, _J["R_Hip"]]) * k  # canonical frame, world units
    if opt.in_place:
        # remove travel (the 1 s moving average of the horizontal track), keep sway and bounce
        mid = rest_mid_xz(rest_pos, tidx)
        for ax, m0 in zip((0, 2), mid):
            hips_c[:, ax] += m0 - _moving_average(hips_c[:, ax], max(1, int(round(canon.fps))))
    # pose without root motion: where do the hips end up?
    wp0, wr0 = pose_world(target, local)
    wp0_c = arm_to_c(wp0)
    hips_0 = 0.5 * (wp0_c[:, tidx["L_Hip"]] + wp0_c[:, tidx["R_Hip"]])
    delta_c = hips_c - hips_0  # world-unit translation to add (canonical frame)
    foot_b = [tidx[n] for n in _FOOT_JOINTS if n in tidx]
    foot_names = [n for n in _FOOT_JOINTS if n in tidx]
    if opt.floor_offset:
        heights = wp0_c[:, foot_b, 1] + delta_c[:, 1:2]
        clear = _target_clearance(rest_pos, tidx, foot_names, rig.scale)
        delta_c[:, 1] += _floor_shift(heights, clear)
    root_name = target_mapping.root_motion_bone or target_mapping.bones["Pelvis"]
    rb = target.index(root_name)
    delta_arm = quat_apply(G, delta_c) / s_world
    head_rest = wp0[:, rb]
    desired_head = head_rest + delta_arm
    # pose-bone location: (parent_world ⊗ rest_rel)⁻¹ (desired - rest-attached head)
    pb = int(target.parents[rb])
    if pb < 0:
        frame = np.broadcast_to(target.rest_rotations[rb], (T, 4))
        attached = np.broadcast_to(target.offsets[rb], (T, 3))
    else:
        frame = quat_mul(wr0[:, pb], target.rest_rotations[rb])
        attached = wp0[:, pb] + quat_apply(wr0[:, pb], target.offsets[rb])
    root_location = quat_apply(quat_conj(frame), desired_head - attached)
    tm["root"] = time.perf_counter() - t3

    # 5. smoothing and foot cleanup
    clip = MotionClip(target, local, desired_head, canon.fps, source.name)
    contacts: dict[str, np.ndarray] = {}
    if opt.smooth_strength > 0:
        t4 = time.perf_counter()
        from ..smoothing import smooth_clip

        sm = smooth_clip(
            MotionClip(target, local, root_location, canon.fps, source.name),
            float(opt.smooth_strength),
        )
        clip = MotionClip(target, sm.rotations, clip.root_positions, canon.fps, source.name)
        root_location = sm.root_positions
        tm["smoothing"] = time.perf_counter() - t4
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
