"""The main sidebar panel: View3D > Sidebar > "Dance AI".

Other parts of the Blender layer add sub-panels by mixing in ``SidebarSubPanel``.
The panel shows the version and whether the engine runtime is present, without importing it
(onnxruntime is only imported when an engine is loaded).
"""

from __future__ import annotations

import importlib.util
import sys

import bpy

from .. import manifest_version

_status_cache: dict[str, str] = {}


def runtime_status() -> str:
    """One line on onnxruntime: loaded (with version), available or missing; never imports it."""
    module = sys.modules.get("onnxruntime")
    if module is not None:
        return f"onnxruntime {getattr(module, '__version__', '?')} loaded"
    if "available" not in _status_cache:
        try:
            found = importlib.util.find_spec("onnxruntime") is not None
        except (ImportError, ValueError):
            found = False
        _status_cache["available"] = (
            "onnxruntime available (not loaded yet)" if found else "onnxruntime missing"
        )
    return _status_cache["available"]


def _version() -> str:
    if "version" not in _status_cache:
        _status_cache["version"] = manifest_version()
    return _status_cache["version"]


class SidebarPanel:
    """Where every Dance AI panel lives: View3D > Sidebar > "Dance AI" (one place to change it)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Dance AI"


class SidebarSubPanel(SidebarPanel):
    """A section under the main panel; mix in before ``bpy.types.Panel``."""

    bl_parent_id = "DANCEAI_PT_main"


class DANCEAI_PT_main(SidebarPanel, bpy.types.Panel):
    """Dance AI: generate dance motion and bake it onto the active armature."""

    bl_idname = "DANCEAI_PT_main"
    bl_label = "Dance AI"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        col = layout.column(align=True)
        col.label(text=f"Version {_version()}", icon="INFO")
        col.label(text=runtime_status())


_classes = (DANCEAI_PT_main,)
_register, _unregister = bpy.utils.register_classes_factory(_classes)


def register() -> None:
    """Register the main panel."""
    _status_cache.clear()
    _register()


def unregister() -> None:
    """Unregister the main panel."""
    _unregister()
