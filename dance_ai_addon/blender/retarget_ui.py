"""The "Retarget" section of the Dance AI sidebar: options, editable bone map, bake button.

Operators validate everything before changing anything: on a :class:`DanceAIError` they report
it (``self.report({'ERROR'}, ...)``) and return ``{'CANCELLED'}`` with the file untouched. The
data-changing ones carry ``UNDO`` so a bake is one Ctrl-Z step.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core.errors import DanceAIError, RigError
from . import props
from .panel import SidebarSubPanel

__all__ = [
    "DANCEAI_UL_mapping",
    "DANCEAI_OT_detect_mapping",
    "DANCEAI_OT_retarget_bake",
    "DANCEAI_OT_mapping_export",
    "DANCEAI_OT_mapping_import",
    "DANCEAI_PT_retarget",
    "options_from_settings",
    "register",
    "unregister",
]


def options_from_settings(settings: props.DanceAIRetargetSettings):
    """Core RetargetOptions from the panel settings."""
    from ..core.retarget import RetargetOptions

    return RetargetOptions(
        in_place=bool(settings.in_place),
        foot_cleanup=bool(settings.foot_cleanup),
        smooth_strength=float(settings.smooth_strength),
    )


def _active_armature(context: bpy.types.Context) -> bpy.types.Object:
    from .armature import check_armature

    return check_armature(context.active_object)


class DANCEAI_UL_mapping(bpy.types.UIList):
    """Bone map rows: canonical joint on the left, a searchable bone field on the right."""

    bl_idname = "DANCEAI_UL_mapping"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        obj = context.active_object
        row = layout.row(align=True)
        row.label(text=item.canonical)
        if obj is not None and obj.type == "ARMATURE":
            row.prop_search(item, "bone", obj.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


class DANCEAI_OT_detect_mapping(bpy.types.Operator):
    """Detect the bone map of the active armature (with the chosen preset) and store it on it"""

    bl_idname = "dance_ai.detect_mapping"
    bl_label = "Detect Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        from ..core.retarget import detect_mapping
        from ..core.skeleton import rest_pose_world
        from .armature import skeleton_from_armature

        try:
            obj = _active_armature(context)
            skel, _ = skeleton_from_armature(obj)
            preset = context.scene.dance_ai.preset
            mapping = detect_mapping(
                skel.names, skel.parents, rest_pose_world(skel)[0], preset=preset
            )
            if not mapping.bones:
                raise RigError(
                    f"No humanoid bones recognised on '{obj.name}'; pick a preset or map the "
                    "bones by hand."
                )
        except DanceAIError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        props.store_mapping(obj, mapping)
        missing = mapping.missing_required
        if missing:
            self.report(
                {"WARNING"}, f"Mapped {len(mapping.bones)} joints; missing {', '.join(missing)}"
            )
        else:
            self.report({"INFO"}, f"Mapped {len(mapping.bones)} joints ({mapping.preset})")
        return {"FINISHED"}


class DANCEAI_OT_retarget_bake(bpy.types.Operator):
    """Retarget the chosen motion onto the active armature and bake it into a new action"""

    bl_idname = "dance_ai.retarget_bake"
    bl_label = "Retarget and Bake"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and hasattr(context.scene, "dance_ai")

    def execute(self, context):
        from .jobs import get_last_generated_motion, run_retarget_job

        settings = context.scene.dance_ai
        try:
            obj = _active_armature(context)
            if settings.motion_source == "LAST":
                source = get_last_generated_motion()
                if source is None:
                    raise DanceAIError(
                        "No motion has been generated in this session yet; generate one or pick "
                        "a BVH file."
                    )
            else:
                source = settings.bvh_path
            # The stored (possibly hand-edited) map wins; the preset only drives detection.
            report = run_retarget_job(
                context.scene,
                obj,
                source,
                options_from_settings(settings),
                mapping=props.mapping_from_object(obj),
                nla=bool(settings.nla),
                preset=settings.preset,
            )
        except DanceAIError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        unmapped = report["unmapped"]
        msg = f"Baked {report['frames']} frames into '{report['action']}'"
        if unmapped:
            msg += f"; unmapped: {', '.join(unmapped)}"
        self.report({"INFO"}, msg)
        return {"FINISHED"}


class DANCEAI_OT_mapping_export(bpy.types.Operator, ExportHelper):
    """Export the active armature's bone map as JSON"""

    bl_idname = "dance_ai.mapping_export"
    bl_label = "Export Bone Map"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context):
        from ..core.retarget import mapping_to_json

        try:
            obj = _active_armature(context)
            mapping = props.mapping_from_object(obj)
            if mapping is None:
                raise RigError(f"'{obj.name}' has no bone map yet; detect one first.")
            text = mapping_to_json(mapping)
            with open(self.filepath, "w", encoding="utf-8") as fh:
                fh.write(text)
        except DanceAIError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, f"Cannot write '{self.filepath}': {e.strerror}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Bone map written to {os.path.basename(self.filepath)}")
        return {"FINISHED"}


class DANCEAI_OT_mapping_import(bpy.types.Operator, ImportHelper):
    """Import a bone map (JSON) onto the active armature"""

    bl_idname = "dance_ai.mapping_import"
    bl_label = "Import Bone Map"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context):
        from ..core.retarget import mapping_from_json

        try:
            obj = _active_armature(context)
            try:
                with open(self.filepath, encoding="utf-8") as fh:
                    text = fh.read(1_000_000)
            except OSError as e:
                raise DanceAIError(f"Cannot read '{self.filepath}': {e.strerror}.") from None
            mapping = mapping_from_json(text)
            missing_bones = [b for b in mapping.bones.values() if b not in obj.data.bones]
            if missing_bones:
                raise RigError(
                    f"The bone map names bones that '{obj.name}' does not have: "
                    f"{', '.join(missing_bones)}."
                )
        except DanceAIError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        props.store_mapping(obj, mapping)
        self.report({"INFO"}, f"Imported {len(mapping.bones)} joints")
        return {"FINISHED"}


class DANCEAI_PT_retarget(SidebarSubPanel, bpy.types.Panel):
    """Retarget a motion onto the active armature."""

    bl_idname = "DANCEAI_PT_retarget"
    bl_label = "Retarget"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.dance_ai
        col = layout.column()
        col.prop(settings, "motion_source")
        if settings.motion_source == "BVH":
            col.prop(settings, "bvh_path")
        obj = context.active_object
        if obj is not None and obj.type == "ARMATURE":
            col.label(text=f"Target: {obj.name}", icon="ARMATURE_DATA")
        else:
            col.label(text="Select an armature", icon="ERROR")
        col.prop(settings, "preset")
        row = col.row(align=True)
        row.operator(DANCEAI_OT_detect_mapping.bl_idname, icon="VIEWZOOM")
        row.operator(DANCEAI_OT_mapping_import.bl_idname, text="", icon="IMPORT")
        row.operator(DANCEAI_OT_mapping_export.bl_idname, text="", icon="EXPORT")
        if obj is not None and obj.type == "ARMATURE":
            group = obj.dance_ai_mapping
            if len(group.items):
                col.template_list(
                    DANCEAI_UL_mapping.bl_idname, "", group, "items", group, "active_index", rows=6
                )
                col.prop_search(group, "root_motion_bone", obj.data, "bones")
        col.separator()
        col.prop(settings, "smooth_strength", slider=True)
        col.prop(settings, "in_place")
        col.prop(settings, "foot_cleanup")
        col.prop(settings, "nla")
        col.operator(DANCEAI_OT_retarget_bake.bl_idname, icon="ACTION")


_classes = (
    DANCEAI_UL_mapping,
    DANCEAI_OT_detect_mapping,
    DANCEAI_OT_retarget_bake,
    DANCEAI_OT_mapping_export,
    DANCEAI_OT_mapping_import,
    DANCEAI_PT_retarget,
)


def register() -> None:
    """Register the properties, then the list, operators and the sub-panel."""
    props.register()
    try:
        for cls in _classes:
            bpy.utils.register_class(cls)
    except Exception:
        unregister()
        raise


def unregister() -> None:
    """Unregister everything :func:`register` added (classes, then the properties)."""
    for cls in reversed(_classes):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
    props.unregister()
