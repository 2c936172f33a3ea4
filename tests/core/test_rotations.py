"""Rotation maths: round trips, composition and edge cases.

Tolerances: round trips and identities in float64 are checked to 1e-9 (rotation matrices and
sign-insensitive quaternions) unless stated otherwise; Euler angles are compared through their
matrices (1e-9), because at gimbal lock the angles themselves are not unique.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dance_ai_addon.core import rotations as R

ORDERS = ["".join(p) for p in itertools.permutations("XYZ")]
TOL = 1e-9

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
quat_arrays = arrays(np.float64, st.tuples(st.integers(1, 8), st.just(4)), elements=finite).filter(
    lambda a: np.all(np.linalg.norm(a, axis=-1) > 1e-3)
)
angle_arrays = arrays(
    np.float64,
    st.tuples(st.integers(1, 8), st.just(3)),
    elements=st.floats(-2 * np.pi, 2 * np.pi, allow_nan=False),
)
vec_arrays = arrays(
    np.float64, st.tuples(st.integers(1, 8), st.just(3)), elements=st.floats(-10, 10)
).filter(lambda a: np.all(np.linalg.norm(a, axis=-1) > 1e-3))


def same_rotation(a, b, tol=TOL):
    """Quaternions equal up to sign."""
    a = R.quat_normalize(a)
    b = R.quat_normalize(b)
    return np.all(np.abs(np.abs(np.sum(a * b, axis=-1)) - 1.0) < tol) and np.allclose(
        R.quat_to_matrix(a), R.quat_to_matrix(b), atol=tol
    )


def test_axis_conventions():
    # 90° about Z takes +X to +Y (right-handed, column vectors)
    q = R.axis_angle_to_quat([0.0, 0.0, np.pi / 2])
    np.testing.assert_allclose(R.quat_apply(q, [1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(R.quat_to_matrix(q) @ [1.0, 0.0, 0.0], [0, 1, 0], atol=1e-15)
    # quat_mul(a, b) applies b first
    a = R.axis_angle_to_quat([np.pi / 2, 0, 0])
    b = R.axis_angle_to_quat([0, 0, np.pi / 2])
    v = np.array([1.0, 0, 0])
    np.testing.assert_allclose(
        R.quat_apply(R.quat_mul(a, b), v), R.quat_apply(a, R.quat_apply(b, v)), atol=1e-15
    )
    np.testing.assert_allclose(R.quat_apply(R.quat_mul(a, b), v), [0, 0, 1], atol=1e-15)


def test_euler_order_meaning():
    # "ZXY" means R = Rz @ Rx @ Ry with angles given (z, x, y)
    z, x, y = 0.3, -0.7, 1.1
    rz = R.euler_to_matrix([z, 0, 0], "ZXY")
    rx = R.euler_to_matrix([x, 0, 0], "XYZ")
    ry = R.euler_to_matrix([y, 0, 0], "YZX")
    np.testing.assert_allclose(R.euler_to_matrix([z, x, y], "ZXY"), rz @ rx @ ry, atol=1e-15)
    np.testing.assert_allclose(rz[:2, :2], [[np.cos(z), -np.sin(z)], [np.sin(z), np.cos(z)]])
    with pytest.raises(ValueError):
        R.euler_to_matrix([0, 0, 0], "XXY")


@pytest.mark.parametrize("order", ORDERS)
@settings(max_examples=60, deadline=None)
@given(angles=angle_arrays)
def test_euler_round_trip(order, angles):
    m = R.euler_to_matrix(angles, order)
    q = R.euler_to_quat(angles, order)
    np.testing.assert_allclose(R.quat_to_matrix(q), m, atol=TOL)
    back = R.matrix_to_euler(m, order)
    assert np.all(np.abs(back[..., 1]) <= np.pi / 2 + 1e-12)
    np.testing.assert_allclose(R.euler_to_matrix(back, order), m, atol=TOL)
    np.testing.assert_allclose(R.euler_to_matrix(R.quat_to_euler(q, order), order), m, atol=TOL)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_gimbal_lock(order):
    rng = np.random.default_rng(1)
    a = rng.uniform(-np.pi, np.pi, (200, 3))
    a[:, 1] = np.where(np.arange(200) % 2 == 0, np.pi / 2, -np.pi / 2)
    m = R.euler_to_matrix(a, order)
    np.testing.assert_allclose(R.euler_to_matrix(R.matrix_to_euler(m, order), order), m, atol=TOL)


@settings(max_examples=200, deadline=None)
@given(q=quat_arrays)
def test_quat_matrix_round_trip(q):
    q = R.quat_normalize(q)
    m = R.quat_to_matrix(q)
    np.testing.assert_allclose(
        m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=TOL
    )
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=TOL)
    back = R.matrix_to_quat(m)
    assert np.all(back[..., 0] >= 0)
    assert same_rotation(back, q)


def test_matrix_to_quat_near_180():
    # trace ≈ -1: the naive trace formula fails, Shepperd must not
    axes = np.random.default_rng(2).standard_normal((500, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    for ang in (np.pi, np.pi - 1e-7, np.pi - 1e-3):
        q = R.axis_angle_to_quat(axes * ang)
        assert same_rotation(R.matrix_to_quat(R.quat_to_matrix(q)), q, tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(a=quat_arrays, b=quat_arrays, v=vec_arrays)
def test_composition_matches_matrices(a, b, v):
    n = min(len(a), len(b), len(v))
    a, b, v = R.quat_normalize(a[:n]), R.quat_normalize(b[:n]), v[:n]
    ab = R.quat_mul(a, b)
    np.testing.assert_allclose(
        R.quat_to_matrix(ab), R.quat_to_matrix(a) @ R.quat_to_matrix(b), atol=TOL
    )
    np.testing.assert_allclose(
        R.quat_apply(ab, v), R.quat_apply(a, R.quat_apply(b, v)), atol=TOL * 10
    )
    np.testing.assert_allclose(
        R.quat_apply(a, v), np.einsum("nij,nj->ni", R.quat_to_matrix(a), v), atol=TOL * 10
    )
    # inverse
    assert same_rotation(R.quat_mul(a, R.quat_inv(a)), R.quat_identity(n))
    assert same_rotation(R.quat_inv(a), R.quat_conj(a))


@settings(max_examples=200, deadline=None)
@given(v=arrays(np.float64, st.tuples(st.integers(1, 8), st.just(3)), elements=st.floats(-3, 3)))
def test_axis_angle_round_trip(v):
    # rotation vectors with angle < pi come back exactly (axis-angle is unique there)
    n = np.linalg.norm(v, axis=-1)
    v = v[n < np.pi - 1e-6]
    q = R.quat_exp(v)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(R.quat_log(q), v, atol=1e-9)


def test_axis_angle_small_angles():
    v = np.array([[1e-12, 0, 0], [0, 3e-9, -1e-9], [0, 0, 0]])
    q = R.axis_angle_to_quat(v)
    np.testing.assert_allclose(q[:, 1:], v / 2, rtol=1e-12, atol=1e-30)
    np.testing.assert_allclose(R.quat_to_axis_angle(q), v, rtol=1e-9, atol=1e-30)
    assert R.quat_exp is R.axis_angle_to_quat and R.quat_log is R.quat_to_axis_angle


@settings(max_examples=200, deadline=None)
@given(q=quat_arrays)
def test_sixd_round_trip(q):
    q = R.quat_normalize(q)
    d = R.quat_to_sixd(q)
    np.testing.assert_allclose(d, R.matrix_to_sixd(R.quat_to_matrix(q)), atol=TOL)
    np.testing.assert_allclose(R.sixd_to_matrix(d), R.quat_to_matrix(q), atol=TOL)
    assert same_rotation(R.sixd_to_quat(d), q)


def test_sixd_gram_schmidt_projects_noisy_input():
    rng = np.random.default_rng(3)
    q = R.quat_normalize(rng.standard_normal((1000, 4)))
    d = R.quat_to_sixd(q) * rng.uniform(0.5, 2.0, (1000, 1)) + rng.normal(0, 1e-3, (1000, 6))
    m = R.sixd_to_matrix(d)
    np.testing.assert_allclose(
        m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-12)
    # first column keeps the direction of the first 6D vector
    c0 = d[:, :3] / np.linalg.norm(d[:, :3], axis=1, keepdims=True)
    np.testing.assert_allclose(m[:, :, 0], c0, atol=1e-12)
    assert np.all(R.quat_angle(R.sixd_to_quat(d), q) < 1e-2)


def test_continuity():
    rng = np.random.default_rng(4)
    # a smooth path with random sign flips
    t = np.linspace(0, 4, 300)
    q = R.axis_angle_to_quat(np.stack([np.sin(t), np.cos(2 * t), t], axis=-1) * 1.5)
    flips = np.where(rng.random(300) < 0.3, -1.0, 1.0)
    noisy = q * flips[:, None]
    fixed = R.quat_continuity(noisy)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) >= 0)
    assert same_rotation(fixed, q)
    np.testing.assert_array_equal(fixed[0], noisy[0])
    # along another axis, batched: (J, T, 4) with axis=1
    batch = np.stack([noisy, -noisy], axis=0)
    fb = R.quat_continuity(batch, axis=1)
    assert np.all(np.sum(fb[:, 1:] * fb[:, :-1], axis=-1) >= 0)


def test_slerp():
    a = R.axis_angle_to_quat([0, 0.2, 0])
    b = R.axis_angle_to_quat([0, 1.4, 0])
    t = np.linspace(0, 1, 7)
    s = R.quat_slerp(a, b, t)
    np.testing.assert_array_equal(s[0], a)
    assert same_rotation(s[-1], b, tol=1e-15)
    np.testing.assert_allclose(R.quat_log(s)[:, 1], 0.2 + 1.2 * t, atol=1e-12)
    # shortest path: -b is the same rotation, result identical up to sign
    assert same_rotation(R.quat_slerp(a, -b, t), s)
    # constant angular velocity
    ang = R.quat_angle(s[:-1], s[1:])
    np.testing.assert_allclose(ang, 0.2, atol=1e-12)
    # nearly equal quaternions take the linear branch and stay unit length
    c = R.quat_normalize(a + 1e-9)
    np.testing.assert_allclose(np.linalg.norm(R.quat_slerp(a, c, t), axis=-1), 1.0, atol=1e-15)


@settings(max_examples=200, deadline=None)
@given(u=vec_arrays, v=vec_arrays)
def test_quat_between(u, v):
    n = min(len(u), len(v))
    u, v = u[:n], v[:n]
    q = R.quat_between(u, v)
    un = u / np.linalg.norm(u, axis=-1, keepdims=True)
    vn = v / np.linalg.norm(v, axis=-1, keepdims=True)
    np.testing.assert_allclose(R.quat_apply(q, un), vn, atol=1e-8)
    # minimal: its angle is the angle between the vectors
    ang = np.arccos(np.clip(np.sum(un * vn, axis=-1), -1, 1))
    np.testing.assert_allclose(R.quat_angle(R.quat_identity(n), q), ang, atol=1e-6)


def test_quat_between_antiparallel_and_parallel():
    u = np.array([[1.0, 0, 0], [0, 1, 0], [0.3, -0.2, 0.9], [0, 0, 2]])
    q = R.quat_between(u, -u)
    un = u / np.linalg.norm(u, axis=-1, keepdims=True)
    np.testing.assert_allclose(R.quat_apply(q, un), -un, atol=1e-12)
    np.testing.assert_allclose(R.quat_angle(R.quat_identity(4), q), np.pi, atol=1e-12)
    assert same_rotation(R.quat_between(u, 3 * u), R.quat_identity(4))


def test_quat_angle():
    a = R.axis_angle_to_quat([0.1, 0.2, 0.3])
    b = R.quat_mul(a, R.axis_angle_to_quat([0, 0, 0.5]))
    np.testing.assert_allclose(R.quat_angle(a, b), 0.5, atol=1e-12)
    np.testing.assert_allclose(R.quat_angle(a, -b), 0.5, atol=1e-12)
    np.testing.assert_allclose(R.quat_angle(a, a), 0.0, atol=1e-7)


def test_batched_leading_axes_and_identity():
    q = R.quat_identity((2, 3))
    assert q.shape == (2, 3, 4) and np.all(q[..., 0] == 1)
    assert R.quat_identity(5).shape == (5, 4)
    rng = np.random.default_rng(5)
    q = R.quat_normalize(rng.standard_normal((2, 3, 5, 4)))
    assert R.quat_to_matrix(q).shape == (2, 3, 5, 3, 3)
    assert R.quat_to_sixd(q).shape == (2, 3, 5, 6)
    assert R.quat_to_euler(q, "ZXY").shape == (2, 3, 5, 3)
    assert R.quat_mul(q, q[0, 0, 0]).shape == (2, 3, 5, 4)
    # zero quaternion normalises to identity instead of NaN
    np.testing.assert_array_equal(R.quat_normalize(np.zeros(4)), [1, 0, 0, 0])


def test_large_batches_use_the_blockwise_path_consistently():
    # more rows than one block (4000): results must not depend on the block boundaries
    rng = np.random.default_rng(6)
    q = R.quat_normalize(rng.standard_normal((9001, 4)))
    d = R.quat_to_sixd(q)
    np.testing.assert_allclose(d[4000:4010], R.quat_to_sixd(q[4000:4010]), atol=1e-15)
    back = R.sixd_to_quat(d[:9000].reshape(3, 1500, 2, 6)).reshape(-1, 4)
    assert same_rotation(back, q[:9000])
    m = R.quat_to_matrix(q)
    assert same_rotation(R.matrix_to_quat(m), q)
    assert R.matrix_to_quat(m).flags["C_CONTIGUOUS"]
