"""Build the sample rigs shipped in ``sample_rigs/`` (ours: CC0), deterministically, with bpy.

Run from the repository root with the dev venv (bpy 5.0.1 as a module)::

    .venv/bin/python sample_rigs/build_sample_rigs.py [OUT_DIR]

Each file holds one armature (named after the file) in a rest pose typical of its family and a
simple box-per-bone body mesh skinned to it (one vertex group per deforming bone, weight 1), so
a retarget result can be seen. Files are saved compressed (each well under 2 MB).
"""

from __future__ import annotations

import math
import os
import sys

import bpy
from mathutils import Matrix, Vector

HERE = os.path.dirname(os.path.abspath(__file__))

#: Generic human proportions (m), Blender Z-up, facing -Y, the character's left on +X.
#: Rows: (key, parent key, head, tail). Keys are renamed per family below.
HUMAN: list[tuple[str, str | None, tuple, tuple]] = [
    ("hips", None, (0, 0.0, 1.00), (0, 0.0, 1.10)),
    ("spine", "hips", (0, 0.0, 1.10), (0, 0.0, 1.22)),
    ("spine1", "spine", (0, 0.0, 1.22), (0, 0.0, 1.33)),
    ("spine2", "spine1", (0, 0.0, 1.33), (0, 0.0, 1.45)),
    ("neck", "spine2", (0, 0.0, 1.45), (0, 0.0, 1.55)),
    ("head", "neck", (0, 0.0, 1.55), (0, 0.0, 1.75)),
    ("collar.L", "spine2", (0.03, 0.0, 1.42), (0.17, 0.0, 1.43)),
    ("upperarm.L", "collar.L", (0.17, 0.0, 1.43), (0.45, 0.0, 1.43)),
    ("forearm.L", "upperarm.L", (0.45, 0.0, 1.43), (0.70, 0.0, 1.43)),
    ("hand.L", "forearm.L", (0.70, 0.0, 1.43), (0.80, 0.0, 1.43)),
    ("thigh.L", "hips", (0.09, 0.0, 0.98), (0.09, 0.0, 0.53)),
    ("shin.L", "thigh.L", (0.09, 0.0, 0.53), (0.09, 0.01, 0.09)),
    ("foot.L", "shin.L", (0.09, 0.01, 0.09), (0.09, -0.11, 0.03)),
    ("toe.L", "foot.L", (0.09, -0.11, 0.03), (0.09, -0.18, 0.03)),
]


def _flip_x(p: tuple) -> tuple:
    return (-p[0], p[1], p[2])


def _mirror(rows):
    out = []
    for key, parent, head, tail in rows:
        out.append((key, parent, head, tail))
        if key.endswith(".L"):
            par = parent.replace(".L", ".R") if parent and parent.endswith(".L") else parent
            out.append((key.replace(".L", ".R"), par, _flip_x(head), _flip_x(tail)))
    return out


HUMAN_FULL = _mirror(HUMAN)

MIXAMO = {
    "hips": "Hips", "spine": "Spine", "spine1": "Spine1", "spine2": "Spine2", "neck": "Neck",
    "head": "Head", "collar.{S}": "{Side}Shoulder", "upperarm.{S}": "{Side}Arm",
    "forearm.{S}": "{Side}ForeArm", "hand.{S}": "{Side}Hand", "thigh.{S}": "{Side}UpLeg",
    "shin.{S}": "{Side}Leg", "foot.{S}": "{Side}Foot", "toe.{S}": "{Side}ToeBase",
}  # fmt: skip
VRM = {
    "hips": "J_Bip_C_Hips", "spine": "J_Bip_C_Spine", "spine1": "J_Bip_C_Chest",
    "spine2": "J_Bip_C_UpperChest", "neck": "J_Bip_C_Neck", "head": "J_Bip_C_Head",
    "collar.{S}": "J_Bip_{S}_Shoulder", "upperarm.{S}": "J_Bip_{S}_UpperArm",
    "forearm.{S}": "J_Bip_{S}_LowerArm", "hand.{S}": "J_Bip_{S}_Hand",
    "thigh.{S}": "J_Bip_{S}_UpperLeg", "shin.{S}": "J_Bip_{S}_LowerLeg",
    "foot.{S}": "J_Bip_{S}_Foot", "toe.{S}": "J_Bip_{S}_ToeBase",
}  # fmt: skip
UE = {
    "hips": "pelvis", "spine": "spine_01", "spine1": "spine_02", "spine2": "spine_03",
    "neck": "neck_01", "head": "head", "collar.{S}": "clavicle_{s}", "upperarm.{S}": "upperarm_{s}",
    "forearm.{S}": "lowerarm_{s}", "hand.{S}": "hand_{s}", "thigh.{S}": "thigh_{s}",
    "shin.{S}": "calf_{s}", "foot.{S}": "foot_{s}", "toe.{S}": "ball_{s}",
}  # fmt: skip


def _rename(key: str, table: dict[str, str], prefix: str = "") -> str:
    if key.endswith((".L", ".R")):
        side = key[-1]
        pattern = table[key[:-2] + ".{S}"]
        name = (
            pattern.replace("{Side}", "Left" if side == "L" else "Right")
            .replace("{S}", side)
            .replace("{s}", side.lower())
        )
    else:
        name = table[key]
    return prefix + name


def _arm_rotation(key: str, angle_deg: float, rows_by_key: dict) -> Matrix | None:
    """Rotation lowering an arm bone by ``angle_deg`` about the shoulder (A-pose), else None."""
    if not key.startswith(("upperarm.", "forearm.", "hand.")):
        return None
    side = key[-1]
    pivot = Vector(rows_by_key[f"upperarm.{side}"][2])
    angle = math.radians(angle_deg) * (1.0 if side == "L" else -1.0)
    return Matrix.Translation(pivot) @ Matrix.Rotation(angle, 4, "Y") @ Matrix.Translation(-pivot)


def _new_armature(name: str) -> bpy.types.Object:
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def build_named_rig(
    name: str,
    table: dict[str, str],
    prefix: str = "",
    arm_down_deg: float = 0.0,
    rolls: dict[str, float] | None = None,
    extra_root: str | None = None,
) -> bpy.types.Object:
    """An armature from :data:`HUMAN_FULL` renamed with ``table``, arms lowered, given rolls."""
    obj = _new_armature(name)
    by_key = {r[0]: r for r in HUMAN_FULL}
    bpy.ops.object.mode_set(mode="EDIT")
    ebs = obj.data.edit_bones
    made = {}
    root_eb = None
    if extra_root:
        root_eb = ebs.new(extra_root)
        root_eb.head, root_eb.tail = (0, 0, 0), (0, -0.25, 0)
        root_eb.use_deform = False
    for key, parent, head, tail in HUMAN_FULL:
        eb = ebs.new(_rename(key, table, prefix))
        eb.head, eb.tail = head, tail
        mat = _arm_rotation(key, arm_down_deg, by_key) if arm_down_deg else None
        if mat is not None:
            eb.head, eb.tail = mat @ Vector(head), mat @ Vector(tail)
        eb.roll = 0.0
        if rolls:
            eb.roll = rolls.get(
                key, rolls.get(key[:-2] + ".{S}", 0.0) * (1 if key[-1:] != "R" else -1)
            )
        if parent is not None:
            eb.parent = made[parent]
            eb.use_connect = tuple(by_key[parent][3]) == tuple(head) and mat is None
        elif root_eb is not None:
            eb.parent = root_eb
        made[key] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def add_body(rig: bpy.types.Object, bones: list[str] | None = None) -> bpy.types.Object:
    """A box per deforming bone, one vertex group per bone (weight 1), skinned to ``rig``."""
    names = bones if bones is not None else [b.name for b in rig.data.bones if b.use_deform]
    verts, faces, groups = [], [], {}
    box_faces = [(0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3), (3, 7, 4, 0)]
    for name in names:
        bone = rig.data.bones[name]
        length = bone.length
        if length < 1e-4:
            continue
        r = max(0.025, min(0.09, 0.22 * length))
        m = bone.matrix_local
        base = len(verts)
        for y in (0.0, length):
            for x, z in ((-r, -r), (r, -r), (r, r), (-r, r)):
                verts.append(tuple(m @ Vector((x, y, z))))
        faces.extend(tuple(base + i for i in f) for f in box_faces)
        groups[name] = list(range(base, base + 8))
    mesh = bpy.data.meshes.new(f"{rig.name}_body")
    mesh.from_pydata(verts, [], faces)
    mesh.update()
    body = bpy.data.objects.new(f"{rig.name}_body", mesh)
    bpy.context.scene.collection.objects.link(body)
    for name, idx in groups.items():
        body.vertex_groups.new(name=name).add(idx, 1.0, "REPLACE")
    body.parent = rig
    mod = body.modifiers.new("Armature", "ARMATURE")
    mod.object = rig
    return body


def build_rigify_apose(arm_down_deg: float = 40.0) -> bpy.types.Object:
    """Rigify basic-human metarig, upper arms set ``arm_down_deg`` below horizontal (A-pose),
    generated into a rig."""
    import addon_utils

    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_basic_human_metarig_add()
    meta = bpy.context.active_object
    meta.name = "metarig"
    bpy.ops.object.mode_set(mode="EDIT")
    ebs = meta.data.edit_bones
    for side, sign in (("L", 1.0), ("R", -1.0)):
        upper = ebs[f"upper_arm.{side}"]
        pivot = upper.head.copy()
        d = upper.tail - upper.head
        current = math.degrees(math.atan2(-d.z, abs(d.x)))  # the metarig's own droop
        mat = (
            Matrix.Translation(pivot)
            @ Matrix.Rotation(math.radians(arm_down_deg - current) * sign, 4, "Y")
            @ Matrix.Translation(-pivot)
        )
        names = (f"upper_arm.{side}", f"forearm.{side}", f"hand.{side}")
        # Capture first: moving a connected parent drags its child's head along.
        saved = [(ebs[n].matrix.copy(), ebs[n].length) for n in names]
        for name, (m, length) in zip(names, saved, strict=True):
            ebs[name].matrix = mat @ m
            ebs[name].length = length
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.pose.rigify_generate()
    rig = bpy.data.objects["rig"]
    rig.name = "rigify_apose"
    bpy.data.objects.remove(meta)  # one armature per file: the generated rig
    return rig


VRM_ROLLS = {  # deliberately unusual, asymmetric-looking rolls (radians), mirrored per side
    "hips": 1.1, "spine": -2.3, "spine1": 0.7, "spine2": 2.9, "neck": -1.4, "head": 0.35,
    "collar.{S}": 2.2, "upperarm.{S}": -1.9, "forearm.{S}": 0.9, "hand.{S}": 3.0,
    "thigh.{S}": -0.6, "shin.{S}": 2.5, "foot.{S}": -2.8, "toe.{S}": 1.3,
}  # fmt: skip
MIXAMO_ROLLS = {  # Mixamo FBX imports: legs rolled 180 degrees, arms about their length axis
    "thigh.{S}": math.pi, "shin.{S}": math.pi, "upperarm.{S}": math.pi / 2,
    "forearm.{S}": math.pi / 2, "hand.{S}": math.pi / 2,
}  # fmt: skip


def _fresh() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _save(path: str) -> None:
    bpy.ops.wm.save_as_mainfile(filepath=path, compress=True)


def build_all(out_dir: str = HERE) -> list[str]:
    """Write the four sample .blend files into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    specs = [  # name, table, prefix, arm angle below horizontal, rolls, extra root bone
        ("mixamo_tpose", MIXAMO, "mixamorig:", 0.0, MIXAMO_ROLLS, None),
        ("vrm_apose_rolls", VRM, "", 35.0, VRM_ROLLS, None),
        ("ue_mannequin", UE, "", 0.0, None, "root"),
    ]
    for name, table, prefix, angle, rolls, root in specs:
        _fresh()
        rig = build_named_rig(name, table, prefix, angle, rolls, extra_root=root)
        add_body(rig)
        path = os.path.join(out_dir, f"{name}.blend")
        _save(path)
        paths.append(path)
    _fresh()
    rig = build_rigify_apose()
    add_body(rig, [b.name for b in rig.data.bones if b.name.startswith("DEF-")])
    path = os.path.join(out_dir, "rigify_apose.blend")
    _save(path)
    paths.append(path)
    return paths


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else HERE
    for p in build_all(target):
        print(f"{p}: {os.path.getsize(p) / 1e6:.2f} MB")
