"""Small helpers shared by the bpy tests: a clean factory scene and hand-made armatures."""

from __future__ import annotations

from collections.abc import Sequence

import bpy


def factory_reset() -> None:
    """Empty factory startup state, so each test starts from the same Blender state."""
    bpy.ops.wm.read_factory_settings(use_empty=True)


def make_armature(
    name: str,
    bones: Sequence[tuple[str, str | None, tuple[float, float, float], tuple[float, float, float]]],
    rolls: dict[str, float] | None = None,
) -> bpy.types.Object:
    """Create an armature object linked to the scene from ``(name, parent, head, tail)`` rows."""
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    made = {}
    for bname, parent, head, tail in bones:
        eb = arm.edit_bones.new(bname)
        eb.head = head
        eb.tail = tail
        if rolls and bname in rolls:
            eb.roll = rolls[bname]
        if parent is not None:
            eb.parent = made[parent]
            eb.use_connect = False
        made[bname] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def chain_armature(name: str = "Chain", n: int = 5) -> bpy.types.Object:
    """A simple vertical chain of ``n`` bones (not humanoid) for baking tests."""
    rows = []
    for i in range(n):
        rows.append((f"b{i:02d}", None if i == 0 else f"b{i - 1:02d}", (0, 0, i), (0, 0, i + 1)))
    return make_armature(name, rows)


def make_face_mesh(name: str, keys: list[str]) -> bpy.types.Object:
    """A small mesh object with a Basis and one shape key per name."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for k in keys:
        obj.shape_key_add(name=k)
    return obj
