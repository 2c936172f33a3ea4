"""Dance AI: a Blender extension that generates dance motion and retargets it onto any armature.

This file is the Blender entry point. It stays tiny on purpose: Blender imports it when the
extension is enabled, so it imports nothing heavy (no ``bpy`` at module level, no onnxruntime,
TensorRT, PyCUDA or torch); the Blender layer is imported inside :func:`register`. All imports in
the package are relative, so it works both as ``dance_ai_addon`` (development, CLI) and as
``bl_ext.<repo>.dance_ai`` (installed extension). The metadata lives in ``blender_manifest.toml``
(no ``bl_info``).
"""

from __future__ import annotations

import os

__all__ = ["register", "unregister", "manifest_path", "manifest_version"]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def manifest_path() -> str | None:
    """Path of ``blender_manifest.toml``: in the package when installed, beside it in the repo."""
    for candidate in (
        os.path.join(_PKG_DIR, "blender_manifest.toml"),
        os.path.join(os.path.dirname(_PKG_DIR), "blender_manifest.toml"),
    ):
        if os.path.isfile(candidate):
            return candidate
    return None


def manifest_version() -> str:
    """The extension version from the manifest (the one source of the version number)."""
    path = manifest_path()
    if path is None:
        return "unknown"
    import tomllib

    with open(path, "rb") as fh:
        return str(tomllib.load(fh).get("version", "unknown"))


def register() -> None:
    """Register the Blender layer (classes, properties, CLI command); called by Blender."""
    from . import blender

    blender.register()


def unregister() -> None:
    """Remove everything :func:`register` added; called by Blender on disable."""
    from . import blender

    blender.unregister()
