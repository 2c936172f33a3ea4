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


#: Columns per block in the elementwise-heavy conversions. Every block works in preallocated
#: component-major scratch rows (``out=`` everywhere), small enough to stay in cache: fresh
#: arrays per operation would each cost an allocation and, above the allocator's mmap
#: threshold, page faults.
_CHUNK = 8192
#: Scratch rows :func:`_sixd_rows_to_quat` needs.
_SIXD_SCRATCH = 32


def _chunked(core, src: np.ndarray, kout: int, n_scratch: int) -> np.ndarray:
    """Run ``core(in_rows, out_rows, scratch)`` over ``src (N, kin)`` in blocks of _CHUNK rows.

    ``core`` sees each block as component-major views ``(kin, n)`` / ``(kout, n)`` (transposed
    views, no copies: reading and writing them strided is cheaper than transposing).
    """
    n_all = src.shape[0]
    out = np.empty((n_all, kout), dtype=np.float64)
    if n_all == 0:
        return out
    ch = min(n_all, _CHUNK)
    ws = np.empty((n_scratch, ch), dtype=np.float64)
    for s in range(0, n_all, ch):
        n = min(ch, n_all - s)
        core(src[s : s + n].T, out[s : s + n].T, ws[:, :n])
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


def _shepperd_rows(m: np.ndarray, q: np.ndarray, ws: np.ndarray, renorm: bool) -> None:
    """Shepperd's method on component-major matrix rows ``m (9, n)`` (m00, m01, ..., m22) into
    ``q (4, n)``, ``w >= 0``; ``ws``: at least 14 scratch rows.

    Each of the 4 branches divides by the largest of |w|, |x|, |y|, |z| (up to a factor), so
    none loses precision near 180°. The branch is picked by two pairwise comparisons and one
    between the winners (``t0 >= t1 <=> m11 + m22 >= 0``, ``t2 >= t3 <=> m11 >= m22``, ties go
    to w, x, y, z in that order) and applied with 0/1 float masks: a masked sum is exact and
    several times cheaper than ``np.where`` on unpredictable masks.
    """
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    g, h, f0, f1, f2, f3, r, d21, s21, d02, s02, d10, s10, t = ws[:14]
    np.add(m11, m22, out=g)
    np.subtract(m11, m22, out=h)
    np.greater_equal(g, 0.0, out=f2)  # fA: w beats x
    np.greater_equal(h, 0.0, out=f3)  # fB: y beats z
    np.abs(g, out=g)
    np.abs(h, out=h)
    np.add(m00, g, out=g)  # tA = max(t0, t1)
    np.subtract(h, m00, out=h)  # tB = max(t2, t3)
    np.greater_equal(g, h, out=f1)  # fAB: the w/x winner beats the y/z winner
    np.maximum(g, h, out=r)
    r += 1.0  # 1 + the largest t_k = 4 q_k^2 of the chosen branch
    np.multiply(f2, f1, out=f0)  # w
    np.subtract(f1, f0, out=f1)  # x
    np.subtract(1.0, f0, out=t)
    np.subtract(t, f1, out=t)  # not (w or x)
    np.multiply(f3, t, out=f2)  # y
    np.subtract(t, f2, out=f3)  # z
    np.subtract(m21, m12, out=d21)
    np.add(m21, m12, out=s21)
    np.subtract(m02, m20, out=d02)
    np.add(m02, m20, out=s02)
    np.subtract(m10, m01, out=d10)
    np.add(m10, m01, out=s10)
    for qc, (c0, c1, c2, c3) in zip(
        q, ((r, d21, d02, d10), (d21, r, s10, s02), (d02, s10, r, s21), (d10, s02, s21, r))
    ):
        np.multiply(c0, f0, out=qc)
        np.multiply(c1, f1, out=t)
        qc += t
        np.multiply(c2, f2, out=t)
        qc += t
        np.multiply(c3, f3, out=t)
        qc += t
    _finish(q, r, t, renorm)


def _finish(q: np.ndarray, r: np.ndarray, t: np.ndarray, renorm: bool) -> None:
    """Scale the chosen branch vector ``q`` (= 4 q_k q, with 4 q_k^2 = r) to unit length, w >= 0.

    ``renorm=False`` uses ``|4 q_k q| = 2 sqrt(r)``, exact for orthonormal input; ``True`` divides
    by the actual norm (input matrices that are not quite orthonormal still give unit output).
    """
    if renorm:
        np.multiply(q[0], q[0], out=t)
        for k in (1, 2, 3):
            np.multiply(q[k], q[k], out=r)
            t += r
        np.sqrt(t, out=t)
        np.maximum(t, 1e-300, out=t)
        np.divide(1.0, t, out=t)
    else:
        np.sqrt(r, out=t)
        np.divide(0.5, t, out=t)
    np.copysign(t, q[0], out=t)  # 1/|q| carrying the sign of w, so that w >= 0 afterwards
    np.multiply(q, t, out=q)


def _gram_schmidt_rows(
    a: np.ndarray, b1: np.ndarray, b2: np.ndarray, sq: np.ndarray, s: np.ndarray
) -> None:
    """Columns ``b1, b2 (3, n)`` of the rotation for 6D rows ``a (6, n)``, in place.

    ``sq (3, n)`` and ``s (n,)`` are scratch. The one Gram-Schmidt every 6D conversion uses.
    """
    a1, a2 = a[:3], a[3:]
    np.multiply(a1, a1, out=sq)
    np.add(sq[0], sq[1], out=s)
    s += sq[2]
    np.sqrt(s, out=s)
    np.maximum(s, _EPS, out=s)
    np.divide(1.0, s, out=s)
    np.multiply(a1, s, out=b1)
    np.multiply(b1, a2, out=sq)  # p = b1 . a2
    np.add(sq[0], sq[1], out=s)
    s += sq[2]
    np.multiply(b1, s, out=b2)  # a2 - p b1
    np.subtract(a2, b2, out=b2)
    np.multiply(b2, b2, out=sq)
    np.add(sq[0], sq[1], out=s)
    s += sq[2]
    np.sqrt(s, out=s)
    np.maximum(s, _EPS, out=s)
    np.divide(1.0, s, out=s)
    b2 *= s


def _sixd_rows_to_matrix_rows(a: np.ndarray, m: np.ndarray, ws: np.ndarray) -> None:
    """6D rows ``a (6, n)`` -> matrix rows ``m (9, n)`` (m00, m01, ..., m22); ``ws``: at least
    4 scratch rows."""
    _gram_schmidt_rows(a, m[0::3], m[1::3], ws[0:3], ws[3])
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    t = ws[3]
    np.multiply(m10, m21, out=m02)  # b3 = b1 x b2
    np.multiply(m20, m11, out=t)
    m02 -= t
    np.multiply(m20, m01, out=m12)
    np.multiply(m00, m21, out=t)
    m12 -= t
    np.multiply(m00, m11, out=m22)
    np.multiply(m10, m01, out=t)
    m22 -= t


def _sixd_rows_to_quat(a: np.ndarray, q: np.ndarray, ws: np.ndarray) -> None:
    """6D rows ``a (6, n)`` -> quaternion rows ``q (4, n)`` (``w >= 0``); ``ws``: _SIXD_SCRATCH
    scratch rows.

    Gram-Schmidt gives the columns b1, b2 (b3 = b1 x b2). For the w branch of Shepperd's method
    the matrix is never built: with ``u = 1 + b1x``, ``v = 1 + b2y`` the branch vector
    ``(1 + tr, m21 - m12, m02 - m20, m10 - m01)`` is ``(u v - b1y b2x, b2z u - b1z b2x,
    b1y b2z - b1z v, b1y - b2x)``. It is used wherever ``1 + tr >= 1`` (``w >= 1/2``, rotations
    up to 120°: as precise as the largest-component choice); the other columns, if any, go
    through the full matrix and 4-branch selection.
    """
    n = a.shape[1]
    b1, b2 = ws[0:3], ws[3:6]
    b1x, b1y, b1z = b1
    b2x, b2y, b2z = b2
    s, t = ws[6], ws[7]
    _gram_schmidt_rows(a, b1, b2, ws[11:14], s)
    qb = ws[14:18]  # contiguous rows; the (possibly strided) output is written once
    q0, q1, q2, q3 = qb
    np.add(b1x, 1.0, out=s)  # u
    np.add(b2y, 1.0, out=t)  # v
    np.multiply(s, t, out=q0)
    np.multiply(b1y, b2x, out=q3)
    q0 -= q3  # 1 + trace = 4 w^2
    bad = q0 < 1.0
    n_bad = int(np.count_nonzero(bad))
    if 4 * n_bad > n:  # mostly large rotations: masks over everything beat gathers
        m02, m12, m22 = ws[8:11]  # b3 = b1 x b2
        np.multiply(b1y, b2z, out=m02)
        np.multiply(b1z, b2y, out=t)
        m02 -= t
        np.multiply(b1z, b2x, out=m12)
        np.multiply(b1x, b2z, out=t)
        m12 -= t
        np.multiply(b1x, b2y, out=m22)
        np.multiply(b1y, b2x, out=t)
        m22 -= t
        m = (b1x, b2x, m02, b1y, b2y, m12, b1z, b2z, m22)
        _shepperd_rows(m, qb, ws[18:32], renorm=False)
        np.copyto(q, qb)
        return
    np.multiply(b2z, s, out=q1)
    np.multiply(b1z, b2x, out=q3)
    q1 -= q3
    np.multiply(b1y, b2z, out=q2)
    np.multiply(b1z, t, out=q3)
    q2 -= q3
    np.subtract(b1y, b2x, out=q3)
    if n_bad:
        np.maximum(q0, 1.0, out=s)  # keeps sqrt finite; these columns are redone below
        np.sqrt(s, out=s)
    else:
        np.sqrt(q0, out=s)
    np.divide(0.5, s, out=s)
    np.multiply(qb, s, out=q)
    if n_bad:
        idx = np.flatnonzero(bad)
        sub_a = a[:, idx]
        sub_m = np.empty((9, idx.size), dtype=np.float64)
        sub_ws = np.empty((14, idx.size), dtype=np.float64)
        _sixd_rows_to_matrix_rows(sub_a, sub_m, sub_ws)
        sub_q = np.empty((4, idx.size), dtype=np.float64)
        _shepperd_rows(sub_m, sub_q, sub_ws, renorm=False)
        q[:, idx] = sub_q


def _quat_rows_to_sixd(q: np.ndarray, d: np.ndarray, ws: np.ndarray) -> None:
    """Component-major quaternion rows ``q (4, n)`` -> 6D rows ``d (6, n)``; 5 scratch rows.

    Non-unit input is handled by scaling with ``2 / |q|^2`` (0 for zero quaternions, which so
    map to the identity) instead of normalising first.
    """
    w, x, y, z = q
    sc, xs, ys, zs, t = ws[:5]
    np.multiply(w, w, out=sc)
    for c in (x, y, z):
        np.multiply(c, c, out=t)
        sc += t
    tiny = float(sc.min()) <= _EPS
    if tiny:
        zero = sc <= _EPS
        np.maximum(sc, _EPS, out=sc)
    np.divide(2.0, sc, out=sc)
    if tiny:
        sc[zero] = 0.0
    np.multiply(x, sc, out=xs)
    np.multiply(y, sc, out=ys)
    np.multiply(z, sc, out=zs)
    d0, d1, d2, d3, d4, d5 = d
    # d0 = 1 - (yy + zz), d4 = 1 - (xx + zz)
    np.multiply(z, zs, out=t)
    np.multiply(y, ys, out=d0)
    d0 += t
    np.subtract(1.0, d0, out=d0)
    np.multiply(x, xs, out=d4)
    d4 += t
    np.subtract(1.0, d4, out=d4)
    np.multiply(w, zs, out=t)  # wz
    np.multiply(x, ys, out=d1)  # xy
    np.subtract(d1, t, out=d3)
    d1 += t
    np.multiply(w, ys, out=t)  # wy
    np.multiply(x, zs, out=d2)  # xz
    d2 -= t
    np.multiply(w, xs, out=t)  # wx
    np.multiply(y, zs, out=d5)  # yz
    d5 += t


def matrix_to_quat(m) -> np.ndarray:
    """Unit quaternions of rotation matrices (Shepperd: branch on the largest diagonal term).

    Robust near 180° rotations where the trace formula alone loses all precision. The result has
    ``w >= 0``.
    """
    m = _f64(m)

    def core(rows: np.ndarray, q: np.ndarray, ws: np.ndarray) -> None:
        # always the full branch selection (no w-only fast path): for input that is not quite
        # orthonormal the branches differ slightly, and this keeps the largest-component choice
        _shepperd_rows(rows, q, ws, renorm=True)

    return _chunked(core, m.reshape(-1, 9), 4, 14).reshape(m.shape[:-2] + (4,))


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


def sixd_to_matrix(d) -> np.ndarray:
    """Rotation matrices from 6D vectors by Gram-Schmidt (any non-degenerate input is valid)."""
    d = _f64(d)
    rows = np.ascontiguousarray(d.reshape(-1, 6).T)
    m = np.empty((9, rows.shape[1]), dtype=np.float64)
    _sixd_rows_to_matrix_rows(rows, m, np.empty((4, rows.shape[1]), dtype=np.float64))
    return m.T.reshape(d.shape[:-1] + (3, 3))


def quat_to_sixd(q) -> np.ndarray:
    """6D representation of quaternions (the first two matrix columns, computed directly).

    Non-unit input is handled by scaling with ``2 / |q|^2`` instead of normalising first.
    """
    q = _f64(q)
    return _chunked(_quat_rows_to_sixd, q.reshape(-1, 4), 6, 5).reshape(q.shape[:-1] + (6,))


def sixd_to_quat(d) -> np.ndarray:
    """Quaternions (w >= 0) from 6D vectors (Gram-Schmidt, then Shepperd), no matrix stack."""
    d = _f64(d)
    out = _chunked(_sixd_rows_to_quat, d.reshape(-1, 6), 4, _SIXD_SCRATCH)
    return out.reshape(d.shape[:-1] + (4,))


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
