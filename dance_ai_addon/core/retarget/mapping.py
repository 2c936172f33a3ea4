"""Bone maps: which rig bone plays which canonical (SMPL-24) joint.

A canonical joint maps to the bone whose HEAD sits at that joint (L_Hip -> thigh, L_Knee -> shin,
L_Ankle -> foot, L_Foot -> toe, L_Collar -> clavicle, L_Shoulder -> upper arm ...).
:func:`detect_mapping` tries every preset table and keeps the best; when none maps the required
joints, a name + hierarchy matcher fills the gaps, so unusual rigs still work.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import DanceAIError, RigError
from .presets import CANONICAL_JOINTS, PRESET_PARENTS, PRESETS, REQUIRED_JOINTS, ROOT_KEY

__all__ = [
    "BoneMapping",
    "detect_mapping",
    "check_required",
    "mapping_to_json",
    "mapping_from_json",
    "strip_namespace",
    "CANONICAL_PARENT",
]

# Canonical hierarchy (SMPL-24) as a name -> parent-name table.
CANONICAL_PARENT: dict[str, str | None] = {
    "Pelvis": None,
    "L_Hip": "Pelvis",
    "R_Hip": "Pelvis",
    "Spine1": "Pelvis",
    "L_Knee": "L_Hip",
    "R_Knee": "R_Hip",
    "Spine2": "Spine1",
    "L_Ankle": "L_Knee",
    "R_Ankle": "R_Knee",
    "Spine3": "Spine2",
    "L_Foot": "L_Ankle",
    "R_Foot": "R_Ankle",
    "Neck": "Spine3",
    "L_Collar": "Spine3",
    "R_Collar": "Spine3",
    "Head": "Neck",
    "L_Shoulder": "L_Collar",
    "R_Shoulder": "R_Collar",
    "L_Elbow": "L_Shoulder",
    "R_Elbow": "R_Shoulder",
    "L_Wrist": "L_Elbow",
    "R_Wrist": "R_Elbow",
    "L_Hand": "L_Wrist",
    "R_Hand": "R_Wrist",
}


@dataclass
class BoneMapping:
    """Canonical joint -> rig bone, plus what stayed unmapped and which bone takes root motion."""

    preset: str
    bones: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    root_motion_bone: str | None = None

    def __post_init__(self) -> None:
        bad = [k for k in self.bones if k not in CANONICAL_PARENT]
        if bad:
            raise DanceAIError(
                f"Bone map uses unknown canonical joint(s) {', '.join(bad)}; use SMPL-24 names "
                f"such as {', '.join(CANONICAL_JOINTS[:4])} ..."
            )
        self.unmapped = [j for j in CANONICAL_JOINTS if j not in self.bones]
        if self.root_motion_bone is None:
            self.root_motion_bone = self.bones.get("Pelvis")

    @property
    def missing_required(self) -> list[str]:
        return [j for j in REQUIRED_JOINTS if j not in self.bones]


def strip_namespace(name: str) -> str:
    """``mixamorig1:Hips`` -> ``Hips``; ``Armature|Hips`` -> ``Hips``."""
    return re.split(r"[:|]", name)[-1]


# --------------------------------------------------------------------------------------------
# preset matching


def _descends(parents: np.ndarray | None, child: int, anc: int) -> bool:
    if parents is None:
        return True
    j = int(parents[child])
    while j >= 0:
        if j == anc:
            return True
        j = int(parents[j])
    return False


def _nearest_mapped_ancestor(
    joint: str, found: dict[str, int], parent_of: dict[str, str | None] | None = None
) -> str | None:
    """Closest ancestor of ``joint`` that has a bone, in the canonical hierarchy as overridden by
    ``parent_of`` (a preset's :data:`PRESET_PARENTS` entry)."""
    table = CANONICAL_PARENT if not parent_of else {**CANONICAL_PARENT, **parent_of}
    p = table[joint]
    while p is not None and p not in found:
        p = table[p]
    return p


def _match_preset(
    table: dict[str, tuple[str, ...]],
    names: list[str],
    parents: np.ndarray | None,
    parent_of: dict[str, str | None] | None = None,
) -> tuple[dict[str, int], int | None]:
    """Bone index per canonical joint for one preset (each bone used once), and the root bone.

    ``parent_of`` overrides canonical parents for the hierarchy check, for rig families whose
    control hierarchy is not the canonical one (Rigify's reversed lower spine)."""
    stripped = [strip_namespace(n) for n in names]
    exact: dict[str, int] = {}
    lower: dict[str, int] = {}
    for i, s in enumerate(stripped):
        exact.setdefault(s, i)
        lower.setdefault(s.lower(), i)
    used: set[int] = set()
    found: dict[str, int] = {}
    root: int | None = None
    for joint, cands in table.items():
        hit = None
        for pass_ in (0, 1):
            for c in cands:
                i = exact.get(c) if pass_ == 0 else lower.get(c.lower())
                if i is not None and (joint == ROOT_KEY or i not in used):
                    hit = i
                    break
            if hit is not None:
                break
        if hit is None:
            continue
        if joint == ROOT_KEY:
            root = hit
            continue
        found[joint] = hit
        used.add(hit)
    # Drop entries that contradict the hierarchy (e.g. a clavicle read as an upper arm).
    if parents is not None:
        for joint in CANONICAL_JOINTS:
            if joint not in found:
                continue
            anc = _nearest_mapped_ancestor(joint, found, parent_of)
            if anc is not None and not _descends(parents, found[joint], found[anc]):
                del found[joint]
    return found, root


# --------------------------------------------------------------------------------------------
# fuzzy matching: normalised names + hierarchy

_SKIP = re.compile(r"twist|roll|share|helper|ik|pole|target|mch|org|wgt|end|nub|tip|_leaf|leaf")

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Pelvis": ("hips", "hip", "pelvis"),
    "Spine1": ("spine", "abdomen", "waist", "lowerback"),
    "Spine3": ("chest", "upperchest", "spine2", "spine3"),
    "Neck": ("neck",),
    "Head": ("head",),
    "Collar": ("clavicle", "collar", "shoulder"),
    "Shoulder": ("upperarm", "arm", "shldr", "shoulder"),
    "Elbow": ("forearm", "lowerarm", "elbow", "arm"),
    "Wrist": ("hand", "wrist"),
    "Hip": ("upleg", "thigh", "upperleg", "hip", "leg"),
    "Knee": ("lowerleg", "shin", "calf", "knee", "leg"),
    "Ankle": ("foot", "ankle"),
    "Foot": ("toebase", "toe", "ball"),
}

_SIDE_PATTERNS = (
    (re.compile(r"(^|[._\- ])(l|left)([._\- ]|$)"), "L"),
    (re.compile(r"(^|[._\- ])(r|right)([._\- ]|$)"), "R"),
    (re.compile(r"^left"), "L"),
    (re.compile(r"^right"), "R"),
    (re.compile(r"left"), "L"),
    (re.compile(r"right"), "R"),
)


def _split_camel(s: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", s)


def _side_and_core(name: str) -> tuple[str | None, str]:
    """Side token (L/R/None) and the name with side tokens and separators removed, lowercased."""
    s = _split_camel(strip_namespace(name)).lower()
    side = None
    for pat, sd in _SIDE_PATTERNS:
        if pat.search(s):
            side = sd
            s = pat.sub("_", s, count=1)
            break
    if (
        side is None
        and re.match(r"^[lr][a-z]", strip_namespace(name))
        and re.match(r"^[lr][A-Z]", strip_namespace(name))
    ):
        # SecondLife style lThigh / rShin
        side = strip_namespace(name)[0].upper()
        s = _split_camel(strip_namespace(name)[1:]).lower()
    core = re.sub(r"[^a-z0-9]", "", s)
    return side, core


def _children_lists(parents: np.ndarray) -> list[list[int]]:
    ch: list[list[int]] = [[] for _ in range(len(parents))]
    for j, p in enumerate(parents):
        if p >= 0:
            ch[int(p)].append(j)
    return ch


def _subtree_sizes(parents: np.ndarray) -> np.ndarray:
    size = np.ones(len(parents), dtype=np.int64)
    for j in range(len(parents) - 1, 0, -1):
        if parents[j] >= 0:
            size[int(parents[j])] += size[j]
    return size


def _fuzzy_fill(
    found: dict[str, int],
    names: list[str],
    parents: np.ndarray,
    heads: np.ndarray | None,
) -> dict[str, int]:
    """Fill unmapped joints from name keywords, then by walking chains down the hierarchy."""
    found = dict(found)
    used = set(found.values())
    info = [_side_and_core(n) for n in names]
    skip = [bool(_SKIP.search(core)) for _, core in info]
    sides: list[str | None] = [s for s, _ in info]
    if heads is not None:
        heads = np.asarray(heads, dtype=np.float64)
        # Left/right from head x sign relative to the rig's centre for bones with no side token.
        span = float(np.ptp(heads[:, 0])) if len(heads) else 0.0
        cx = float(np.median(heads[:, 0]))
        for i, s in enumerate(sides):
            if s is None and span > 0 and abs(heads[i, 0] - cx) > 0.02 * span:
                sides[i] = "L" if heads[i, 0] > cx else "R"
    children = _children_lists(parents)
    sizes = _subtree_sizes(parents)

    def by_keyword(joint: str) -> int | None:
        side = joint[0] if joint[:2] in ("L_", "R_") else None
        key = joint[2:] if side else joint
        if key in ("Spine2",):
            return None
        for kw in _KEYWORDS.get(key, ()):
            best = None
            for i, (_, core) in enumerate(info):
                if i in used or skip[i] or sides[i] != side:
                    continue
                if (
                    core == kw
                    or (len(kw) >= 5 and kw in core)
                    or (len(kw) > 3 and core.startswith(kw) and not core[len(kw) :].isalpha())
                ):
                    if best is None or sizes[i] > sizes[best]:
                        best = i
            if best is not None:
                return best
        return None

    for joint in CANONICAL_JOINTS:
        if joint in found:
            continue
        i = by_keyword(joint)
        if i is None:
            continue
        anc = _nearest_mapped_ancestor(joint, found)
        if anc is not None and not _descends(parents, i, found[anc]):
            continue
        found[joint] = i
        used.add(i)

    # Chain walk: a mapped joint whose canonical child is missing takes the child bone with the
    # largest subtree (skipping twist/helper bones): thigh -> shin when the shin is oddly named.
    chains = (
        ("L_Hip", "L_Knee", "L_Ankle", "L_Foot"),
        ("R_Hip", "R_Knee", "R_Ankle", "R_Foot"),
        ("L_Collar", "L_Shoulder", "L_Elbow", "L_Wrist"),
        ("R_Collar", "R_Shoulder", "R_Elbow", "R_Wrist"),
    )
    for chain in chains:
        for a, b in zip(chain[:-1], chain[1:]):
            if a in found and b not in found:
                cands = [c for c in children[found[a]] if c not in used and not skip[c]]
                if heads is not None:
                    cands = [
                        c for c in cands if np.linalg.norm(heads[c] - heads[found[a]]) > 1e-6
                    ] or cands
                if cands:
                    c = max(cands, key=lambda k: sizes[k])
                    found[b] = c
                    used.add(c)
    return found


# --------------------------------------------------------------------------------------------


def detect_mapping(
    names: list[str],
    parents: np.ndarray | list[int] | None = None,
    heads: np.ndarray | None = None,
    preset: str = "auto",
) -> BoneMapping:
    """Best bone map for a rig: a named preset, or ``"auto"`` (the preset mapping the most joints,
    gaps filled by the fuzzy name + hierarchy matcher when required joints are still missing)."""
    names = [str(n) for n in names]
    par = None if parents is None else np.asarray(parents, dtype=np.int64)
    if preset != "auto" and preset not in PRESETS:
        raise DanceAIError(
            f"Unknown bone-map preset '{preset}'; pick one of auto, {', '.join(PRESETS)}."
        )
    tables = PRESETS if preset == "auto" else {preset: PRESETS[preset]}
    best_name, best, best_root, best_key = "generic", {}, None, (-1, -1)
    for pname, table in tables.items():
        found, root = _match_preset(table, names, par, PRESET_PARENTS.get(pname))
        key = (sum(j in found for j in REQUIRED_JOINTS), len(found))
        if key > best_key:
            best_name, best, best_root, best_key = pname, found, root, key
    if any(j not in best for j in REQUIRED_JOINTS) and par is not None:
        filled = _fuzzy_fill(best, names, par, heads)
        if len(filled) > len(best):
            best = filled
            if preset == "auto":
                best_name = best_name + "+fuzzy" if best_name != "generic" else "generic"
    bones = {j: names[best[j]] for j in CANONICAL_JOINTS if j in best}
    root = names[best_root] if best_root is not None else bones.get("Pelvis")
    return BoneMapping(preset=best_name, bones=bones, root_motion_bone=root)


def check_required(mapping: BoneMapping, armature: str = "") -> None:
    """Raise RigError naming the required canonical joints that have no bone."""
    missing = mapping.missing_required
    if missing:
        who = f"Armature '{armature}'" if armature else "The armature"
        raise RigError(
            f"{who} has no bones for {', '.join(missing)}: map them in the Retarget panel or "
            "pick a preset."
        )


def mapping_to_json(mapping: BoneMapping) -> str:
    """A mapping as JSON text (for export and for storing on the armature)."""
    return json.dumps(
        {
            "preset": mapping.preset,
            "bones": {j: mapping.bones[j] for j in CANONICAL_JOINTS if j in mapping.bones},
            "root_motion_bone": mapping.root_motion_bone,
        },
        indent=1,
    )


def mapping_from_json(text: str) -> BoneMapping:
    """Parse and validate a mapping written by :func:`mapping_to_json` (or by hand)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise DanceAIError(f"The bone map is not valid JSON ({e}); export it again.") from None
    if not isinstance(data, dict) or not isinstance(data.get("bones"), dict):
        raise DanceAIError('The bone map JSON needs a "bones" object (canonical joint -> bone).')
    bones = data["bones"]
    for k, v in bones.items():
        if not isinstance(v, str) or not v:
            raise DanceAIError(f"The bone map gives joint '{k}' the bone {v!r}; use a bone name.")
    root = data.get("root_motion_bone")
    if root is not None and not isinstance(root, str):
        raise DanceAIError("The bone map's root_motion_bone must be a bone name or null.")
    return BoneMapping(
        preset=str(data.get("preset", "custom")), bones=dict(bones), root_motion_bone=root
    )
