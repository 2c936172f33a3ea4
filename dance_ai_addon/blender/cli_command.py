"""``blender --background --command dance_ai ...``: the headless entry point inside Blender.

Registers a Blender CLI command whose handler runs the same argparse front as
``python -m dance_ai_addon`` (:func:`..cli.main`).
"""

from __future__ import annotations

import bpy

COMMAND_ID = "dance_ai"

_handle: object | None = None


def handler(argv: list[str]) -> int:
    """Run the Dance AI command line with Blender's remaining arguments; returns the exit code."""
    from ..cli import main

    return main(list(argv))


def register() -> None:
    """Register the ``dance_ai`` CLI command (Blender 4.2+)."""
    global _handle
    if _handle is not None:
        unregister()
    _handle = bpy.utils.register_cli_command(COMMAND_ID, handler)


def unregister() -> None:
    """Remove the CLI command again."""
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
