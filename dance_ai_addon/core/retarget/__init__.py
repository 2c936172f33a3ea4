"""Retargeting: bone-map presets and detection, rest-pose-aware transfer through the canonical
SMPL-24 T-pose, root motion, foot-contact cleanup and accuracy metrics (numpy only).

Names are resolved lazily (PEP 562) so that the Blender layer can import the small mapping
module at register time without paying for the transfer/feet machinery (register < 50 ms).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BoneMapping": "mapping",
    "check_required": "mapping",
    "detect_mapping": "mapping",
    "mapping_from_json": "mapping",
    "mapping_to_json": "mapping",
    "CANONICAL_JOINTS": "presets",
    "PRESETS": "presets",
    "REQUIRED_JOINTS": "presets",
    "RetargetOptions": "transfer",
    "RetargetResult": "transfer",
    "pose_world": "transfer",
    "retarget": "transfer",
    "to_canonical": "transfer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
