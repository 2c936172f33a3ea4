"""Bone-map presets, auto-detection, the fuzzy fallback and JSON round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dance_ai_addon.core.bvh import load_bvh_clip
from dance_ai_addon.core.errors import DanceAIError, RigError
from dance_ai_addon.core.retarget import (
    PRESETS,
    REQUIRED_JOINTS,
    check_required,
    detect_mapping,
    mapping_from_json,
    mapping_to_json,
)
from dance_ai_addon.core.skeleton import rest_pose_world

from .synth_rigs import make_target

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(
    "fname, preset, checks",
    [
        ("cmu_60_01_sl60.bvh", "cmu_sl", {"L_Shoulder": "lShldr", "L_Hip": "lThigh"}),
        (
            "cmu_131_03_3dsmax120.bvh",
            "cmu_3dsmax",
            {"L_Collar": "LeftCollar", "L_Shoulder": "LeftShoulder"},
        ),
        (
            "animateddrawings_fair1_dab30.bvh",
            None,
            {"L_Collar": "LeftShoulder", "L_Shoulder": "LeftArm"},
        ),
        ("cmu_05_03_ccbase60.bvh", "cc", {"Pelvis": "CC_Base_Hip", "L_Knee": "CC_Base_L_Calf"}),
        ("animateddrawings_jesse_dance_rokoko100.bvh", "mixamo", {"L_Elbow": "LeftForeArm"}),
    ],
)
def test_detect_real_bvh_families(fname, preset, checks):
    sk = load_bvh_clip(DATA / fname).skeleton
    m = detect_mapping(sk.names, sk.parents)
    assert not m.missing_required
    if preset:
        assert m.preset == preset
    for k, v in checks.items():
        assert m.bones[k] == v


def test_mixamo_namespaces_and_ue_synthetic():
    sk, table = make_target("mixamo")
    m = detect_mapping(sk.names, sk.parents)
    assert m.preset == "mixamo" and m.bones == table
    renamed = [n.replace("mixamorig:", "mixamorig7:") for n in sk.names]
    assert detect_mapping(renamed, sk.parents).bones["L_Knee"] == "mixamorig7:LeftLeg"
    sk2, table2 = make_target("ue")
    m2 = detect_mapping(sk2.names, sk2.parents)
    assert m2.preset == "ue" and m2.bones == table2 and m2.root_motion_bone == "pelvis"


def test_every_preset_maps_its_own_names():
    for name, table in PRESETS.items():
        names = [c[0] for c in table.values()]
        names = list(dict.fromkeys(names))
        m = detect_mapping(names, None, preset=name)
        assert set(REQUIRED_JOINTS) <= set(m.bones), name


def test_fuzzy_fallback_odd_names():
    sk, table = make_target("mixamo")
    odd = {
        "mixamorig:LeftUpLeg": "Bip_UpperLeg_Left",
        "mixamorig:RightUpLeg": "Bip_UpperLeg_Right",
        "mixamorig:LeftLeg": "knee_joint_L",
        "mixamorig:RightLeg": "knee_joint_R",
        "mixamorig:LeftForeArm": "Bip_Forearm_Left",
        "mixamorig:RightForeArm": "Bip_Forearm_Right",
    }
    names = [odd.get(n, n) for n in sk.names]
    heads = rest_pose_world(sk)[0]
    m = detect_mapping(names, sk.parents, heads)
    assert not m.missing_required
    assert m.bones["L_Hip"] == "Bip_UpperLeg_Left" and m.bones["R_Knee"] == "knee_joint_R"
    assert m.bones["L_Elbow"] == "Bip_Forearm_Left"


def test_missing_required_names_them():
    sk, _ = make_target("mixamo")
    names = [n if "Leg" not in n or "Up" in n else f"bone{i}" for i, n in enumerate(sk.names)]
    m = detect_mapping(names, None)
    with pytest.raises(RigError, match="L_Knee, R_Knee"):
        check_required(m, "Body")


def test_json_round_trip_and_validation():
    sk, _ = make_target("ue")
    m = detect_mapping(sk.names, sk.parents)
    m2 = mapping_from_json(mapping_to_json(m))
    assert m2.bones == m.bones and m2.root_motion_bone == m.root_motion_bone
    assert m2.unmapped == m.unmapped
    with pytest.raises(DanceAIError, match="Elbo"):
        mapping_from_json('{"bones": {"Elbo": "x"}}')
    with pytest.raises(DanceAIError):
        mapping_from_json("not json")
    assert np.all([j in m2.bones for j in REQUIRED_JOINTS])


# A generated Rigify rig's FK controls as blender/armature.py presents them (effective parents
# once switched to FK): the lower FK spine hangs below the torso pivot, so the pelvis control
# (spine_fk) is a child of the torso, which plays Spine1.
_RIGIFY_FK = [
    ("root", None),
    ("torso", "root"),
    ("spine_fk", "torso"),
    ("spine_fk.002", "torso"),
    ("spine_fk.003", "spine_fk.002"),
    ("neck", "spine_fk.003"),
    ("head", "neck"),
    *[
        (f"{b}.{s}", p.format(s=s))
        for s in "LR"
        for b, p in (
            ("shoulder", "spine_fk.003"),
            ("upper_arm_fk", "shoulder.{s}"),
            ("forearm_fk", "upper_arm_fk.{s}"),
            ("hand_fk", "forearm_fk.{s}"),
            ("thigh_fk", "spine_fk"),
            ("shin_fk", "thigh_fk.{s}"),
            ("foot_fk", "shin_fk.{s}"),
            ("toe_fk", "foot_fk.{s}"),
        )
    ],
]


def _names_parents(table):
    names = [n for n, _ in table]
    return names, [names.index(p) if p else -1 for _, p in table]


def test_rigify_reversed_lower_spine_keeps_the_whole_map():
    names, parents = _names_parents(_RIGIFY_FK)
    m = detect_mapping(names, parents)
    assert m.preset == "rigify" and not m.missing_required
    assert m.bones["Pelvis"] == "spine_fk" and m.bones["Spine1"] == "torso"
    assert m.root_motion_bone == "torso"
    assert m.bones["Spine2"] == "spine_fk.002" and m.bones["Neck"] == "neck"
    assert m.bones["L_Shoulder"] == "upper_arm_fk.L" and m.bones["R_Knee"] == "shin_fk.R"
    assert m.bones["L_Collar"] == "shoulder.L" and m.bones["R_Foot"] == "toe_fk.R"


def test_rigify_parent_override_still_checks_the_hierarchy():
    # thighs hung on the torso instead of the hip control contradict the (overridden) hierarchy
    table = [(n, "torso" if n.startswith("thigh_fk") else p) for n, p in _RIGIFY_FK]
    names, parents = _names_parents(table)
    m = detect_mapping(names, parents, preset="rigify")
    assert "L_Hip" not in m.bones and "R_Hip" not in m.bones
    assert m.bones["L_Shoulder"] == "upper_arm_fk.L"
