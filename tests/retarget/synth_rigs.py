"""Synthetic target armatures built the way Blender stores them (for the retarget tests).

Bones point along their local +Y (head -> tail), carry a random roll about that axis, live in a
Z-up armature space (character faces -Y, left on +X) and carry extra unmapped bones (a root at the
origin, twist bones, a hand end). Proportions and the arm angle (T or A pose) are parameters.
"""

from __future__ import annotations

import numpy as np

from dance_ai_addon.core.rotations import matrix_to_quat, quat_apply, quat_conj, quat_mul
from dance_ai_addon.core.skeleton import SMPL24_NAMES, SMPL24_PARENTS, Skeleton, smpl24_skeleton

MIXAMO = {
    "Pelvis": "Hips",
    "Spine1": "Spine",
    "Spine2": "Spine1",
    "Spine3": "Spine2",
    "Neck": "Neck",
    "Head": "Head",
    "L_Collar": "LeftShoulder",
    "L_Shoulder": "LeftArm",
    "L_Elbow": "LeftForeArm",
    "L_Wrist": "LeftHand",
    "L_Hand": "LeftHandMiddle1",
    "L_Hip": "LeftUpLeg",
    "L_Knee": "LeftLeg",
    "L_Ankle": "LeftFoot",
    "L_Foot": "LeftToeBase",
}
UE = {
    "Pelvis": "pelvis",
    "Spine1": "spine_01",
    "Spine2": "spine_02",
    "Spine3": "spine_03",
    "Neck": "neck_01",
    "Head": "head",
    "L_Collar": "clavicle_l",
    "L_Shoulder": "upperarm_l",
    "L_Elbow": "lowerarm_l",
    "L_Wrist": "hand_l",
    "L_Hand": "middle_01_l",
    "L_Hip": "thigh_l",
    "L_Knee": "calf_l",
    "L_Ankle": "foot_l",
    "L_Foot": "ball_l",
}


def _name(table: dict[str, str], j: str, prefix: str) -> str:
    if j in table:
        return prefix + table[j]
    side = j[0]
    base = table["L_" + j[2:]]
    if base.startswith("Left"):
        return prefix + "Right" + base[4:]
    return prefix + base[:-2] + "_" + side.lower()


def _bone_frame(y_dir: np.ndarray, roll: float) -> np.ndarray:
    y = y_dir / np.linalg.norm(y_dir)
    ref = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(y, ref)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    c, s = np.cos(roll), np.sin(roll)
    x, z = c * x - s * z, s * x + c * z
    return matrix_to_quat(np.stack([x, y, z], axis=-1))


def make_target(
    style: str = "mixamo",
    arm_angle_deg: float = 0.0,
    leg_scale: float = 1.0,
    arm_scale: float = 1.0,
    torso_scale: float = 1.0,
    units: float = 1.0,
    seed: int = 0,
    drop: tuple[str, ...] = (),
) -> tuple[Skeleton, dict[str, str]]:
    """A Blender-like armature skeleton and its canonical -> bone-name table."""
    rng = np.random.default_rng(seed)
    sk = smpl24_skeleton()
    off = sk.offsets.copy()
    for j, n in enumerate(SMPL24_NAMES):
        if n[2:] in ("Knee", "Ankle", "Foot"):
            off[j] *= leg_scale
        elif n[2:] in ("Elbow", "Wrist", "Hand"):
            off[j] *= arm_scale
        elif n in ("Spine1", "Spine2", "Spine3", "Neck", "Head"):
            off[j] *= torso_scale
    # A-pose: swing the arms down about the forward axis at the shoulder
    pos = np.zeros((24, 3))
    for j in range(24):
        p = SMPL24_PARENTS[j]
        pos[j] = off[j] if p < 0 else pos[p] + off[j]
    a = np.radians(arm_angle_deg)
    for s, sign in (("L", 1.0), ("R", -1.0)):
        sh = pos[SMPL24_NAMES.index(s + "_Shoulder")].copy()
        c, si = np.cos(a), np.sin(a)
        rot = np.array([[c, sign * si, 0], [-sign * si, c, 0], [0, 0, 1.0]])
        for n in ("Elbow", "Wrist", "Hand"):
            j = SMPL24_NAMES.index(s + "_" + n)
            pos[j] = sh + rot @ (pos[j] - sh)
    # to Z-up, floor at 0 (toe joint 4 cm above the floor)
    zpos = np.stack([pos[:, 0], -pos[:, 2], pos[:, 1]], axis=-1)
    zpos[:, 2] -= zpos[:, 2].min() - 0.04
    zpos *= units
    table = MIXAMO if style == "mixamo" else UE
    prefix = "mixamorig:" if style == "mixamo" else ""
    names: list[str] = []
    parents: list[int] = []
    heads: list[np.ndarray] = []
    tails: list[np.ndarray] = []
    canon_to_bone: dict[str, str] = {}
    if style == "ue":
        names.append("root")
        parents.append(-1)
        heads.append(np.zeros(3))
        tails.append(np.array([0.0, 0.2, 0.0]) * units)
    index: dict[str, int] = {}
    for j, n in enumerate(SMPL24_NAMES):
        if n in drop:
            continue
        p = SMPL24_PARENTS[j]
        while p >= 0 and SMPL24_NAMES[p] in drop:
            p = SMPL24_PARENTS[p]
        kids = [k for k in range(24) if SMPL24_PARENTS[k] == j and SMPL24_NAMES[k] not in drop]
        if n == "Pelvis":
            tail = zpos[SMPL24_NAMES.index("Spine1")]
        elif n in ("Spine1", "Spine2", "Spine3") and kids:
            tail = zpos[min(kids)]
            if n == "Spine3":
                tail = zpos[SMPL24_NAMES.index("Neck")]
        elif len(kids) == 1:
            tail = zpos[kids[0]]
        elif n == "Head":
            tail = zpos[j] + np.array([0, 0, 0.2]) * units
        elif n[2:] == "Foot":
            tail = zpos[j] + np.array([0, -0.06, 0]) * units
        elif n[2:] == "Hand":
            tail = zpos[j] + (zpos[j] - zpos[SMPL24_PARENTS[j]]) * 0.5
        else:
            tail = zpos[j] + np.array([0, 0, 0.1]) * units
        bname = _name(table, n, prefix)
        canon_to_bone[n] = bname
        index[n] = len(names)
        names.append(bname)
        if p < 0:
            parents.append(0 if style == "ue" else -1)
        else:
            parents.append(index[SMPL24_NAMES[p]])
        heads.append(zpos[j])
        tails.append(tail)
        # twist bone under upper arms and thighs (unmapped, at the limb's middle)
        if n[2:] in ("Shoulder", "Hip"):
            kid = zpos[kids[0]]
            names.append(bname + "_twist")
            parents.append(index[n])
            heads.append(0.5 * (zpos[j] + kid))
            tails.append(kid)
    heads_a = np.array(heads)
    tails_a = np.array(tails)
    J = len(names)
    wrot = np.array(
        [_bone_frame(tails_a[b] - heads_a[b], rng.uniform(-np.pi, np.pi)) for b in range(J)]
    )
    offsets = np.zeros((J, 3))
    rest = np.zeros((J, 4))
    for b in range(J):
        p = parents[b]
        if p < 0:
            offsets[b] = heads_a[b]
            rest[b] = wrot[b]
        else:
            offsets[b] = quat_apply(quat_conj(wrot[p]), heads_a[b] - heads_a[p])
            rest[b] = quat_mul(quat_conj(wrot[p]), wrot[b])
    return Skeleton(names, np.array(parents), offsets, rest), canon_to_bone
