"""Skeletons (rest pose + hierarchy), forward kinematics and the canonical SMPL-24 skeleton.

The FK formula is the one fixed in docs/architecture.md, which is exactly Blender's pose
evaluation, so clips computed here and actions baked in Blender agree:
``world_rot[j] = world_rot[parent] ⊗ rest_rot[j] ⊗ L[j]`` and
``world_pos[j] = world_pos[parent] + rotate(world_rot[parent], offsets[j])``, the root taking
``world_pos[0] = P`` and ``world_rot[0] = rest_rot[0] ⊗ L[0]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import RigError
from .rotations import quat_apply, quat_identity, quat_mul, quat_normalize

__all__ = [
    "Skeleton",
    "forward_kinematics",
    "rest_pose_world",
    "mirror_indices",
    "SMPL24_NAMES",
    "SMPL24_PARENTS",
    "smpl24_skeleton",
    "smpl24_mirror_indices",
]


@dataclass
class Skeleton:
    """Joint names, parents (``parents[j] < j``, -1 for the root), rest offsets and rotations.

    ``offsets[j]`` is joint j's rest position in its parent's frame; ``rest_rotations[j]`` its rest
    orientation relative to the parent (identity for BVH, the bone roll etc. for Blender bones).
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    rest_rotations: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        n = len(self.names)
        if n == 0:
            raise RigError("The skeleton has no joints; give it at least a root joint.")
        parents = np.asarray(self.parents)
        if parents.shape != (n,) or not np.issubdtype(parents.dtype, np.integer):
            if parents.shape == (n,) and np.all(np.equal(np.mod(parents, 1), 0)):
                parents = parents.astype(np.int64)
            else:
                raise RigError(
                    f"The skeleton's parents must be {n} integers (one per joint), "
                    f"got shape {parents.shape}."
                )
        self.parents = parents.astype(np.int64)
        if self.parents[0] != -1:
            raise RigError(
                f"Joint '{self.names[0]}' must be the root (parent -1); reorder the joints so the "
                "root comes first."
            )
        idx = np.arange(n)
        bad = np.nonzero((self.parents >= idx) | (self.parents < -1))[0]
        if bad.size:
            j = int(bad[0])
            raise RigError(
                f"Joint '{self.names[j]}' has parent index {int(self.parents[j])}, but every "
                "parent must come before its child; sort the joints parents-first."
            )
        extra_roots = np.nonzero(self.parents[1:] == -1)[0]
        if extra_roots.size:
            j = int(extra_roots[0]) + 1
            raise RigError(
                f"Joint '{self.names[j]}' is a second root; a skeleton must have exactly one root."
            )
        if len(set(self.names)) != n:
            seen: set[str] = set()
            dup = next(x for x in self.names if x in seen or seen.add(x))
            raise RigError(f"Joint name '{dup}' is used twice; joint names must be unique.")
        offsets = np.asarray(self.offsets, dtype=np.float64)
        if offsets.shape != (n, 3):
            raise RigError(f"The skeleton's offsets must have shape ({n}, 3), got {offsets.shape}.")
        if not np.all(np.isfinite(offsets)):
            raise RigError("The skeleton's offsets contain NaN or Inf; fix the rest pose.")
        self.offsets = offsets
        if self.rest_rotations is None:
            self.rest_rotations = quat_identity((n,))
        else:
            rr = np.asarray(self.rest_rotations, dtype=np.float64)
            if rr.shape != (n, 4):
                raise RigError(
                    f"The skeleton's rest rotations must have shape ({n}, 4), got {rr.shape}."
                )
            if not np.all(np.isfinite(rr)):
                raise RigError("The skeleton's rest rotations contain NaN or Inf.")
            self.rest_rotations = quat_normalize(rr)
        self._levels: list[np.ndarray] | None = None

    @property
    def n_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of the joint called ``name``; RigError naming it when absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise RigError(
                f"The skeleton has no joint named '{name}'; check the bone name or the bone map."
            ) from None

    def children(self, j: int) -> list[int]:
        """Indices of the direct children of joint ``j``."""
        return [int(c) for c in np.nonzero(self.parents == j)[0]]

    def depths(self) -> np.ndarray:
        """Depth of every joint (root 0)."""
        d = np.zeros(self.n_joints, dtype=np.int64)
        for j in range(1, self.n_joints):
            d[j] = d[self.parents[j]] + 1
        return d

    def levels(self) -> list[np.ndarray]:
        """Joint indices grouped by depth, so FK can do one vectorised step per depth."""
        if getattr(self, "_levels", None) is None:
            d = self.depths()
            self._levels = [np.nonzero(d == k)[0] for k in range(int(d.max()) + 1)]
        return self._levels

    def copy(self) -> Skeleton:
        return Skeleton(
            list(self.names), self.parents.copy(), self.offsets.copy(), self.rest_rotations.copy()
        )

    def same_topology(self, other: Skeleton) -> bool:
        """True when both skeletons have the same joint names and parents (offsets may differ)."""
        return self.names == other.names and np.array_equal(self.parents, other.parents)


def forward_kinematics(
    skeleton: Skeleton, rotations: np.ndarray, root_positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """World positions ``(..., T, J, 3)`` and rotations ``(..., T, J, 4)`` of local rotations.

    ``rotations`` is ``(..., T, J, 4)`` local quaternions, ``root_positions`` ``(..., T, 3)``.
    Vectorised over frames and over all joints of one depth; the loop runs over depth levels.
    """
    rot = np.asarray(rotations, dtype=np.float64)
    root = np.asarray(root_positions, dtype=np.float64)
    J = skeleton.n_joints
    if rot.ndim < 2 or rot.shape[-2:] != (J, 4):
        raise RigError(
            f"Rotations must have shape (..., T, {J}, 4) for this {J}-joint skeleton, "
            f"got {rot.shape}."
        )
    if root.shape != rot.shape[:-2] + (3,):
        raise RigError(f"Root positions must have shape {rot.shape[:-2] + (3,)}, got {root.shape}.")
    # local = rest ⊗ L for all joints at once
    local = quat_mul(skeleton.rest_rotations, rot)
    world_rot = np.empty_like(local)
    world_pos = np.empty(rot.shape[:-1] + (3,), dtype=np.float64)
    world_rot[..., 0, :] = local[..., 0, :]
    world_pos[..., 0, :] = root
    parents = skeleton.parents
    offsets = skeleton.offsets
    for lvl in skeleton.levels()[1:]:
        p = parents[lvl]
        prot = world_rot[..., p, :]
        world_rot[..., lvl, :] = quat_mul(prot, local[..., lvl, :])
        world_pos[..., lvl, :] = world_pos[..., p, :] + quat_apply(prot, offsets[lvl])
    return world_pos, world_rot


def rest_pose_world(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """World positions ``(J, 3)`` and rotations ``(J, 4)`` of the rest pose (root at its offset)."""
    rot = quat_identity((1, skeleton.n_joints))
    pos, wrot = forward_kinematics(skeleton, rot, skeleton.offsets[:1])
    return pos[0], wrot[0]


# --- mirroring ---------------------------------------------------------------------------------

_SIDE = {"L": "R", "R": "L", "l": "r", "r": "l"}


def _mirror_candidates(name: str) -> list[str]:
    """Possible opposite-side spellings of ``name``; the caller keeps the first that exists."""
    out: list[str] = []
    for a, b in (("Left", "Right"), ("left", "right"), ("LEFT", "RIGHT")):
        if a in name:
            out.append(name.replace(a, b))
        if b in name:
            out.append(name.replace(b, a))
    # prefix forms, optionally after a namespace: L_x, l_x, L.x, lShldr, LHipJoint, lhand
    m = re.match(r"^(.*?[:|])?([LlRr])(.+)$", name)
    if m:
        out.append(f"{m.group(1) or ''}{_SIDE[m.group(2)]}{m.group(3)}")
    # suffix forms: x.L, x_L, x_l, x-L, x.L.001
    m = re.match(r"^(.+?[_.\- ])([LlRr])(\.\d+)?$", name)
    if m:
        out.append(f"{m.group(1)}{_SIDE[m.group(2)]}{m.group(3) or ''}")
    # side token between separators: CC_Base_L_Thigh
    for m in re.finditer(r"(?<=[_.\-])([LlRr])(?=[_.\-])", name):
        out.append(name[: m.start()] + _SIDE[m.group(1)] + name[m.end() :])
    return out


def mirror_indices(names: list[str]) -> np.ndarray:
    """Permutation ``perm``: ``names[perm[j]]`` is joint j's mirror partner (itself if central).

    Pairs are derived from names: L_/R_, Left/Right, l/r prefixes (lShldr), .L/.R, _l/_r, and
    CC_Base_L_/CC_Base_R_. A name whose partner does not exist is treated as central.
    """
    lookup = {n: i for i, n in enumerate(names)}
    perm = np.arange(len(names), dtype=np.int64)
    for i, n in enumerate(names):
        for other in _mirror_candidates(n):
            if other != n and other in lookup:
                perm[i] = lookup[other]
                break
    # enforce an involution: keep only symmetric pairs
    bad = perm[perm] != np.arange(len(names))
    perm[bad] = np.nonzero(bad)[0]
    return perm


# --- SMPL-24 -----------------------------------------------------------------------------------

SMPL24_NAMES: list[str] = [
    "Pelvis",
    "L_Hip",
    "R_Hip",
    "Spine1",
    "L_Knee",
    "R_Knee",
    "Spine2",
    "L_Ankle",
    "R_Ankle",
    "Spine3",
    "L_Foot",
    "R_Foot",
    "Neck",
    "L_Collar",
    "R_Collar",
    "Head",
    "L_Shoulder",
    "R_Shoulder",
    "L_Elbow",
    "R_Elbow",
    "L_Wrist",
    "R_Wrist",
    "L_Hand",
    "R_Hand",
]

SMPL24_PARENTS: np.ndarray = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21],
    dtype=np.int64,
)

# Left-side and central offsets (meters, Y up, +Z forward, subject's left on +X), close to the
# SMPL neutral body's joint regressor output, symmetrised so mirroring maps the skeleton onto
# itself. Right-side joints are the left ones with x negated.
_SMPL24_HALF = {
    "Pelvis": (0.0, 0.0, 0.0),
    "L_Hip": (0.0690, -0.0910, -0.0046),
    "Spine1": (0.0, 0.1090, -0.0267),
    "L_Knee": (0.0363, -0.3789, -0.0067),
    "Spine2": (0.0, 0.1352, 0.0011),
    "L_Ankle": (-0.0147, -0.3982, -0.0430),
    "Spine3": (0.0, 0.0529, 0.0254),
    "L_Foot": (0.0259, -0.0520, 0.1213),
    "Neck": (0.0, 0.2139, -0.0429),
    "L_Collar": (0.0803, 0.1203, -0.0364),
    "Head": (0.0, 0.0650, 0.0513),
    "L_Shoulder": (0.0935, 0.0316, -0.0090),
    "L_Elbow": (0.2567, -0.0131, -0.0245),
    "L_Wrist": (0.2523, 0.0084, -0.0034),
    "L_Hand": (0.0843, -0.0072, -0.0126),
}


def smpl24_skeleton() -> Skeleton:
    """The canonical SMPL-24 skeleton in a T-pose (meters, Y up, +Z forward, left on +X)."""
    offsets = np.zeros((24, 3), dtype=np.float64)
    for j, name in enumerate(SMPL24_NAMES):
        if name in _SMPL24_HALF:
            offsets[j] = _SMPL24_HALF[name]
        else:
            x, y, z = _SMPL24_HALF["L_" + name[2:]]
            offsets[j] = (-x, y, z)
    return Skeleton(list(SMPL24_NAMES), SMPL24_PARENTS.copy(), offsets)


def smpl24_mirror_indices() -> np.ndarray:
    """Permutation swapping the L_/R_ joints of SMPL-24 (for mirror augmentation)."""
    return mirror_indices(SMPL24_NAMES)
