"""Retargeting: bone-map presets and detection, rest-pose-aware transfer through the canonical
SMPL-24 T-pose, root motion, foot-contact cleanup and accuracy metrics (numpy only)."""

from .mapping import BoneMapping, check_required, detect_mapping, mapping_from_json, mapping_to_json
from .presets import CANONICAL_JOINTS, PRESETS, REQUIRED_JOINTS
from .transfer import RetargetOptions, RetargetResult, pose_world, retarget, to_canonical

__all__ = [
    "BoneMapping",
    "CANONICAL_JOINTS",
    "PRESETS",
    "REQUIRED_JOINTS",
    "RetargetOptions",
    "RetargetResult",
    "check_required",
    "detect_mapping",
    "mapping_from_json",
    "mapping_to_json",
    "pose_world",
    "retarget",
    "to_canonical",
]
