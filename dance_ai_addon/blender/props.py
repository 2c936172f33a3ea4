"""Retarget settings: ``Scene.dance_ai`` (panel options) and ``Object.dance_ai_mapping``.

The bone map lives on the armature object so a re-bake (or a saved file) reuses what the user
edited. Generation settings are a separate group owned by the generation layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

if TYPE_CHECKING:  # the mapping module pulls numpy; keep it out of register()
    from ..core.retarget.mapping import BoneMapping


__all__ = [
    "PRESET_ITEMS",
    "DanceAIMappingItem",
    "DanceAIMapping",
    "DanceAIRetargetSettings",
    "mapping_from_object",
    "store_mapping",
    "register",
    "unregister",
]

PRESET_ITEMS = [
    ("auto", "Auto-detect", "Pick the preset that maps the most bones, then match by name"),
    ("mixamo", "Mixamo", "mixamorig:Hips, LeftUpLeg ... (with or without the prefix)"),
    ("rigify", "Rigify", "A generated Rigify rig, driven through its FK controls"),
    ("vrm", "VRM / VRoid", "J_Bip_C_Hips ... and VRM humanoid names"),
    ("ue", "Unreal mannequin", "pelvis, spine_01, thigh_l ..."),
    ("smpl", "SMPL / SMPL-X", "Pelvis, L_Hip ... (and m_avg_ prefixed)"),
    ("cmu", "CMU / BVH", "Hips / hip, LeftUpLeg / lThigh ..."),
    ("cc", "Character Creator", "CC_Base_Hip, CC_Base_L_Thigh ..."),
    ("mpfb", "MakeHuman / MPFB", "MakeHuman default skeleton names"),
]

SOURCE_ITEMS = [
    ("BVH", "BVH File", "Retarget a motion capture file"),
    ("LAST", "Last Generated Motion", "Retarget the motion generated last in this session"),
]


class DanceAIMappingItem(bpy.types.PropertyGroup):
    """One row of the bone map: a canonical (SMPL-24) joint and the rig bone that plays it."""

    canonical: StringProperty(name="Joint", description="Canonical SMPL-24 joint")  # type: ignore[valid-type]
    bone: StringProperty(name="Bone", description="Bone of this armature (empty: unmapped)")  # type: ignore[valid-type]


class DanceAIMapping(bpy.types.PropertyGroup):
    """The editable bone map stored on an armature object."""

    items: CollectionProperty(type=DanceAIMappingItem)  # type: ignore[valid-type]
    active_index: IntProperty(default=0)  # type: ignore[valid-type]
    preset: StringProperty(name="Preset", description="Preset the map was detected with")  # type: ignore[valid-type]
    root_motion_bone: StringProperty(  # type: ignore[valid-type]
        name="Root Motion Bone", description="Bone that takes the location keys"
    )


class DanceAIRetargetSettings(bpy.types.PropertyGroup):
    """Options of the Retarget panel (per scene)."""

    motion_source: EnumProperty(name="Source", items=SOURCE_ITEMS, default="BVH")  # type: ignore[valid-type]
    bvh_path: StringProperty(name="BVH File", subtype="FILE_PATH", default="")  # type: ignore[valid-type]
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="auto")  # type: ignore[valid-type]
    smooth_strength: FloatProperty(  # type: ignore[valid-type]
        name="Smoothing",
        description="Jerk smoothing strength after transfer (0 = off)",
        min=0.0,
        max=1.0,
        default=0.0,
        subtype="FACTOR",
    )
    in_place: BoolProperty(  # type: ignore[valid-type]
        name="In Place", description="Remove horizontal travel, keep the bounce", default=False
    )
    foot_cleanup: BoolProperty(  # type: ignore[valid-type]
        name="Foot Cleanup",
        description="Remove foot sliding and floor penetration during contacts",
        default=True,
    )
    nla: BoolProperty(  # type: ignore[valid-type]
        name="Push to NLA", description="Put the baked action on a new NLA track", default=False
    )


def mapping_from_object(obj: bpy.types.Object) -> BoneMapping | None:
    """The bone map stored on ``obj`` (None when nothing is stored)."""
    group = getattr(obj, "dance_ai_mapping", None)
    if group is None or len(group.items) == 0:
        return None
    from ..core.retarget.mapping import BoneMapping

    bones = {it.canonical: it.bone for it in group.items if it.bone}
    return BoneMapping(
        preset=group.preset or "custom",
        bones=bones,
        root_motion_bone=group.root_motion_bone or None,
    )


def store_mapping(obj: bpy.types.Object, mapping: BoneMapping) -> None:
    """Write ``mapping`` onto ``obj`` as one row per canonical joint (unmapped rows empty)."""
    from ..core.retarget.presets import CANONICAL_JOINTS

    group = obj.dance_ai_mapping
    group.items.clear()
    for joint in CANONICAL_JOINTS:
        item = group.items.add()
        item.canonical = joint
        item.bone = mapping.bones.get(joint, "")
    group.preset = mapping.preset
    group.root_motion_bone = mapping.root_motion_bone or ""
    group.active_index = 0


_classes = (DanceAIMappingItem, DanceAIMapping, DanceAIRetargetSettings)


def register() -> None:
    """Register the property groups and attach them to Scene and Object."""
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.dance_ai = PointerProperty(type=DanceAIRetargetSettings)
    bpy.types.Object.dance_ai_mapping = PointerProperty(type=DanceAIMapping)


def unregister() -> None:
    """Remove the pointer properties, then the classes (reverse order)."""
    for owner, attr in ((bpy.types.Object, "dance_ai_mapping"), (bpy.types.Scene, "dance_ai")):
        if hasattr(owner, attr):
            delattr(owner, attr)
    for cls in reversed(_classes):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
