"""Bone-name tables per rig family (data only, no code paths per family).

``PRESETS[preset][canonical_joint]`` lists candidate bone names, best first. Matching strips any
``namespace:`` prefix (``mixamorig:``, ``mixamorig1:``, ``Armature|`` ...) and tries the exact
name, then a case-insensitive match. ``{S}`` / ``{s}`` / ``{Side}`` / ``{side}`` / ``{LR}`` in a
candidate expand to the side token of the joint (L_/R_ joints): ``{S}`` -> ``L``/``R``,
``{s}`` -> ``l``/``r``, ``{Side}`` -> ``Left``/``Right``, ``{side}`` -> ``left``/``right``.
The pseudo-joint ``_root`` names the bone that takes location keys when it is not the pelvis bone
(Rigify ``torso``, CC ``CC_Base_Hip``).

:data:`PRESET_PARENTS` declares, per preset, where a rig family's control hierarchy departs from
the canonical one (checked by the bone-map hierarchy test instead of the canonical parent).
"""

from __future__ import annotations

from ..skeleton import SMPL24_NAMES

__all__ = [
    "CANONICAL_JOINTS",
    "REQUIRED_JOINTS",
    "OPTIONAL_JOINTS",
    "ROOT_KEY",
    "PRESETS",
    "PRESET_PARENTS",
]

# The canonical joints are the SMPL-24 skeleton the engines speak (one list, in skeleton.py).
CANONICAL_JOINTS: tuple[str, ...] = tuple(SMPL24_NAMES)

REQUIRED_JOINTS: tuple[str, ...] = (
    "Pelvis",
    "L_Hip",
    "R_Hip",
    "L_Knee",
    "R_Knee",
    "L_Ankle",
    "R_Ankle",
    "L_Shoulder",
    "R_Shoulder",
    "L_Elbow",
    "R_Elbow",
    "L_Wrist",
    "R_Wrist",
)

OPTIONAL_JOINTS: tuple[str, ...] = tuple(j for j in CANONICAL_JOINTS if j not in REQUIRED_JOINTS)

ROOT_KEY = "_root"

_T = tuple[str, ...]

# Sided joints are written once (``S_`` keys with side placeholders) and expanded below.
_RAW: dict[str, dict[str, _T]] = {
    "mixamo": {
        "Pelvis": ("Hips",),
        "Spine1": ("Spine",),
        "Spine2": ("Spine1",),
        "Spine3": ("Spine2",),
        "Neck": ("Neck",),
        "Head": ("Head",),
        "S_Collar": ("{Side}Shoulder",),
        "S_Shoulder": ("{Side}Arm",),
        "S_Elbow": ("{Side}ForeArm",),
        "S_Wrist": ("{Side}Hand",),
        "S_Hand": ("{Side}HandMiddle1", "{Side}HandIndex1"),
        "S_Hip": ("{Side}UpLeg",),
        "S_Knee": ("{Side}Leg",),
        "S_Ankle": ("{Side}Foot",),
        "S_Foot": ("{Side}ToeBase",),
    },
    # Generated rig, FK controls. The lower FK spine is a reversed chain hanging below the torso
    # pivot (torso -> spine_fk.001 -> spine_fk -> thighs): ``spine_fk`` carries DEF-spine and the
    # thighs, i.e. the pelvis; ``torso`` carries DEF-spine.001 and everything above, i.e. Spine1
    # (see PRESET_PARENTS). A rig without ``spine_fk`` falls back to the torso as the pelvis.
    "rigify": {
        ROOT_KEY: ("torso",),
        "Pelvis": ("spine_fk", "torso"),
        "Spine1": ("torso",),
        "Spine2": ("spine_fk.002",),
        "Spine3": ("spine_fk.003", "chest"),
        "Neck": ("neck",),
        "Head": ("head",),
        "S_Collar": ("shoulder.{S}",),
        "S_Shoulder": ("upper_arm_fk.{S}",),
        "S_Elbow": ("forearm_fk.{S}",),
        "S_Wrist": ("hand_fk.{S}",),
        "S_Hip": ("thigh_fk.{S}",),
        "S_Knee": ("shin_fk.{S}",),
        "S_Ankle": ("foot_fk.{S}",),
        "S_Foot": ("toe_fk.{S}", "toe.{S}"),
    },
    "rigify_metarig": {
        "Pelvis": ("spine",),
        "Spine1": ("spine.001",),
        "Spine2": ("spine.002",),
        "Spine3": ("spine.003",),
        "Neck": ("spine.004",),
        "Head": ("spine.006", "spine.005"),
        "S_Collar": ("shoulder.{S}",),
        "S_Shoulder": ("upper_arm.{S}",),
        "S_Elbow": ("forearm.{S}",),
        "S_Wrist": ("hand.{S}",),
        "S_Hip": ("thigh.{S}",),
        "S_Knee": ("shin.{S}",),
        "S_Ankle": ("foot.{S}",),
        "S_Foot": ("toe.{S}",),
    },
    "rigify_def": {
        "Pelvis": ("DEF-hips", "DEF-spine"),
        "Spine1": ("DEF-spine.001",),
        "Spine2": ("DEF-spine.002",),
        "Spine3": ("DEF-spine.003",),
        "Neck": ("DEF-neck", "DEF-spine.004"),
        "Head": ("DEF-head", "DEF-spine.006", "DEF-spine.005"),
        "S_Collar": ("DEF-shoulder.{S}",),
        "S_Shoulder": ("DEF-upper_arm.{S}",),
        "S_Elbow": ("DEF-forearm.{S}",),
        "S_Wrist": ("DEF-hand.{S}",),
        "S_Hip": ("DEF-thigh.{S}",),
        "S_Knee": ("DEF-shin.{S}",),
        "S_Ankle": ("DEF-foot.{S}",),
        "S_Foot": ("DEF-toe.{S}",),
    },
    "cc": {
        ROOT_KEY: ("CC_Base_Hip", "CC_Base_BoneRoot"),
        "Pelvis": ("CC_Base_Hip", "CC_Base_Pelvis"),
        "Spine1": ("CC_Base_Waist",),
        "Spine2": ("CC_Base_Spine01",),
        "Spine3": ("CC_Base_Spine02",),
        "Neck": ("CC_Base_NeckTwist01",),
        "Head": ("CC_Base_Head",),
        "S_Collar": ("CC_Base_{S}_Clavicle",),
        "S_Shoulder": ("CC_Base_{S}_Upperarm",),
        "S_Elbow": ("CC_Base_{S}_Forearm",),
        "S_Wrist": ("CC_Base_{S}_Hand",),
        "S_Hand": ("CC_Base_{S}_Mid1",),
        "S_Hip": ("CC_Base_{S}_Thigh",),
        "S_Knee": ("CC_Base_{S}_Calf",),
        "S_Ankle": ("CC_Base_{S}_Foot",),
        "S_Foot": ("CC_Base_{S}_ToeBase",),
    },
    "vrm": {
        "Pelvis": ("J_Bip_C_Hips", "hips", "Hips"),
        "Spine1": ("J_Bip_C_Spine", "spine"),
        "Spine2": ("J_Bip_C_Chest", "chest"),
        "Spine3": ("J_Bip_C_UpperChest", "upperChest"),
        "Neck": ("J_Bip_C_Neck", "neck"),
        "Head": ("J_Bip_C_Head", "head"),
        "S_Collar": ("J_Bip_{S}_Shoulder", "{side}Shoulder"),
        "S_Shoulder": ("J_Bip_{S}_UpperArm", "{side}UpperArm"),
        "S_Elbow": ("J_Bip_{S}_LowerArm", "{side}LowerArm"),
        "S_Wrist": ("J_Bip_{S}_Hand", "{side}Hand"),
        "S_Hand": ("J_Bip_{S}_Middle1", "{side}MiddleProximal"),
        "S_Hip": ("J_Bip_{S}_UpperLeg", "{side}UpperLeg"),
        "S_Knee": ("J_Bip_{S}_LowerLeg", "{side}LowerLeg"),
        "S_Ankle": ("J_Bip_{S}_Foot", "{side}Foot"),
        "S_Foot": ("J_Bip_{S}_ToeBase", "{side}Toes"),
    },
    "ue": {
        ROOT_KEY: ("pelvis",),
        "Pelvis": ("pelvis",),
        "Spine1": ("spine_01",),
        "Spine2": ("spine_02", "spine_03"),
        "Spine3": ("spine_03", "spine_04", "spine_05"),
        "Neck": ("neck_01",),
        "Head": ("head",),
        "S_Collar": ("clavicle_{s}",),
        "S_Shoulder": ("upperarm_{s}",),
        "S_Elbow": ("lowerarm_{s}",),
        "S_Wrist": ("hand_{s}",),
        "S_Hand": ("middle_01_{s}", "index_01_{s}"),
        "S_Hip": ("thigh_{s}",),
        "S_Knee": ("calf_{s}",),
        "S_Ankle": ("foot_{s}",),
        "S_Foot": ("ball_{s}",),
    },
    "smpl": {
        "Pelvis": ("Pelvis", "m_avg_Pelvis", "pelvis"),
        "Spine1": ("Spine1", "m_avg_Spine1", "spine1"),
        "Spine2": ("Spine2", "m_avg_Spine2", "spine2"),
        "Spine3": ("Spine3", "m_avg_Spine3", "spine3"),
        "Neck": ("Neck", "m_avg_Neck", "neck"),
        "Head": ("Head", "m_avg_Head", "head"),
        "S_Collar": ("{S}_Collar", "m_avg_{S}_Collar", "{side}_collar"),
        "S_Shoulder": ("{S}_Shoulder", "m_avg_{S}_Shoulder", "{side}_shoulder"),
        "S_Elbow": ("{S}_Elbow", "m_avg_{S}_Elbow", "{side}_elbow"),
        "S_Wrist": ("{S}_Wrist", "m_avg_{S}_Wrist", "{side}_wrist"),
        "S_Hand": ("{S}_Hand", "m_avg_{S}_Hand", "{side}_index1"),
        "S_Hip": ("{S}_Hip", "m_avg_{S}_Hip", "{side}_hip"),
        "S_Knee": ("{S}_Knee", "m_avg_{S}_Knee", "{side}_knee"),
        "S_Ankle": ("{S}_Ankle", "m_avg_{S}_Ankle", "{side}_ankle"),
        "S_Foot": ("{S}_Foot", "m_avg_{S}_Foot", "{side}_foot"),
    },
    # cgspeed MotionBuilder-friendly and FAIR/Mixamo-like BVH: LeftShoulder is the clavicle.
    "cmu_mb": {
        "Pelvis": ("Hips", "hip"),
        "Spine1": ("LowerBack", "Spine"),
        "Spine2": ("Spine", "Spine1"),
        "Spine3": ("Spine1", "Spine2", "Spine3"),
        "Neck": ("Neck", "Neck1"),
        "Head": ("Head",),
        "S_Collar": ("{Side}Shoulder",),
        "S_Shoulder": ("{Side}Arm",),
        "S_Elbow": ("{Side}ForeArm",),
        "S_Wrist": ("{Side}Hand",),
        "S_Hand": ("{Side}FingerBase", "{Side}HandEnd", "{Side}HandMiddle1"),
        "S_Hip": ("{Side}UpLeg",),
        "S_Knee": ("{Side}Leg",),
        "S_Ankle": ("{Side}Foot",),
        "S_Foot": ("{Side}ToeBase", "{Side}Toe"),
    },
    # cgspeed 3dsMax-friendly BVH: LeftCollar is the clavicle, LeftShoulder the upper arm.
    "cmu_3dsmax": {
        "Pelvis": ("Hips",),
        "Spine1": ("lowerback",),
        "Spine2": ("Chest",),
        "Spine3": ("Chest2",),
        "Neck": ("Neck", "lowerneck"),
        "Head": ("Head",),
        "S_Collar": ("{Side}Collar",),
        "S_Shoulder": ("{Side}Shoulder",),
        "S_Elbow": ("{Side}Elbow",),
        "S_Wrist": ("{Side}Wrist",),
        "S_Hand": ("{s}hand",),
        "S_Hip": ("{Side}Hip",),
        "S_Knee": ("{Side}Knee",),
        "S_Ankle": ("{Side}Ankle",),
        "S_Foot": ("{Side}Toe",),
    },
    # SecondLife / outworldz / DAZ BVH conversions (the CMU salsa files).
    "cmu_sl": {
        "Pelvis": ("hip", "hips"),
        "Spine1": ("abdomen",),
        "Spine2": ("abdomen2",),
        "Spine3": ("chest",),
        "Neck": ("neck",),
        "Head": ("head",),
        "S_Collar": ("{s}Collar",),
        "S_Shoulder": ("{s}Shldr",),
        "S_Elbow": ("{s}ForeArm",),
        "S_Wrist": ("{s}Hand",),
        "S_Hand": ("{s}Mid1",),
        "S_Hip": ("{s}Thigh",),
        "S_Knee": ("{s}Shin",),
        "S_Ankle": ("{s}Foot",),
        "S_Foot": ("{s}Toe",),
    },
    "mpfb": {
        ROOT_KEY: ("root", "Root"),
        "Pelvis": ("pelvis", "root", "Root"),
        "Spine1": ("spine05", "spine_01", "spine01"),
        "Spine2": ("spine03", "spine_02", "spine02"),
        "Spine3": ("spine01", "spine_03", "spine03"),
        "Neck": ("neck01", "neck_01", "neck"),
        "Head": ("head", "Head"),
        "S_Collar": ("clavicle.{S}", "clavicle_{s}", "shoulder01.{S}"),
        "S_Shoulder": ("upperarm01.{S}", "upperarm_{s}", "upper_arm.{S}"),
        "S_Elbow": ("lowerarm01.{S}", "lowerarm_{s}", "forearm.{S}"),
        "S_Wrist": ("wrist.{S}", "hand_{s}", "hand.{S}"),
        "S_Hand": ("finger3-1.{S}", "middle_01_{s}"),
        "S_Hip": ("upperleg01.{S}", "thigh_{s}", "thigh.{S}"),
        "S_Knee": ("lowerleg01.{S}", "calf_{s}", "shin.{S}"),
        "S_Ankle": ("foot.{S}", "foot_{s}"),
        "S_Foot": ("toe1-1.{S}", "ball_{s}", "toe.{S}"),
    },
    # Any CMU BVH conversion; LeftShoulder is resolved as clavicle or upper arm by which
    # candidate set exists (3dsMax files have LeftCollar + LeftShoulder, MB files LeftShoulder +
    # LeftArm) and checked against the hierarchy in mapping.py.
    "cmu": {
        "Pelvis": ("Hips", "hip", "hips"),
        "Spine3": ("Chest2", "chest", "Spine3", "Spine2", "Spine1"),
        "Spine1": ("LowerBack", "lowerback", "abdomen", "Spine"),
        "Spine2": ("Chest", "abdomen2", "Spine1", "Spine", "Spine2"),
        "Neck": ("Neck", "neck", "lowerneck", "Neck1"),
        "Head": ("Head", "head"),
        "S_Shoulder": ("{Side}Arm", "{s}Shldr", "{Side}Shoulder"),
        "S_Collar": ("{Side}Collar", "{s}Collar", "{Side}Shoulder"),
        "S_Elbow": ("{Side}ForeArm", "{s}ForeArm", "{Side}Elbow"),
        "S_Wrist": ("{Side}Hand", "{s}Hand", "{Side}Wrist"),
        "S_Hand": (
            "{Side}FingerBase",
            "{Side}HandEnd",
            "{Side}HandMiddle1",
            "{s}Mid1",
            "{S}Fingers",
        ),
        "S_Hip": ("{Side}UpLeg", "{s}Thigh", "{Side}Hip"),
        "S_Knee": ("{Side}Leg", "{s}Shin", "{Side}Knee"),
        "S_Ankle": ("{Side}Foot", "{s}Foot", "{Side}Ankle"),
        "S_Foot": ("{Side}ToeBase", "{Side}Toe", "{s}Toe"),
    },
    # Loose names for everything else; the fuzzy matcher in mapping.py does the rest.
    "generic": {
        "Pelvis": ("Hips", "hips", "Hip", "hip", "Pelvis", "pelvis", "Root", "root"),
        "Spine1": ("Spine", "spine", "Spine1", "spine1", "spine_01", "Abdomen", "abdomen"),
        "Spine2": ("Spine1", "Spine2", "spine2", "spine_02", "Chest", "chest"),
        "Spine3": ("Spine2", "Spine3", "spine3", "spine_03", "Chest", "chest", "UpperChest"),
        "Neck": ("Neck", "neck", "Neck1", "neck_01"),
        "Head": ("Head", "head"),
        "S_Collar": (
            "{Side}Shoulder",
            "shoulder.{S}",
            "Shoulder.{S}",
            "clavicle_{s}",
            "{Side}Collar",
            "Clavicle.{S}",
            "clavicle.{S}",
            "{S}_Clavicle",
        ),
        "S_Shoulder": (
            "{Side}Arm",
            "upper_arm.{S}",
            "UpperArm.{S}",
            "upperarm_{s}",
            "{Side}UpperArm",
            "upperarm.{S}",
            "Arm.{S}",
            "{S}_UpperArm",
        ),
        "S_Elbow": (
            "{Side}ForeArm",
            "forearm.{S}",
            "ForeArm.{S}",
            "lowerarm_{s}",
            "{Side}LowerArm",
            "lowerarm.{S}",
            "Elbow.{S}",
            "{S}_ForeArm",
        ),
        "S_Wrist": ("{Side}Hand", "hand.{S}", "Hand.{S}", "hand_{s}", "Wrist.{S}", "{S}_Hand"),
        "S_Hip": (
            "{Side}UpLeg",
            "thigh.{S}",
            "Thigh.{S}",
            "thigh_{s}",
            "{Side}UpperLeg",
            "upperleg.{S}",
            "UpperLeg.{S}",
            "{S}_Thigh",
        ),
        "S_Knee": (
            "{Side}Leg",
            "shin.{S}",
            "Shin.{S}",
            "calf_{s}",
            "{Side}LowerLeg",
            "lowerleg.{S}",
            "LowerLeg.{S}",
            "Calf.{S}",
            "{S}_Calf",
        ),
        "S_Ankle": ("{Side}Foot", "foot.{S}", "Foot.{S}", "foot_{s}", "{S}_Foot"),
        "S_Foot": ("{Side}ToeBase", "toe.{S}", "Toe.{S}", "ball_{s}", "{Side}Toe", "{S}_Toe"),
    },
}

_SIDES = {
    "L": {"{S}": "L", "{s}": "l", "{Side}": "Left", "{side}": "left"},
    "R": {"{S}": "R", "{s}": "r", "{Side}": "Right", "{side}": "right"},
}


def _expand(raw: dict[str, _T]) -> dict[str, _T]:
    """Turn ``S_`` template rows into ``L_``/``R_`` rows, keeping the table's row order."""
    out: dict[str, _T] = {}
    for key, cands in raw.items():
        if not key.startswith("S_"):
            out[key] = tuple(cands)
            continue
        for side, subs in _SIDES.items():
            names = []
            for cand in cands:
                for tok, val in subs.items():
                    cand = cand.replace(tok, val)
                names.append(cand)
            out[side + key[1:]] = tuple(names)
    return out


PRESETS: dict[str, dict[str, _T]] = {name: _expand(table) for name, table in _RAW.items()}

#: Canonical parent overrides per preset (joint -> the canonical joint whose bone is its bone's
#: ancestor, ``None`` for a top joint). Rigify's hip control (pelvis) hangs below the torso
#: (Spine1), so there the pelvis descends from Spine1 and Spine1 has no parent.
PRESET_PARENTS: dict[str, dict[str, str | None]] = {
    "rigify": {"Spine1": None, "Pelvis": "Spine1"},
}
