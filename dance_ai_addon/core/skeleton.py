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
from .rotations import quat_conj, quat_identity, quat_mul, quat_normalize

__all__ = [
    "Skeleton",
    "forward_kinematics",
    "local_rotations",
    "rest_pose_world",
    "mirror_indices",
    "SMPL24_NAMES",
    "SMPL24_PARENTS",
    "smpl24_skeleton",
    "smpl24_mirror_indices",
]


#: Frames per block in forward_kinematics (buffers of ~J * 2000 values, reused across blocks).
_FK_BLOCK = 2000


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


def _qmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """Component-major Hamilton product ``out = a ⊗ b`` for ``(4, ...)`` arrays, no allocation."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    for k, terms in enumerate(
        (
            ((aw, bw, 1), (ax, bx, -1), (ay, by, -1), (az, bz, -1)),
            ((aw, bx, 1), (ax, bw, 1), (ay, bz, 1), (az, by, -1)),
            ((aw, by, 1), (ax, bz, -1), (ay, bw, 1), (az, bx, 1)),
            ((aw, bz, 1), (ax, by, 1), (ay, bx, -1), (az, bw, 1)),
        )
    ):
        o = out[k]
        np.multiply(terms[0][0], terms[0][1], out=o)
        for x, y, sign in terms[1:]:
            np.multiply(x, y, out=tmp)
            if sign > 0:
                o += tmp
            else:
                o -= tmp


def _qrot_into(q: np.ndarray, v: np.ndarray, out: np.ndarray, t: np.ndarray, tmp: np.ndarray):
    """``out += rotate(q, v)`` component-major: q ``(4, n, N)``, v ``(3, n, 1)``, no allocation.

    Uses v' = v + w t + u × t with t = 2 u × v.
    """
    w, ux, uy, uz = q
    vx, vy, vz = v
    # t = 2 (u × v)
    for k, (a, b, c, d) in enumerate(((uy, vz, uz, vy), (uz, vx, ux, vz), (ux, vy, uy, vx))):
        np.multiply(a, b, out=t[k])
        np.multiply(c, d, out=tmp)
        t[k] -= tmp
        t[k] *= 2.0
    tx, ty, tz = t
    # out += v + w t + u × t
    for k, (vk, tk, a, b, c, d) in enumerate(
        ((vx, tx, uy, tz, uz, ty), (vy, ty, uz, tx, ux, tz), (vz, tz, ux, ty, uy, tx))
    ):
        o = out[k]
        o += vk
        np.multiply(w, tk, out=tmp)
        o += tmp
        np.multiply(a, b, out=tmp)
        o += tmp
        np.multiply(c, d, out=tmp)
        o -= tmp


def local_rotations(skeleton: Skeleton, world_rotations: np.ndarray) -> np.ndarray:
    """Local rotations ``(T, J, 4)`` that :func:`forward_kinematics` turns into these world ones.

    For edits made in world space (IK, pinning): ``world_j = world_parent ⊗ rest_j ⊗ local_j``,
    so ``local_j = rest_j⁻¹ ⊗ world_parent⁻¹ ⊗ world_j``; roots keep ``rest⁻¹ ⊗ world``.
    """
    world = np.asarray(world_rotations, dtype=np.float64)
    parents = np.asarray(skeleton.parents)
    rest = np.asarray(skeleton.rest_rotations, dtype=np.float64)
    local = world.copy()
    child = np.flatnonzero(parents >= 0)
    local[:, child] = quat_mul(quat_conj(world[:, parents[child]]), world[:, child])
    if not np.all(rest == np.array([1.0, 0.0, 0.0, 0.0])):
        local = quat_mul(quat_conj(rest)[None], local)
    return local


def forward_kinematics(
    skeleton: Skeleton, rotations: np.ndarray, root_positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """World positions ``(..., T, J, 3)`` and rotations ``(..., T, J, 4)`` of local rotations.

    ``rotations`` is ``(..., T, J, 4)`` local quaternions, ``root_positions`` ``(..., T, 3)``.
    Works component-major (``(4, J, frames)``) so every step is a contiguous elementwise
    operation over a block of frames and all joints of one depth level, written into
    preallocated buffers; the Python loops run over depth levels and frame blocks only.
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
    lead = rot.shape[:-2]
    n = int(np.prod(lead)) if lead else 1
    flat = rot.reshape(n, J, 4)
    rest = skeleton.rest_rotations
    if not np.all(rest == np.array([1.0, 0.0, 0.0, 0.0])):
        flat = quat_mul(rest, flat)  # local = rest ⊗ L
    root_flat = root.reshape(n, 3)
    world_rot = np.empty((n, J, 4), dtype=np.float64)
    world_pos = np.empty((n, J, 3), dtype=np.float64)
    levels = skeleton.levels()[1:]
    width = max((len(lv) for lv in levels), default=1)
    # frames are processed in blocks with buffers allocated once and reused: fresh multi-MB
    # temporaries per operation cost more in page faults than the arithmetic itself
    c = min(n, _FK_BLOCK)
    local = np.empty((4, J, c))
    wrot = np.empty((4, J, c))
    wpos = np.empty((3, J, c))
    prot = np.empty((4, width, c))
    lrot = np.empty((4, width, c))
    res = np.empty((4, width, c))
    ppos = np.empty((3, width, c))
    t = np.empty((3, width, c))
    tmp = np.empty((width, c))
    parents = skeleton.parents
    offsets_t = skeleton.offsets.T  # (3, J)
    for s0 in range(0, n, c):
        s1 = min(n, s0 + c)
        k = s1 - s0
        lo, wr, wp = local[:, :, :k], wrot[:, :, :k], wpos[:, :, :k]
        np.copyto(lo, flat[s0:s1].transpose(2, 1, 0))
        wr[:, 0] = lo[:, 0]
        wp[:, 0] = root_flat[s0:s1].T
        for lvl in levels:
            m = len(lvl)
            p = parents[lvl]
            pr, lr, rr, pp = prot[:, :m, :k], lrot[:, :m, :k], res[:, :m, :k], ppos[:, :m, :k]
            np.take(wr, p, axis=1, out=pr)
            np.take(lo, lvl, axis=1, out=lr)
            _qmul_into(pr, lr, rr, tmp[:m, :k])
            wr[:, lvl] = rr
            np.take(wp, p, axis=1, out=pp)
            _qrot_into(pr, offsets_t[:, lvl, None], pp, t[:, :m, :k], tmp[:m, :k])
            wp[:, lvl] = pp
        np.copyto(world_rot[s0:s1], wr.transpose(2, 1, 0))
        np.copyto(world_pos[s0:s1], wp.transpose(2, 1, 0))
    return world_pos.reshape(lead + (J, 3)), world_rot.reshape(lead + (J, 4))


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
