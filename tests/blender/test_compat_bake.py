"""Bulk baking and the version-compat layer, on the real bpy module."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from rig_helpers import chain_armature, factory_reset  # noqa: E402

from dance_ai_addon.blender import bake, compat  # noqa: E402

pytestmark = pytest.mark.bpy


@pytest.fixture()
def rig():
    factory_reset()
    return chain_armature("Chain", 5)


def _random_quats(rng: np.random.Generator, t: int, b: int) -> np.ndarray:
    q = rng.normal(size=(t, b, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _read_co(fc) -> np.ndarray:
    co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


def test_bulk_bake_writes_exact_values(rig):
    rng = np.random.default_rng(0)
    bones = ["b00", "b02", "b04"]
    rot = _random_quats(rng, 37, 3)
    loc = rng.normal(size=(37, 3))
    info = bake.bake_pose_arrays(rig, bones, rot, "b00", loc, "Dance test", frame_start=11)

    assert info.n_fcurves == 3 * 4 + 3
    assert info.n_keys == 37 * 15
    assert (info.frame_start, info.frame_end) == (11, 47)
    assert rig.animation_data.action == info.action
    curves = compat.fcurves_of(info.action, rig)
    assert len(curves) == 15
    by_key = {(fc.data_path, fc.array_index): fc for fc in curves}
    frames = np.arange(11, 48, dtype=np.float32)
    for b, bone in enumerate(bones):
        for i in range(4):
            fc = by_key[(f'pose.bones["{bone}"].rotation_quaternion', i)]
            co = _read_co(fc)
            np.testing.assert_array_equal(co[:, 0], frames)
            np.testing.assert_allclose(co[:, 1], rot[:, b, i].astype(np.float32), rtol=0, atol=0)
            assert fc.group is not None and fc.group.name == bone
            assert {kp.interpolation for kp in fc.keyframe_points} == {"LINEAR"}
        assert rig.pose.bones[bone].rotation_mode == "QUATERNION"
    for i in range(3):
        co = _read_co(by_key[('pose.bones["b00"].location', i)])
        np.testing.assert_allclose(co[:, 1], loc[:, i].astype(np.float32), rtol=0, atol=0)


def test_evaluated_pose_matches_keys(rig):
    rng = np.random.default_rng(1)
    rot = _random_quats(rng, 10, 2)
    rot[..., 0] = np.abs(rot[..., 0])
    bake.bake_pose_arrays(rig, ["b01", "b03"], rot, None, None, "Dance eval", frame_start=1)
    scene = bpy.context.scene
    for f in (1, 5, 10):
        scene.frame_set(f)
        got = np.array(rig.pose.bones["b03"].rotation_quaternion)
        np.testing.assert_allclose(got, rot[f - 1, 1], atol=1e-6)


def test_new_action_per_bake_user_action_untouched(rig):
    user = bpy.data.actions.new("Dance salsa")  # the user's own action, same name as ours
    compat.assign_action(rig, user)
    compat.new_fcurve(user, rig, "location", 0, "Object")
    fc = compat.fcurves_of(user, rig)[0]
    fc.keyframe_points.insert(1, 42.0)
    rot = np.tile(np.array([1.0, 0, 0, 0]), (5, 1, 1))

    first = bake.bake_pose_arrays(rig, ["b01"], rot, None, None, "Dance salsa", 1).action
    second = bake.bake_pose_arrays(rig, ["b01"], rot, None, None, "Dance salsa", 1).action

    assert len({user.name, first.name, second.name}) == 3
    assert user.name == "Dance salsa"
    assert first != user and second != user and first != second
    assert rig.animation_data.action == second
    # The user's action keeps its key and is protected from being dropped on save.
    user_curves = compat.fcurves_of(user, None)
    assert len(user_curves) == 1 and user_curves[0].keyframe_points[0].co[1] == 42.0
    assert user.use_fake_user


def test_new_action_is_a_new_datablock():
    factory_reset()
    a = compat.new_action("Dance x")
    b = compat.new_action("Dance x")
    assert a != b and a.name == "Dance x" and b.name != "Dance x"


def test_nla_push_and_frame_end_extension(rig):
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 5, 20
    rot = np.tile(np.array([1.0, 0, 0, 0]), (100, 1, 1))
    info = bake.bake_pose_arrays(
        rig, ["b02"], rot, None, None, "Dance nla", scene.frame_start, nla=True, scene=scene
    )
    anim = rig.animation_data
    assert anim.action is None
    assert info.nla_track is not None
    track = anim.nla_tracks[info.nla_track]
    assert len(track.strips) == 1
    strip = track.strips[0]
    assert strip.action == info.action and strip.frame_start == 5
    assert scene.frame_end == 104 and info.scene_frame_end_extended
    # A shorter bake never shrinks the range.
    info2 = bake.bake_pose_arrays(rig, ["b02"], rot[:10], None, None, "Dance nla", 5, scene=scene)
    assert scene.frame_end == 104 and not info2.scene_frame_end_extended


def test_bad_shapes_change_nothing(rig):
    n_actions = len(bpy.data.actions)
    with pytest.raises(ValueError):
        bake.bake_pose_arrays(rig, ["b01"], np.zeros((4, 2, 4)), None, None, "x", 1)
    with pytest.raises(ValueError):
        bake.bake_pose_arrays(rig, ["nope"], np.zeros((4, 1, 4)), None, None, "x", 1)
    assert len(bpy.data.actions) == n_actions
    assert rig.animation_data is None


def test_interpolation_enum_value():
    assert compat.keyframe_interpolation_value("CONSTANT") == 0
    assert compat.keyframe_interpolation_value("LINEAR") == 1


def test_undo_restores_previous_assignment(rig):
    user = bpy.data.actions.new("mine")
    compat.assign_action(rig, user)
    bpy.ops.ed.undo_push(message="before bake")
    rot = np.tile(np.array([1.0, 0, 0, 0]), (5, 1, 1))
    baked = bake.bake_pose_arrays(rig, ["b01"], rot, None, None, "Dance undo", 1).action.name
    bpy.ops.ed.undo_push(message="bake")
    assert bpy.data.objects["Chain"].animation_data.action.name == baked
    bpy.ops.ed.undo()
    assert bpy.data.objects["Chain"].animation_data.action.name == "mine"
    assert baked not in bpy.data.actions


def test_shape_key_block_gets_a_key_slot():
    factory_reset()
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.active_object
    cube.shape_key_add(name="Basis")
    cube.shape_key_add(name="Smile")
    key = cube.data.shape_keys
    action = compat.new_action("Face")
    compat.assign_action(key, action)
    channels = [bake.Channel('key_blocks["Smile"].value', 0, "Face")]
    bake.write_channels(action, key, channels, np.array([[0.0, 0.5, 1.0]]), np.array([1, 2, 3]))
    if compat.has_slotted_actions():
        assert key.animation_data.action_slot.target_id_type == "KEY"
    bpy.context.scene.frame_set(2)
    assert abs(key.key_blocks["Smile"].value - 0.5) < 1e-6
    assert len(compat.fcurves_of(action, key)) == 1


def test_new_fcurves_batch_order_groups_and_slot(rig):
    action = compat.new_action("Batch")
    compat.assign_action(rig, action)
    specs = [('pose.bones["b01"].location', i, "b01") for i in range(3)]
    specs += [('pose.bones["b03"].rotation_quaternion', i, "b03") for i in range(4)]
    curves = compat.new_fcurves(action, rig, specs)
    assert [(fc.data_path, fc.array_index, fc.group.name) for fc in curves] == specs
    assert len(compat.fcurves_of(action, rig)) == len(specs)
    if compat.has_slotted_actions():
        assert rig.animation_data.action_slot.target_id_type == "OBJECT"


def test_write_channels_strided_input_and_interpolation(rig):
    """Non-contiguous float64 values (a transposed view) and a non-default interpolation."""
    action = compat.new_action("Strided")
    compat.assign_action(rig, action)
    rng = np.random.default_rng(3)
    table = rng.normal(size=(50, 4))  # (T, C): the writer gets its transpose, a strided view
    frames = np.arange(3, 53)
    channels = [bake.Channel('pose.bones["b02"].rotation_quaternion', i, "b02") for i in range(4)]
    curves = bake.write_channels(action, rig, channels, table.T, frames, interpolation="CONSTANT")
    for i, fc in enumerate(curves):
        co = _read_co(fc)
        np.testing.assert_array_equal(co[:, 0], frames.astype(np.float32))
        np.testing.assert_array_equal(co[:, 1], table[:, i].astype(np.float32))
        modes = np.empty(len(fc.keyframe_points), dtype=np.int32)
        fc.keyframe_points.foreach_get("interpolation", modes)
        assert set(modes.tolist()) == {compat.keyframe_interpolation_value("CONSTANT")}
        # update() ran: handles sit on either side of each key in time
        left = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("handle_left", left)
        assert np.all(left[2::2] < co[1:, 0]) and np.all(left[2::2] > co[:-1, 0])
