"""Rotation maths for the motion core, batched over leading axes.

Conventions (see docs/architecture.md): float64, quaternions are ``(w, x, y, z)``,
``quat_mul(a, b)`` = a ⊗ b = "apply b, then a", matrices act on column vectors (``v' = R @ v``).
An Euler order string is a BVH channel order: ``"ZXY"`` means ``R = Rz @ Rx @ Ry`` and the angles
are given in that same order (``angles[..., 0]`` is the Z angle). Angles are radians.

Everything is plain numpy so it runs inside Blender's bundled Python and outside it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "quat_identity",
    "quat_normalize",
    "quat_mul",
    "quat_conj",
    "quat_inv",
    "quat_apply",
    "quat_to_matrix",
    "matrix_to_quat",
    "euler_to_matrix",
    "matrix_to_euler",
    "euler_to_quat",
    "quat_to_euler",
    "axis_angle_to_quat",
    "quat_to_axis_angle",
    "quat_exp",
    "quat_log",
    "matrix_to_sixd",
    "sixd_to_matrix",
    "quat_to_sixd",
    "sixd_to_quat",
    "quat_continuity",
    "quat_slerp",
    "quat_between",
    "quat_angle",
    "check_order",
]

_AXES = {"X": 0, "Y": 1, "Z": 2}
_EPS = 1e-12


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


#: Rows per block in the elementwise-heavy conversions. Small blocks keep every temporary in
#: cache and inside the allocator's reused heap, instead of fresh page-faulted memory per op.
_CHUNK = 4000


def _blockwise(fn, flat: np.ndarray, width: int) -> np.ndarray:
    """Apply ``fn`` (rows ``(n, k)`` -> ``(n, width)``) to ``flat`` in blocks of _CHUNK rows."""
    n = flat.shape[0]
    if n <= _CHUNK:
        return fn(flat)
    out = np.empty((n, width), dtype=np.float64)
    for s in range(0, n, _CHUNK):
        out[s : s + _CHUNK] = fn(flat[s : s + _CHUNK])
    return out


def check_order(order: str) -> str:
    """``order`` upper-cased if it is one of the 6 Tait-Bryan orders, else ValueError."""
    o = str(order).upper()
    if len(o) != 3 or sorted(o) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of 'XYZ', got {order!r}")
    return o


def quat_identity(shape=()) -> np.ndarray:
    """Identity quaternions of the given leading shape, ``shape + (4,)``."""
    if isinstance(shape, int):
        shape = (shape,)
    q = np.zeros(tuple(shape) + (4,), dtype=np.float64)
    q[..., 0] = 1.0
    return q


def quat_normalize(q) -> np.ndarray:
    """Unit quaternions; zero-length input becomes identity rather than NaN."""
    q = _f64(q)
    n = np.sqrt(np.sum(q * q, axis=-1, keepdims=True))
    out = q / np.where(n > _EPS, n, 1.0)
    bad = n[..., 0] <= _EPS
    if np.any(bad):
        out = out.copy()
        out[bad] = (1.0, 0.0, 0.0, 0.0)
    return out


def quat_mul(a, b) -> np.ndarray:
    """Hamilton product a ⊗ b (apply b, then a), broadcasting over leading axes."""
    a = _f64(a)
    b = _f64(b)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = np.empty(shape, dtype=np.float64)
    out[..., 0] = aw * bw - ax * bx - ay * by - az * bz
    out[..., 1] = aw * bx + ax * bw + ay * bz - az * by
    out[..., 2] = aw * by - ax * bz + ay * bw + az * bx
    out[..., 3] = aw * bz + ax * by - ay * bx + az * bw
    return out


def quat_conj(q) -> np.ndarray:
    """Conjugate (the inverse for unit quaternions)."""
    q = _f64(q)
    out = q.copy()
    out[..., 1:] *= -1.0
    return out


def quat_inv(q) -> np.ndarray:
    """Inverse quaternion (conjugate divided by the squared norm)."""
    q = _f64(q)
    n2 = np.sum(q * q, axis=-1, keepdims=True)
    return quat_conj(q) / np.where(n2 > _EPS, n2, 1.0)


def quat_apply(q, v) -> np.ndarray:
    """Rotate vectors ``v (..., 3)`` by unit quaternions ``q (..., 4)`` (broadcasting)."""
    q = _f64(q)
    v = _f64(v)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def quat_to_matrix(q) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` of unit quaternions (normalised first)."""
    q = quat_normalize(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    m = np.empty(q.shape[:-1] + (3, 3), dtype=np.float64)
    m[..., 0, 0] = 1.0 - 2.0 * (yy + zz)
    m[..., 0, 1] = 2.0 * (xy - wz)
    m[..., 0, 2] = 2.0 * (xz + wy)
    m[..., 1, 0] = 2.0 * (xy + wz)
    m[..., 1, 1] = 1.0 - 2.0 * (xx + zz)
    m[..., 1, 2] = 2.0 * (yz - wx)
    m[..., 2, 0] = 2.0 * (xz - wy)
    m[..., 2, 1] = 2.0 * (yz + wx)
    m[..., 2, 2] = 1.0 - 2.0 * (xx + yy)
    return m


def _quat_from_elements(m00, m01, m02, m10, m11, m12, m20, m21, m22) -> np.ndarray:
    """Shepperd's method on contiguous flat arrays of matrix elements; returns ``(N, 4)``, w >= 0.

    Each of the 4 branches divides by the largest of |w|, |x|, |y|, |z| (up to a factor), so no
    branch ever loses precision. Branches are selected with 0/1 masks: no Python loop, no
    gathers, only contiguous elementwise work.
    """
    t0 = m00 + m11 + m22
    t1 = m00 - m11 - m22
    t2 = m11 - m00 - m22
    t3 = m22 - m00 - m11
    b0 = (t0 >= t1) & (t0 >= t2) & (t0 >= t3)
    b1 = ~b0 & (t1 >= t2) & (t1 >= t3)
    b2 = ~(b0 | b1) & (t2 >= t3)
    b3 = ~(b0 | b1 | b2)
    # 0/1 float masks: a masked sum is several times cheaper than nested np.where
    f0, f1, f2, f3 = (b.astype(np.float64) for b in (b0, b1, b2, b3))
    r = 1.0 + (t0 * f0 + t1 * f1 + t2 * f2 + t3 * f3)
    d21, s21 = m21 - m12, m21 + m12
    d02, s02 = m02 - m20, m02 + m20
    d10, s10 = m10 - m01, m10 + m01
    q = np.empty((4,) + np.shape(m00), dtype=np.float64)
    q[0] = r * f0 + d21 * f1 + d02 * f2 + d10 * f3
    q[1] = d21 * f0 + r * f1 + s10 * f2 + s02 * f3
    q[2] = d02 * f0 + s10 * f1 + r * f2 + s21 * f3
    q[3] = d10 * f0 + s02 * f1 + s21 * f2 + r * f3
    n = np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    # 1/|q| carrying the sign of w, so that w >= 0 afterwards
    inv = np.copysign(1.0 / np.maximum(n, 1e-300), q[0])
    q *= inv
    return np.ascontiguousarray(q.T)


def matrix_to_quat(m) -> np.ndarray:
    """Unit quaternions of rotation matrices (Shepperd: branch on the largest diagonal term).

    Robust near 180° rotations where the trace formula alone loses all precision. The result has
    ``w >= 0``.
    """
    m = _f64(m)

    def block(f: np.ndarray) -> np.ndarray:
        return _quat_from_elements(*np.ascontiguousarray(f.T))  # 9 contiguous rows

    return _blockwise(block, m.reshape(-1, 9), 4).reshape(m.shape[:-2] + (4,))


def _axis_quat(axis: int, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * angle
    q = np.zeros(angle.shape + (4,), dtype=np.float64)
    q[..., 0] = np.cos(half)
    q[..., 1 + axis] = np.sin(half)
    return q


def _axis_matrix(axis: int, angle: np.ndarray) -> np.ndarray:
    c = np.cos(angle)
    s = np.sin(angle)
    m = np.zeros(angle.shape + (3, 3), dtype=np.float64)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    return m


def euler_to_matrix(angles_rad, order: str) -> np.ndarray:
    """Matrices ``R = R_order[0] @ R_order[1] @ R_order[2]`` from angles given in that order."""
    o = check_order(order)
    a = _f64(angles_rad)
    r = _axis_matrix(_AXES[o[0]], a[..., 0])
    r = r @ _axis_matrix(_AXES[o[1]], a[..., 1])
    return r @ _axis_matrix(_AXES[o[2]], a[..., 2])


def euler_to_quat(angles_rad, order: str) -> np.ndarray:
    """Quaternions of Euler angles (same convention as :func:`euler_to_matrix`)."""
    o = check_order(order)
    a = _f64(angles_rad)
    q = quat_mul(_axis_quat(_AXES[o[0]], a[..., 0]), _axis_quat(_AXES[o[1]], a[..., 1]))
    return quat_mul(q, _axis_quat(_AXES[o[2]], a[..., 2]))


def matrix_to_euler(m, order: str) -> np.ndarray:
    """Euler angles (radians, in ``order``) of rotation matrices.

    The middle angle lies in [-pi/2, pi/2]. At gimbal lock the last angle is set to 0 and the
    first one carries the whole remaining rotation, so ``euler_to_matrix`` reproduces ``m``.
    """
    o = check_order(order)
    m = _f64(m)
    i, j, k = (_AXES[c] for c in o)
    # +1 for cyclic orders (XYZ, YZX, ZXY), -1 for the others.
    s = 1.0 if (j - i) % 3 == 1 else -1.0
    cb = np.hypot(m[..., i, i], m[..., i, j])
    b = np.arctan2(s * m[..., i, k], cb)
    a = np.arctan2(-s * m[..., j, k], m[..., k, k])
    c = np.arctan2(-s * m[..., i, j], m[..., i, i])
    lock = cb < 1e-9
    if np.any(lock):
        a_lock = np.arctan2(s * m[..., k, j], m[..., j, j])
        a = np.where(lock, a_lock, a)
        c = np.where(lock, 0.0, c)
    return np.stack([a, b, c], axis=-1)


def quat_to_euler(q, order: str) -> np.ndarray:
    """Euler angles (radians, in ``order``) of quaternions."""
    return matrix_to_euler(quat_to_matrix(q), order)


def axis_angle_to_quat(rotvec) -> np.ndarray:
    """Quaternions from rotation vectors (axis * angle, radians); exact near zero."""
    v = _f64(rotvec)
    angle = np.sqrt(np.sum(v * v, axis=-1))
    half = 0.5 * angle
    small = angle < 1e-6
    safe = np.where(small, 1.0, angle)
    # sin(a/2)/a with its Taylor series near 0
    k = np.where(small, 0.5 - angle * angle / 48.0, np.sin(half) / safe)
    q = np.empty(v.shape[:-1] + (4,), dtype=np.float64)
    q[..., 0] = np.cos(half)
    q[..., 1:] = v * k[..., None]
    return q


def quat_to_axis_angle(q) -> np.ndarray:
    """Rotation vectors (axis * angle, angle in [0, pi]) of quaternions; exact near identity."""
    q = quat_normalize(q)
    q = np.where(q[..., :1] < 0.0, -q, q)
    w = q[..., 0]
    u = q[..., 1:]
    s = np.sqrt(np.sum(u * u, axis=-1))
    angle = 2.0 * np.arctan2(s, w)
    small = s < 1e-8
    k = np.where(small, 2.0 / np.maximum(w, _EPS), angle / np.where(small, 1.0, s))
    return u * k[..., None]


quat_exp = axis_angle_to_quat
quat_log = quat_to_axis_angle


def matrix_to_sixd(m) -> np.ndarray:
    """Continuous 6D representation (Zhou et al. 2019): first two columns of R, ``(..., 6)``."""
    m = _f64(m)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def _sixd_columns(d: np.ndarray):
    """Gram-Schmidt on 6D vectors given as 6 contiguous rows ``(6, N)``: the 9 matrix elements
    as flat arrays, row-major."""
    a1x, a1y, a1z, a2x, a2y, a2z = d
    inv1 = 1.0 / np.maximum(np.sqrt(a1x * a1x + a1y * a1y + a1z * a1z), _EPS)
    b1x, b1y, b1z = a1x * inv1, a1y * inv1, a1z * inv1
    p = b1x * a2x + b1y * a2y + b1z * a2z
    c2x, c2y, c2z = a2x - p * b1x, a2y - p * b1y, a2z - p * b1z
    inv2 = 1.0 / np.maximum(np.sqrt(c2x * c2x + c2y * c2y + c2z * c2z), _EPS)
    b2x, b2y, b2z = c2x * inv2, c2y * inv2, c2z * inv2
    b3x = b1y * b2z - b1z * b2y
    b3y = b1z * b2x - b1x * b2z
    b3z = b1x * b2y - b1y * b2x
    # columns b1, b2, b3 -> elements m[row, col]
    return b1x, b2x, b3x, b1y, b2y, b3y, b1z, b2z, b3z


def sixd_to_matrix(d) -> np.ndarray:
    """Rotation matrices from 6D vectors by Gram-Schmidt (any non-degenerate input is valid)."""
    d = _f64(d)
    rows = np.ascontiguousarray(d.reshape(-1, 6).T)
    m = np.stack(_sixd_columns(rows), axis=-1)
    return m.reshape(d.shape[:-1] + (3, 3))


def quat_to_sixd(q) -> np.ndarray:
    """6D representation of quaternions (the first two matrix columns, computed directly).

    Non-unit input is handled by scaling with ``2 / |q|^2`` instead of normalising first.
    """
    q = _f64(q)
    return _blockwise(_quat_to_sixd_block, q.reshape(-1, 4), 6).reshape(q.shape[:-1] + (6,))


def _quat_to_sixd_block(f: np.ndarray) -> np.ndarray:
    w, x, y, z = np.ascontiguousarray(f.T)
    n2 = w * w + x * x + y * y + z * z
    sc = np.where(n2 > _EPS, 2.0 / np.where(n2 > _EPS, n2, 1.0), 0.0)
    out = np.empty((w.shape[0], 6), dtype=np.float64)
    xs, ys, zs = x * sc, y * sc, z * sc
    xx, yy, zz = x * xs, y * ys, z * zs
    xy, xz, yz = x * ys, x * zs, y * zs
    wx, wy, wz = w * xs, w * ys, w * zs
    out[:, 0] = 1.0 - (yy + zz)
    out[:, 1] = xy + wz
    out[:, 2] = xz - wy
    out[:, 3] = xy - wz
    out[:, 4] = 1.0 - (xx + zz)
    out[:, 5] = yz + wx
    return out


def sixd_to_quat(d) -> np.ndarray:
    """Quaternions (w >= 0) from 6D vectors (Gram-Schmidt, then Shepperd), no matrix built."""
    d = _f64(d)

    def block(f: np.ndarray) -> np.ndarray:
        return _quat_from_elements(*_sixd_columns(np.ascontiguousarray(f.T)))

    return _blockwise(block, d.reshape(-1, 6), 4).reshape(d.shape[:-1] + (4,))


def quat_continuity(q, axis: int = 0) -> np.ndarray:
    """Flip signs so consecutive quaternions along ``axis`` have a non-negative dot product.

    q and -q are the same rotation; interpolating or filtering across such a flip would swing
    through a spurious 360°. The first element along ``axis`` keeps its sign.
    """
    q = _f64(q)
    ax = axis % (q.ndim - 1) if q.ndim > 1 else 0
    qm = np.moveaxis(q, ax, 0)
    if qm.shape[0] < 2:
        return q.copy()
    dots = np.sum(qm[1:] * qm[:-1], axis=-1)
    sign = np.where(dots < 0.0, -1.0, 1.0)
    cum = np.concatenate([np.ones_like(sign[:1]), np.cumprod(sign, axis=0)], axis=0)
    return np.moveaxis(qm * cum[..., None], 0, ax)


def quat_slerp(q0, q1, t) -> np.ndarray:
    """Spherical linear interpolation along the shortest arc; ``t`` broadcasts over leading axes.

    Returns exactly ``q0`` at t=0 and ``±q1`` at t=1 (the sign of q0's hemisphere).
    """
    q0 = _f64(q0)
    q1 = _f64(q1)
    t = _f64(t)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)
    # angle between the 4-vectors, accurate for tiny and large angles alike
    theta = 2.0 * np.arctan2(
        np.sqrt(np.sum((q1 - q0) ** 2, axis=-1, keepdims=True)),
        np.sqrt(np.sum((q1 + q0) ** 2, axis=-1, keepdims=True)),
    )
    # sin(a θ)/sin(θ) = a sinc(a θ)/sinc(θ): no division by a vanishing sine near θ = 0
    s_theta = np.sinc(theta / np.pi)
    w0 = (1.0 - t) * np.sinc((1.0 - t) * theta / np.pi) / s_theta
    w1 = t * np.sinc(t * theta / np.pi) / s_theta
    return w0 * q0 + w1 * q1


def quat_between(u, v) -> np.ndarray:
    """Minimal rotation taking direction ``u`` onto direction ``v`` (antiparallel handled)."""
    u = _f64(u)
    v = _f64(v)
    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), _EPS)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)
    u, v = np.broadcast_arrays(u, v)
    # w = 1 + u.v computed as |u + v|^2 / 2: no cancellation when u and v are nearly opposite
    h = u + v
    w = 0.5 * np.sum(h * h, axis=-1)
    c = np.cross(u, v)
    q = np.concatenate([w[..., None], c], axis=-1)
    # (nearly) opposite: the cross product is rounding noise; any perpendicular axis is right
    anti = (np.sqrt(np.sum(c * c, axis=-1)) < 1e-12) & (np.sum(u * v, axis=-1) < 0.0)
    if np.any(anti):
        # any axis perpendicular to u: cross with the basis vector least aligned with u
        e = np.zeros_like(u)
        idx = np.argmin(np.abs(u), axis=-1)
        np.put_along_axis(e, idx[..., None], 1.0, axis=-1)
        perp = np.cross(u, e)
        perp = perp / np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), _EPS)
        q_anti = np.concatenate([np.zeros_like(w)[..., None], perp], axis=-1)
        q = np.where(anti[..., None], q_anti, q)
    return quat_normalize(q)


def quat_angle(a, b) -> np.ndarray:
    """Angle in radians (in [0, pi]) of the rotation taking ``a`` to ``b``; sign-insensitive."""
    a = quat_normalize(a)
    b = quat_normalize(b)
    rel = quat_mul(quat_conj(a), b)
    s = np.sqrt(np.sum(rel[..., 1:] ** 2, axis=-1))
    return 2.0 * np.arctan2(s, np.abs(rel[..., 0]))
