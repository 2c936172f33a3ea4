"""Face-weight baking onto shape keys, on the real bpy module."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from rig_helpers import factory_reset, make_face_mesh  # noqa: E402

from dance_ai_addon.blender import compat, face  # noqa: E402
from dance_ai_addon.core.engines.contract import ARKIT_52  # noqa: E402
from dance_ai_addon.core.errors import EngineError, RigError  # noqa: E402

pytestmark = pytest.mark.bpy


def test_name_matching_arkit_vs_live_link_face():
    engine = ["jawOpen", "eyeBlinkLeft", "mouthSmileRight", "tongueOut", "cheekPuff"]
    keys = ["JawOpen", "eye_blink_left", "mouthSmileRight", "CheekPuff", "Extra"]
    matched, missing = face.match_shape_keys(engine, keys)
    assert matched == {
        "jawOpen": "JawOpen",
        "eyeBlinkLeft": "eye_blink_left",
        "mouthSmileRight": "mouthSmileRight",
        "cheekPuff": "CheekPuff",
    }
    assert missing == ["tongueOut"]
    # an exact match is preferred over a case-insensitive one
    matched, _ = face.match_shape_keys(["jawOpen"], ["JawOpen", "jawOpen"])
    assert matched == {"jawOpen": "jawOpen"}


def test_resample_weights_keeps_endpoints_and_linear_ramps():
    w = np.linspace(0.0, 1.0, 31)[:, None] * np.array([[1.0, 0.5]])
    out = face.resample_weights(w, 30.0, 24.0)
    assert out.shape == (25, 2)
    np.testing.assert_allclose(out[:, 0], np.linspace(0.0, 1.0, 25), atol=1e-12)
    np.testing.assert_allclose(out[-1], w[-1])


def test_bake_face_weights_reads_back_and_reports_missing():
    factory_reset()
    scene = bpy.context.scene
    # Live Link Face style names on the mesh; two ARKit names missing on purpose
    present = [n for n in ARKIT_52 if n not in ("tongueOut", "cheekPuff")]
    obj = make_face_mesh("Face", [n[0].upper() + n[1:] for n in present])
    names = list(ARKIT_52)
    rng = np.random.default_rng(3)
    t = 40
    weights = rng.uniform(0.0, 1.0, size=(t, len(names)))
    weights[5, names.index("jawOpen")] = 1.7  # out of the slider range: clipped to 1
    # the user's existing face action must survive
    key = obj.data.shape_keys
    old = compat.new_action("UserFace")
    compat.assign_action(key, old)

    info = face.bake_face_weights(obj, names, weights, "Dance face", frame_start=3, scene=scene)
    assert info.missing == ["cheekPuff", "tongueOut"]  # engine order
    assert len(info.matched) == 50 and info.n_fcurves == 50 and info.n_keys == 50 * t
    assert info.action.name == "Dance face" and info.action != old
    assert old.name in bpy.data.actions and old.use_fake_user
    assert key.animation_data.action == info.action
    assert scene.frame_end >= 3 + t - 1

    curves = compat.fcurves_of(info.action, key)
    assert len(curves) == 50
    assert all(fc.data_path.startswith('key_blocks["') for fc in curves)
    # evaluate through Blender's animation system and compare with what was asked for
    for frame in (3, 8, 3 + t - 1):
        scene.frame_set(frame)
        for n in ("jawOpen", "eyeBlinkLeft", "mouthSmileRight", "browInnerUp"):
            kb = key.key_blocks[n[0].upper() + n[1:]]
            expected = min(weights[frame - 3, names.index(n)], 1.0)
            assert kb.value == pytest.approx(expected, abs=1e-5), (frame, n)


def test_bake_face_weights_errors_leave_mesh_alone():
    factory_reset()
    plain = make_face_mesh("Plain", [])
    with pytest.raises(RigError, match="no shape keys"):
        face.bake_face_weights(plain, ["jawOpen"], np.zeros((4, 1)), "x", 1)
    obj = make_face_mesh("Other", ["Smile", "Frown"])
    n_actions = len(bpy.data.actions)
    with pytest.raises(RigError, match="none of the engine's 2 blendshapes"):
        face.bake_face_weights(obj, ["jawOpen", "eyeBlinkLeft"], np.zeros((4, 2)), "x", 1)
    bad = np.zeros((4, 1))
    bad[2, 0] = np.nan
    obj2 = make_face_mesh("Face2", ["jawOpen"])
    with pytest.raises(EngineError, match="NaN"):
        face.bake_face_weights(obj2, ["jawOpen"], bad, "x", 1)
    assert len(bpy.data.actions) == n_actions
    assert obj2.data.shape_keys.animation_data is None
