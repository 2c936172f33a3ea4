"""The thin Blender layer: each submodule in :data:`MODULES` owns its classes and properties.

Every module listed exposes ``register()`` and ``unregister()``. They are registered in list
order and unregistered in reverse, so a module may rely on the ones before it (sub-panels need
the main panel; operators may need properties). Add new modules to :data:`MODULES`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES: list[str] = [
    "panel",
    "generate_ui",
    "cli_command",
    "retarget_ui",
]

_registered: list[ModuleType] = []


def _load(name: str) -> ModuleType:
    return importlib.import_module(f".{name}", __package__)


def register() -> None:
    """Register every module in :data:`MODULES`; on failure undo what was done, then re-raise."""
    if _registered:
        unregister()
    try:
        for name in MODULES:
            module = _load(name)
            module.register()
            _registered.append(module)
    except Exception:
        unregister()
        raise


def unregister() -> None:
    """Unregister the registered modules in reverse order (errors in one do not stop the rest)."""
    errors: list[BaseException] = []
    while _registered:
        module = _registered.pop()
        try:
            module.unregister()
        except Exception as exc:  # keep going: leave as little behind as possible
            errors.append(exc)
    if errors:
        raise errors[0]
