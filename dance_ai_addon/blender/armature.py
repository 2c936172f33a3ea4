"""Read a Blender armature into a core :class:`~..core.skeleton.Skeleton` (armature space).

A plain armature maps one-to-one: each bone is a joint, its rest rotation is
``parent.matrix_local⁻¹ · bone.matrix_local`` (rotation part) and its offset is the head in the
parent's bone frame, so the core FK equals Blender's pose evaluation (docs/architecture.md).

A Rigify-generated rig cannot be driven that way: its ``DEF-`` bones follow constraints, and the
FK controls hang under ``MCH-`` bones. With the IK/FK switches at FK, ``FK_limb_follow`` at 0 and
the neck/head follow at 1 (see :func:`prepare_rigify_fk`), and with ``hips``/``chest``/the lower
FK spine left at rest, the FK controls move exactly like the plain hierarchy in
:data:`RIGIFY_FK_PARENTS` (checked against depsgraph evaluation in the tests). That proxy
hierarchy is what :func:`skeleton_from_armature` returns for such a rig.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.errors import RigError
from ..core.rotations import matrix_to_quat
from ..core.skeleton import Skeleton

__all__ = [
    "RIGIFY_FK_PARENTS",
    "check_armature",
    "is_rigify_rig",
    "prepare_rigify_fk",
    "rigify_fk_parents",
    "skeleton_from_armature",
]

#: Effective parent of each Rigify FK control (``{S}`` = L/R) once switched to plain FK.
RIGIFY_FK_PARENTS: dict[str, str | None] = {
    "root": None,
    "torso": "root",
    "spine_fk": "torso",
    "spine_fk.002": "torso",
    "spine_fk.003": "spine_fk.002",
    "neck": "spine_fk.003",
    "head": "neck",
    "shoulder.{S}": "spine_fk.003",
    "upper_arm_fk.{S}": "shoulder.{S}",
    "forearm_fk.{S}": "upper_arm_fk.{S}",
    "hand_fk.{S}": "forearm_fk.{S}",
    "thigh_fk.{S}": "spine_fk",
    "shin_fk.{S}": "thigh_fk.{S}",
    "foot_fk.{S}": "shin_fk.{S}",
    "toe_fk.{S}": "foot_fk.{S}",
}

#: Custom properties that make a generated Rigify rig a plain FK hierarchy, and their values.
RIGIFY_FK_SETTINGS: dict[str, float] = {
    "IK_FK": 1.0,  # 1 = FK
    "FK_limb_follow": 0.0,  # 0 = the limb follows its parent (1 would lock it to the root)
    "neck_follow": 1.0,  # 1 = the neck follows the chest
    "head_follow": 1.0,  # 1 = the head follows the neck
}


def check_armature(obj: object) -> bpy.types.Object:
    """Return ``obj`` if it is an armature that can take an action; RigError saying why not."""
    if obj is None:
        raise RigError("No active object; select the armature to bake onto.")
    if getattr(obj, "type", None) != "ARMATURE":
        kind = getattr(obj, "type", type(obj).__name__)
        raise RigError(
            f"'{getattr(obj, 'name', obj)}' is a {str(kind).lower()}, not an armature; "
            "select an armature."
        )
    if obj.library is not None or obj.data.library is not None:
        lib = obj.library or obj.data.library
        raise RigError(
            f"Armature '{obj.name}' is linked from the library '{lib.filepath}' and cannot take an "
            "action; make it local or add a library override first."
        )
    override = obj.override_library
    if override is not None and getattr(override, "is_system_override", False):
        raise RigError(
            f"Armature '{obj.name}' is a non-editable (system) library override; make the override "
            "editable first."
        )
    if len(obj.data.bones) == 0:
        raise RigError(f"Armature '{obj.name}' has no bones.")
    return obj


def is_rigify_rig(obj: bpy.types.Object) -> bool:
    """True for a Rigify-generated rig (FK controls and a torso; not a metarig)."""
    bones = obj.data.bones
    return (
        "torso" in bones
        and "upper_arm_fk.L" in bones
        and "thigh_fk.L" in bones
        and any(b.name.startswith("DEF-") for b in bones)
    )


def rigify_fk_parents(obj: bpy.types.Object) -> dict[str, str | None]:
    """The proxy FK hierarchy of a Rigify rig, limited to the bones it has (parents-first)."""
    bones = obj.data.bones
    out: dict[str, str | None] = {}
    table: list[tuple[str, str | None]] = []
    for name, parent in RIGIFY_FK_PARENTS.items():
        for side in ("L", "R") if "{S}" in name else ("",):
            table.append(
                (name.replace("{S}", side), None if parent is None else parent.replace("{S}", side))
            )
    for name, parent in table:
        if name not in bones:
            continue
        while parent is not None and parent not in out:  # skip missing links up the table
            parent = dict(table).get(parent)
        out[name] = parent
    return out


def prepare_rigify_fk(obj: bpy.types.Object) -> dict[str, float]:
    """Switch a Rigify rig to plain FK and put the bones outside the proxy hierarchy at rest.

    Returns ``{"bone[prop]": value}`` of what was set, for the job report. Called inside the
    bake's undo step, after validation.
    """
    changed: dict[str, float] = {}
    keep = set(rigify_fk_parents(obj))
    for pb in obj.pose.bones:
        for prop, value in RIGIFY_FK_SETTINGS.items():
            if prop in pb.keys():
                pb[prop] = value
                changed[f"{pb.name}[{prop}]"] = value
        if pb.name not in keep:
            pb.location = (0.0, 0.0, 0.0)
            pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
            pb.rotation_euler = (0.0, 0.0, 0.0)
            pb.rotation_axis_angle = (0.0, 0.0, 1.0, 0.0)
            pb.scale = (1.0, 1.0, 1.0)
    return changed


def _bone_order(names: list[str], parents: dict[str, str | None]) -> list[str]:
    """Parents-first order (stable), with every root first in the original order."""
    depth: dict[str, int] = {}

    def d(n: str) -> int:
        if n not in depth:
            p = parents[n]
            depth[n] = 0 if p is None else d(p) + 1
        return depth[n]

    return sorted(names, key=lambda n: (d(n), names.index(n)))


def skeleton_from_armature(obj: bpy.types.Object) -> tuple[Skeleton, np.ndarray]:
    """The rest skeleton of ``obj`` in armature space and its ``matrix_world`` (4x4 numpy).

    Joint order is parents-first. An armature with several root bones gets a virtual root named
    ``"<armature>"`` at the origin (never keyed). A Rigify rig gives its FK proxy hierarchy.
    """
    check_armature(obj)
    bones = obj.data.bones
    if is_rigify_rig(obj):
        parents = rigify_fk_parents(obj)
    else:
        parents = {b.name: (b.parent.name if b.parent else None) for b in bones}
    names = _bone_order(list(parents), parents)
    roots = [n for n in names if parents[n] is None]
    virtual = len(roots) > 1

    n = len(names)
    mats = np.empty((n, 4, 4))
    for i, name in enumerate(names):
        mats[i] = np.array(bones[name].matrix_local)
    index = {name: i for i, name in enumerate(names)}
    parent_idx = np.array([index[parents[nm]] if parents[nm] else -1 for nm in names])

    rel = mats.copy()
    has_parent = parent_idx >= 0
    if np.any(has_parent):
        inv_parent = np.linalg.inv(mats[parent_idx[has_parent]])
        rel[has_parent] = inv_parent @ mats[has_parent]
    rot = rel[:, :3, :3]
    # Bone matrices are orthonormal; re-orthonormalise against float32 noise before converting.
    u, _, vt = np.linalg.svd(rot)
    rot = u @ vt
    rest = matrix_to_quat(rot)
    offsets = rel[:, :3, 3].copy()

    if virtual:
        names = ["<armature>", *names]
        parent_idx = np.concatenate([[-1], np.where(parent_idx >= 0, parent_idx + 1, 0)])
        rest = np.concatenate([[[1.0, 0.0, 0.0, 0.0]], rest])
        offsets = np.concatenate([[[0.0, 0.0, 0.0]], offsets])
    skeleton = Skeleton(names=names, parents=parent_idx, offsets=offsets, rest_rotations=rest)
    return skeleton, np.array(obj.matrix_world, dtype=np.float64)
