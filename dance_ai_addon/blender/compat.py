"""The one place that knows how Blender versions differ for actions and F-curves.

Blender 4.2/4.3 store F-curves directly on the action (``action.fcurves``). Blender 4.4 added
slotted actions (``action.slots``) but kept ``action.fcurves`` as a proxy for the first slot.
Blender 5.0 removed ``action.fcurves``: F-curves live in a channelbag of a keyframe strip for a
slot (``bpy_extras.anim_utils.action_ensure_channelbag_for_slot``). Everything else in the add-on
goes through the functions below and never touches these APIs directly. Branches test for the
feature, not the version number, so point releases that back-port an API keep working.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import bpy

__all__ = [
    "has_slotted_actions",
    "has_legacy_fcurves",
    "new_action",
    "ensure_slot",
    "assign_action",
    "new_fcurve",
    "new_fcurves",
    "fcurves_of",
    "keyframe_interpolation_value",
]


def has_slotted_actions() -> bool:
    """True on Blender 4.4+ (actions have slots)."""
    return hasattr(bpy.types.Action, "bl_rna") and "slots" in bpy.types.Action.bl_rna.properties


def has_legacy_fcurves() -> bool:
    """True up to 4.5, where ``Action.fcurves`` exists (a proxy for the first slot on 4.4/4.5)."""
    return "fcurves" in bpy.types.Action.bl_rna.properties


def new_action(name: str) -> bpy.types.Action:
    """Create a brand-new action; never returns (or renames) an action that already exists.

    Blender appends ``.001``-style suffixes when ``name`` is taken, so the user's own actions are
    never overwritten. The new action has no users until it is assigned; ``use_fake_user`` is
    left off so an unused bake does not linger in the file.
    """
    before = set(bpy.data.actions)
    action = bpy.data.actions.new(name=name)
    if action in before:  # cannot happen with the public API; guard the contract anyway
        raise RuntimeError(f"Blender returned the existing action {action.name!r}")
    return action


def ensure_slot(action: bpy.types.Action, obj: bpy.types.Object) -> object | None:
    """The action slot that animates ``obj`` (created if missing); None before 4.4 (no slots)."""
    if not has_slotted_actions():
        return None
    id_type = getattr(obj, "id_type", "OBJECT")  # also Key datablocks (shape-key curves)
    for slot in action.slots:
        if slot.target_id_type == id_type and slot.name_display == obj.name:
            return slot
    return action.slots.new(id_type=id_type, name=obj.name)


def assign_action(obj: bpy.types.Object, action: bpy.types.Action | None) -> object | None:
    """Assign ``action`` as the active action of ``obj`` (with its slot on 4.4+); returns the slot.

    ``None`` clears the active action (used after pushing a bake to an NLA strip).
    """
    anim = obj.animation_data or obj.animation_data_create()
    if action is None:
        anim.action = None
        return None
    slot = ensure_slot(action, obj)
    anim.action = action
    if slot is not None:
        anim.action_slot = slot
    return slot


def new_fcurve(
    action: bpy.types.Action,
    obj: bpy.types.Object,
    data_path: str,
    index: int,
    group: str,
) -> bpy.types.FCurve:
    """Create an F-curve animating ``obj.<data_path>[index]`` in ``action``, grouped by ``group``.

    The action must already be assigned to ``obj`` (see :func:`assign_action`) so the right slot
    is used on 4.4+.
    """
    if has_legacy_fcurves():
        # 4.2-4.5: the flat API (on 4.4/4.5 it adds to the first slot, which is the object's).
        return action.fcurves.new(data_path, index=index, action_group=group)
    from bpy_extras import anim_utils

    slot = ensure_slot(action, obj)
    channelbag = anim_utils.action_ensure_channelbag_for_slot(action, slot)
    return channelbag.fcurves.new(data_path, index=index, group_name=group)


def new_fcurves(
    action: bpy.types.Action,
    obj: bpy.types.Object,
    specs: Sequence[tuple[str, int, str]],
) -> list[bpy.types.FCurve]:
    """Create one F-curve per ``(data_path, index, group)`` in ``action``, in order.

    Same result as :func:`new_fcurve` per spec, but the F-curve collection (the slot's channelbag
    on 5.x) is resolved once for the whole batch instead of once per curve: a bake creates a few
    hundred curves. The action must already be assigned to ``obj``.
    """
    if has_legacy_fcurves():
        new = action.fcurves.new
        return [new(path, index=i, action_group=group) for path, i, group in specs]
    from bpy_extras import anim_utils

    slot = ensure_slot(action, obj)
    new = anim_utils.action_ensure_channelbag_for_slot(action, slot).fcurves.new
    return [new(path, index=i, group_name=group) for path, i, group in specs]


def fcurves_of(action: bpy.types.Action, obj: bpy.types.Object | None = None) -> list:
    """All F-curves of ``action`` that animate ``obj`` (on 4.2/4.3: all F-curves of the action)."""
    if has_legacy_fcurves() and not has_slotted_actions():
        return list(action.fcurves)
    return list(_iter_slotted_fcurves(action, obj))


def _iter_slotted_fcurves(action: bpy.types.Action, obj: bpy.types.Object | None) -> Iterator:
    slots = list(action.slots)
    if obj is not None:
        anim = obj.animation_data
        assigned = anim.action_slot if anim is not None and anim.action == action else None
        if assigned is not None:
            slots = [assigned]
        else:
            id_type = getattr(obj, "id_type", "OBJECT")
            slots = [s for s in slots if s.target_id_type == id_type and s.name_display == obj.name]
    handles = {s.handle for s in slots}
    for layer in action.layers:
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", ()):
                if bag.slot_handle in handles:
                    yield from bag.fcurves


def keyframe_interpolation_value(name: str = "LINEAR") -> int:
    """The integer ``foreach_set`` expects for a keyframe interpolation enum item."""
    return bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[name].value
