"""BVH reader/writer on real files and on hand-made edge cases.

Round trips are checked to 1e-5 (positions in file units; rotations as the angle between
quaternions, radians), which is what 6 printed decimals of degrees and units guarantee.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dance_ai_addon.core import rotations as R
from dance_ai_addon.core.bvh import fps_from_frame_time, load_bvh_clip, read_bvh, write_bvh
from dance_ai_addon.core.clip import MotionClip
from dance_ai_addon.core.errors import DanceAIError, MotionFileError
from dance_ai_addon.core.skeleton import smpl24_skeleton

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
SALSA = os.path.join(DATA, "cmu_60_01_sl60.bvh")
MJ = os.path.join(DATA, "cmu_131_03_3dsmax120.bvh")
DAB = os.path.join(DATA, "animateddrawings_fair1_dab30.bvh")
MODERN = os.path.join(DATA, "cmu_05_03_ccbase60.bvh")
REAL = [SALSA, MJ, DAB, MODERN]


def first_frame_values(path):
    lines = open(path, encoding="utf-8").read().replace("\r", "").split("\n")
    k = next(i for i, line in enumerate(lines) if line.strip() == "MOTION")
    return np.array(lines[k + 3].split(), dtype=float)


@pytest.mark.parametrize(
    "path, frames, joints, fps, root, order",
    [
        (SALSA, 2242, 43, 60.0, "hip", "ZXY"),
        (MJ, 1102, 31, 120.0, "Hips", "ZYX"),
        (DAB, 339, 27, 30.0, "Hips", "XYZ"),
        (MODERN, 216, 100, 60.0, "CC_Base_Hip", "ZYX"),
    ],
)
def test_real_files(path, frames, joints, fps, root, order):
    bvh = read_bvh(path)
    clip = bvh.clip
    assert clip.n_frames == frames and clip.n_joints == joints and clip.fps == fps
    assert clip.skeleton.names[0] == root
    assert clip.name == os.path.splitext(os.path.basename(path))[0]
    assert "".join(c[0] for c in bvh.channels[1] if c.endswith("rotation")) == order
    assert len(bvh.channels[0]) == 6 and bvh.end_sites
    # the root position channels are the first three values of each frame
    v0 = first_frame_values(path)
    np.testing.assert_allclose(clip.root_positions[0], v0[:3])
    # every quaternion is unit length and the motion is not the rest pose
    np.testing.assert_allclose(np.linalg.norm(clip.rotations, axis=-1), 1.0, atol=1e-12)
    assert np.max(R.quat_angle(clip.rotations, R.quat_identity(clip.rotations.shape[:2]))) > 0.3
    assert load_bvh_clip(path).n_frames == frames


def test_salsa_pose_is_plausible():
    clip = load_bvh_clip(SALSA)
    pos, _ = clip.world()
    sk = clip.skeleton
    head = pos[:, sk.index("head")]
    hip = pos[:, sk.index("hip")]
    lfoot = pos[:, sk.index("lFoot")]
    # meters, Y up: head ~0.5-0.7 m above the hips, feet below them, all frames
    assert np.all(head[:, 1] - hip[:, 1] > 0.3) and np.all(lfoot[:, 1] < hip[:, 1])
    # bones keep their length under FK
    j = sk.index("lShin")
    seg = np.linalg.norm(pos[:, j] - pos[:, sk.parents[j]], axis=-1)
    np.testing.assert_allclose(seg, np.linalg.norm(sk.offsets[j]), rtol=1e-12)


def test_euler_convention_against_explicit_matrices():
    """Channel order 'Zrotation Xrotation Yrotation' means R = Rz @ Rx @ Ry (degrees)."""
    bvh = read_bvh(SALSA)
    v0 = first_frame_values(SALSA)
    j = 1  # abdomen: Zrotation Xrotation Yrotation
    col = sum(len(c) for c in bvh.channels[:j])
    z, x, y = np.radians(v0[col : col + 3])

    def rot(axis, a):
        c, s = np.cos(a), np.sin(a)
        return {
            "X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
        }[axis]

    expect = rot("Z", z) @ rot("X", x) @ rot("Y", y)
    np.testing.assert_allclose(R.quat_to_matrix(bvh.clip.rotations[0, j]), expect, atol=1e-12)


@pytest.mark.parametrize("path", REAL)
def test_round_trip_real(tmp_path, path):
    a = read_bvh(path)
    out = tmp_path / "rt.bvh"
    write_bvh(out, a.clip, a.channels, a.end_sites, a.joint_translations)
    b = read_bvh(out)
    assert b.clip.skeleton.names == a.clip.skeleton.names
    np.testing.assert_array_equal(b.clip.skeleton.parents, a.clip.skeleton.parents)
    assert b.channels == a.channels and b.clip.fps == a.clip.fps
    assert set(b.end_sites) == set(a.end_sites)
    for j in a.end_sites:
        np.testing.assert_allclose(b.end_sites[j], a.end_sites[j], atol=1e-5)
    np.testing.assert_allclose(b.clip.skeleton.offsets, a.clip.skeleton.offsets, atol=1e-5)
    np.testing.assert_allclose(b.clip.root_positions, a.clip.root_positions, atol=1e-5)
    assert np.max(R.quat_angle(b.clip.rotations, a.clip.rotations)) < 1e-5
    # and once more: the second write is stable
    write_bvh(tmp_path / "rt2.bvh", b.clip, b.channels, b.end_sites)
    c = read_bvh(tmp_path / "rt2.bvh")
    assert np.max(R.quat_angle(c.clip.rotations, a.clip.rotations)) < 1e-5


def test_round_trip_smpl_default_channels(tmp_path):
    rng = np.random.default_rng(0)
    sk = smpl24_skeleton()
    T = 40
    rot = R.quat_normalize(rng.standard_normal((T, 24, 4)))
    root = rng.normal(0, 1, (T, 3))
    clip = MotionClip(sk, rot, root, 30.0, "smpl")
    write_bvh(tmp_path / "smpl.bvh", clip)
    text = (tmp_path / "smpl.bvh").read_text()
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    assert "CHANNELS 3 Zrotation Xrotation Yrotation" in text
    back = read_bvh(tmp_path / "smpl.bvh")
    c2 = back.clip
    assert c2.fps == 30.0
    # joints come back in depth-first file order; compare by name
    idx = [c2.skeleton.index(n) for n in sk.names]
    assert np.max(R.quat_angle(c2.rotations[:, idx], rot)) < 1e-5
    np.testing.assert_allclose(c2.skeleton.offsets[idx], sk.offsets, atol=1e-6)
    p1, _ = clip.world()
    p2, _ = c2.world()
    np.testing.assert_allclose(p2[:, idx], p1, atol=1e-5)
    # leaves got End Sites so importers can give them a length
    assert len(back.end_sites) == 5


def test_round_trip_all_orders_and_position_channels(tmp_path):
    """Every Euler order, 6 channels on a non-root joint, rotation-only root."""
    rng = np.random.default_rng(1)
    orders = ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]
    J = 7
    names = ["root"] + [f"j{k}" for k in range(1, J)]
    parents = np.array([-1, 0, 1, 2, 0, 4, 5])
    sk_off = rng.normal(0, 10, (J, 3))
    from dance_ai_addon.core.skeleton import Skeleton

    sk = Skeleton(names, parents, sk_off)
    T = 25
    clip = MotionClip(
        sk, R.quat_normalize(rng.standard_normal((T, J, 4))), rng.normal(size=(T, 3)), 24.0
    )
    chans = [[f"{a}rotation" for a in "YXZ"]]
    for k in range(1, J):
        chans.append([f"{a}rotation" for a in orders[k - 1]])
    chans[3] = ["Zposition", "Xrotation", "Xposition", "Zrotation", "Yposition", "Yrotation"]
    trans = {3: rng.normal(size=(T, 3))}
    write_bvh(tmp_path / "o.bvh", clip, chans, {2: np.array([0.0, 1.0, 0.0])}, trans)
    b = read_bvh(tmp_path / "o.bvh")
    assert b.channels == chans
    assert np.max(R.quat_angle(b.clip.rotations, clip.rotations)) < 1e-5
    np.testing.assert_allclose(b.joint_translations[3], trans[3], atol=1e-6)
    assert list(b.joint_translations) == [3]
    # rotation-only root: root position is its offset
    np.testing.assert_allclose(b.clip.root_positions, np.repeat(sk_off[:1], T, axis=0), atol=1e-6)
    np.testing.assert_allclose(b.end_sites[2], [0, 1, 0])
    assert b.clip.fps == 24.0


EDGE = (
    "HIERARCHY\r\n"
    "ROOT\tHips\r\n"
    "{\r\n"
    "\tOFFSET\t0 0 0\r\n"
    "\tCHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation\r\n"
    "\tJOINT Left Leg\r\n"
    "\t{\r\n"
    "\t\tOFFSET 1.0E+01 -2.5e-1 0\r\n"
    "\t\tCHANNELS 3 xrotation yrotation zrotation\r\n"
    "\t\tEnd Site\r\n"
    "\t\t{\r\n"
    "\t\t\tOFFSET 0 -4e1 0\r\n"
    "\t\t}\r\n"
    "\t}\r\n"
    "}\r\n"
    "MOTION\r\n"
    "Frames:\t2\r\n"
    "Frame Time: 8.3333e-03\r\n"
    "1 2 3 90 0 0 0 0 0\r\n"
    "\t4.5E+00   5 6 0 0 0 -9.0e+01 0 0  \r\n"
    "\r\n"
)


def test_edge_syntax(tmp_path):
    p = tmp_path / "edge.bvh"
    p.write_bytes(EDGE.encode())
    b = read_bvh(p)
    c = b.clip
    assert c.skeleton.names == ["Hips", "Left Leg"]
    assert b.channels[1] == ["Xrotation", "Yrotation", "Zrotation"]
    np.testing.assert_allclose(c.skeleton.offsets[1], [10.0, -0.25, 0.0])
    np.testing.assert_allclose(b.end_sites[1], [0, -40, 0])
    assert c.fps == 120.0
    np.testing.assert_allclose(c.root_positions, [[1, 2, 3], [4.5, 5, 6]])
    assert R.quat_angle(c.rotations[0, 0], R.axis_angle_to_quat([0, np.pi / 2, 0])) < 1e-12
    assert R.quat_angle(c.rotations[1, 1], R.axis_angle_to_quat([-np.pi / 2, 0, 0])) < 1e-12
    # CR-only line ends too
    p.write_bytes(EDGE.replace("\r\n", "\r").encode())
    assert read_bvh(p).clip.n_frames == 2


@pytest.mark.parametrize(
    "text, expect",
    [
        ("0.0083333", 120.0),
        (".0083333", 120.0),
        ("0.008333", 120.0),
        ("0.016667", 60.0),
        ("0.0333333", 30.0),
        ("0.033333", 30.0),
        ("0.04", 25.0),
        ("0.01", 100.0),
        ("8.333333e-03", 120.0),
        ("0.0333667", 30000 / 1001),
        ("0.0123", 1 / 0.0123),
        ("0.0333", 30.0),
        ("0.03", 1 / 0.03),
    ],
)
def test_fps_from_frame_time(text, expect):
    assert fps_from_frame_time(text) == pytest.approx(expect, rel=1e-12)


def bad_variants(base: str):
    """(label, text, expected line) malformed variants of a small valid file."""
    lines = base.split("\n")
    motion = lines.index("MOTION")
    frames_ln = motion + 2  # 1-based line of "Frames:"
    first = motion + 4  # 1-based line of the first frame
    n_frames = int(lines[motion + 1].split()[1])
    out = []

    def variant(label, new_lines, line):
        out.append((label, "\n".join(new_lines), line))

    v = lines[: first - 1 + n_frames - 1]
    variant("truncated MOTION", v, None)
    v = list(lines)
    v[first - 1] = " ".join(v[first - 1].split()[:-1])
    variant("too few values", v, first)
    v = list(lines)
    v[first] = v[first] + " 0.5"
    variant("too many values", v, first + 1)
    v = list(lines)
    v[first] = v[first].replace(v[first].split()[3], "abc", 1)
    variant("non-numeric", v, first + 1)
    v = list(lines)
    v[first + 1] = v[first + 1].replace(v[first + 1].split()[4], "nan", 1)
    variant("NaN", v, first + 2)
    v = list(lines)
    v[first + 1] = v[first + 1].replace(v[first + 1].split()[4], "-inf", 1)
    variant("Inf", v, first + 2)
    k = next(i for i, line in enumerate(lines) if "CHANNELS 3" in line)
    v = list(lines)
    v[k] = v[k].replace("Xrotation", "Wrotation")
    variant("unknown channel", v, k + 1)
    k = next(i for i, line in enumerate(lines) if line.strip() == "}")
    v = lines[:k] + lines[k + 1 :]
    variant("missing brace", v, None)
    v = lines[: k + 1] + ["}"] + lines[k + 1 :]
    variant("extra brace", v, None)  # detected where the structure stops making sense
    v = list(lines)
    v[frames_ln - 1] = "Frames: 0"
    variant("zero frames", v[: first - 1], frames_ln)
    v = list(lines)
    v[frames_ln - 1] = "Frames: many"
    variant("bad frame count", v, frames_ln)
    v = list(lines)
    v[frames_ln] = "Frame Time: 0"
    variant("zero frame time", v, frames_ln + 1)
    v = [line for line in lines if line != "MOTION"]
    variant("no MOTION", v, None)
    k = next(i for i, line in enumerate(lines) if "OFFSET" in line)
    v = list(lines)
    v[k] = v[k].replace("OFFSET", "OFFSET x")
    variant("bad offset", v, k + 1)
    v = list(lines)
    v[frames_ln - 1] = f"Frames: {n_frames - 1}"
    variant("extra frame lines", v, first + n_frames - 1)
    v = ["HIERARCHY", "ROOT a", "{", "OFFSET 0 0 0", "CHANNELS 3 Xrotation Yrotation Zrotation",
         "JOINT b", "{", "OFFSET 0 1 0", "}"] + lines[motion:]  # fmt: skip
    variant("unclosed root", v, None)
    variant("empty", [""], None)
    v = list(lines)
    v[0] = "HIERARCHIE"
    variant("not bvh", v, 1)
    return out


def small_bvh_text(frames=4):
    text = open(DAB, encoding="utf-8").read().replace("\r\n", "\n")
    lines = text.split("\n")
    m = lines.index("MOTION")
    body = lines[m + 3 : m + 3 + frames]
    return "\n".join(lines[:m] + ["MOTION", f"Frames: {frames}", lines[m + 2]] + body) + "\n"


_BAD = bad_variants(small_bvh_text())


@pytest.mark.parametrize("label, text, line", _BAD, ids=[b[0] for b in _BAD])
def test_malformed_files_raise_motion_file_error(tmp_path, label, text, line):
    p = tmp_path / "bad_file.bvh"
    p.write_text(text)
    with pytest.raises(MotionFileError) as ei:
        read_bvh(p)
    e = ei.value
    msg = str(e)
    assert msg.startswith("bad_file.bvh:"), msg
    assert isinstance(e, DanceAIError) and e.path == str(p)
    assert e.line is not None and msg.startswith(f"bad_file.bvh:{e.line}: ")
    if line is not None:
        assert e.line == line, (label, msg)


def test_small_file_itself_is_valid(tmp_path):
    p = tmp_path / "ok.bvh"
    p.write_text(small_bvh_text())
    assert read_bvh(p).clip.n_frames == 4


def test_missing_file_and_error_format(tmp_path):
    with pytest.raises(MotionFileError, match="nope.bvh: cannot be read"):
        read_bvh(tmp_path / "nope.bvh")
    e = MotionFileError("bad thing", path="/x/y/take.bvh", line=12)
    assert str(e) == "take.bvh:12: bad thing"
    assert str(MotionFileError("bad thing", path="/x/take.bvh")) == "take.bvh: bad thing"


def test_writer_rejects_bad_channels(tmp_path):
    clip = MotionClip(smpl24_skeleton(), R.quat_identity((2, 24)), np.zeros((2, 3)), 30.0)
    chans = [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation"]] + [
        ["Zrotation", "Xrotation", "Yrotation"]
    ] * 23
    with pytest.raises(MotionFileError, match="0 or 3 rotation channels"):
        write_bvh(tmp_path / "x.bvh", clip, chans)
    with pytest.raises(MotionFileError, match="bad channel"):
        write_bvh(tmp_path / "x.bvh", clip, [["Wrotation"]] * 24)
    # no rotation channels on a joint that rotates would lose data
    rot = R.quat_identity((2, 24))
    rot[:, 5] = R.axis_angle_to_quat([0.3, 0, 0])
    clip2 = MotionClip(clip.skeleton, rot, np.zeros((2, 3)), 30.0)
    chans = [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]] + [
        ["Zrotation", "Xrotation", "Yrotation"]
    ] * 23
    chans[5] = []
    with pytest.raises(MotionFileError, match="rotates but has no rotation channels"):
        write_bvh(tmp_path / "x.bvh", clip2, chans)
