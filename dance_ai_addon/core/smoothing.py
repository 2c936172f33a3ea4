"""Jerk smoothing: a user-controlled low-pass filter that penalises the third difference.

For a signal ``y (T, C)`` each channel is replaced by the minimiser of
``||x - y||^2 + lam * ||D3 x||^2`` where ``D3`` is the ``(T-3) x T`` third-difference operator,
i.e. the solution of ``(I + lam D3^T D3) x = y``. Constants, lines and parabolas (constant
acceleration) have zero third difference, so they pass unchanged and the endpoints are never
pulled towards zero (unlike filters that pad with zeros).

The 7-banded SPD matrix is factored once per ``(T, lam)`` by a banded Cholesky ``A = L L^T``
(cached). Both triangular solves are done in blocks of ``B`` rows: the dense inverse of each
diagonal block is precomputed, so a solve is one batched matrix product over all blocks plus a
short sequential pass that only carries the 3 coupling values from block to block. That keeps
10,000 frames x 366 channels well under 100 ms in plain numpy (no scipy: Blender lacks it).

Rotations are smoothed in the continuous 6D representation and re-orthonormalised, never as
raw Euler angles or raw quaternions (which jump at sign flips).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from .clip import MotionClip
from .errors import DanceAIError
from .rotations import _CHUNK, _SIXD_SCRATCH, _quat_rows_to_sixd, _sixd_rows_to_quat

__all__ = [
    "jerk_smooth",
    "jerk_smooth_channels_first",
    "strength_to_lambda",
    "smooth_clip",
    "mean_squared_jerk",
    "third_difference_bands",
    "CUTOFF_MAX_HZ",
    "CUTOFF_MIN_HZ",
]

#: Half-gain frequency of the filter at strength -> 0 and at strength 1 (see strength_to_lambda).
CUTOFF_MAX_HZ = 12.0
CUTOFF_MIN_HZ = 1.0
_BLOCK = 32
_CACHE_SIZE = 8
_SEQ_SCAN_MIN_CHANNELS = 24
_D3 = np.array([-1.0, 3.0, -3.0, 1.0])


def third_difference_bands(T: int, lam: float) -> np.ndarray:
    """Lower bands of ``A = I + lam D3^T D3``: ``bands[k, i] = A[i, i - k]`` for k = 0..3."""
    bands = np.zeros((4, T), dtype=np.float64)
    if T >= 4:
        n_rows = T - 3
        # row r of D3 touches columns r..r+3 with coefficients _D3
        for m in range(4):
            for k in range(m + 1):
                # A[i, i-k] += c[m] c[m-k] for i = r + m, r in [0, n_rows)
                bands[k, m : m + n_rows] += _D3[m] * _D3[m - k]
    bands *= lam
    bands[0] += 1.0
    return bands


def _banded_cholesky(bands: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor in the same band layout: ``L[i, i-k] = out[k, i]``.

    A scalar O(T) recurrence in Python floats; it runs once per (T, lam) and is cached.
    """
    a0, a1, a2, a3 = (bands[k].tolist() for k in range(4))
    T = len(a0)
    l0 = [0.0] * T
    l1 = [0.0] * T
    l2 = [0.0] * T
    l3 = [0.0] * T
    for i in range(T):
        # L[i, i-3]
        x3 = a3[i] / l0[i - 3] if i >= 3 else 0.0
        # L[i, i-2] = (A[i,i-2] - L[i,i-3] L[i-2,i-3]) / L[i-2,i-2]
        x2 = (a2[i] - x3 * l1[i - 2]) / l0[i - 2] if i >= 2 else 0.0
        # L[i, i-1] = (A[i,i-1] - L[i,i-3] L[i-1,i-3] - L[i,i-2] L[i-1,i-2]) / L[i-1,i-1]
        x1 = (a1[i] - x3 * l2[i - 1] - x2 * l1[i - 1]) / l0[i - 1] if i >= 1 else 0.0
        d = a0[i] - x1 * x1 - x2 * x2 - x3 * x3
        if d <= 0.0:
            raise DanceAIError("The smoothing system is not positive definite; lower the strength.")
        l0[i] = math.sqrt(d)
        l1[i] = x1
        l2[i] = x2
        l3[i] = x3
    return np.array([l0, l1, l2, l3], dtype=np.float64)


def _scan(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Solve ``s_i = a_i - m_i @ s_{i-1}`` (``s_{-1} = 0``).

    ``a (n, 3, C)``, ``m (n, 3, 3)`` (``m[0]`` unused). With many channels a plain sequential
    pass (one small ``(3, 3) @ (3, C)`` product per block, written in place) is cheapest; with
    few channels the Python step dominates and recursive doubling (log2(n) vectorised steps,
    n log n work) wins.
    """
    n = a.shape[0]
    if a.shape[2] >= _SEQ_SCAN_MIN_CHANNELS:
        out = np.empty_like(a)
        out[0] = a[0]
        for i in range(1, n):
            np.matmul(m[i], out[i - 1], out=out[i])
            np.subtract(a[i], out[i], out=out[i])
        return out
    acc = a.copy()
    mat = -m
    d = 1
    while d < n:
        acc[d:] = acc[d:] + np.matmul(mat[d:], acc[: n - d])
        mat[d:] = mat[d:] @ mat[: n - d]
        d *= 2
    return acc


def _sub_cols(x3: np.ndarray, c0: int, corr: np.ndarray) -> None:
    """``x3[:, :, c0:c0 + 3] -= corr`` one column at a time: each ufunc call then runs its inner
    loop over all blocks instead of over 3 elements (a 3-long inner loop is call-bound)."""
    for i in range(3):
        x3[:, :, c0 + i] -= corr[:, :, i]


class _BlockFactor:
    """Banded Cholesky factor ``L`` (bandwidth 3) cut into blocks of ``B`` rows, for fast solves.

    Data is channel-major ``(C, Tp)`` with ``Tp = nb * B`` (padding rows are identity rows).
    ``minv[k]`` is the inverse of diagonal block ``M_k`` and ``lc[k]`` the 3x3 coupling of block
    k's first 3 rows to block k-1's last 3 columns. A solve needs only the 3 boundary values that
    pass between neighbouring blocks: they obey a short linear recurrence over blocks, solved by
    recursive doubling; folding them into each block's right-hand side leaves one batched matrix
    product. The upper solve with ``L^T`` reuses the same inverses transposed.

    A Cholesky factor converges to a steady state away from the ends, so the longest run of
    blocks whose band values agree with the middle row to 1e-12 (relative; the recurrence's own
    rounding is of that order) shares one inverse and runs as a single large product.
    """

    def __init__(self, lband: np.ndarray, B: int | None = None):
        B = _BLOCK if B is None else int(B)
        T = lband.shape[1]
        nb = max(1, -(-T // B))
        Tp = nb * B
        lb = np.zeros((4, Tp), dtype=np.float64)
        lb[0] = 1.0
        lb[:, :T] = lband
        self.T, self.B, self.nb, self.Tp = T, B, nb, Tp
        r = np.arange(B)

        def block(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            m = np.zeros((B, B + 3), dtype=np.float64)
            for k in range(4):
                m[r, 3 + r - k] = vals[k]
            return np.linalg.inv(m[:, 3:]), m[:3, :3].copy()

        self.lo = self.hi = 0
        if nb >= 4:
            rep = lb[:, T // 2]
            dev = np.max(np.abs(lb - rep[:, None]), axis=0) / np.max(np.abs(rep))
            ok = np.max(dev.reshape(nb, B), axis=1) <= 1e-12
            best, start = (0, 0), None
            for k in range(nb + 1):
                if k < nb and ok[k]:
                    start = k if start is None else start
                elif start is not None:
                    if k - start > best[1] - best[0]:
                        best = (start, k)
                    start = None
            if best[1] - best[0] >= 2:
                self.lo, self.hi = best
                self.minv_u, self.lc_u = block(np.repeat(rep[:, None], B, axis=1))
        self.others = [k for k in range(nb) if not self.lo <= k < self.hi]
        self.minv: dict[int, np.ndarray] = {}
        lc = np.zeros((nb, 3, 3), dtype=np.float64)
        for k in range(nb):
            if not self.lo <= k < self.hi:
                self.minv[k], lc[k] = block(lb[:, k * B : (k + 1) * B])
            else:
                lc[k] = self.lc_u
        lc[0] = 0.0
        self.lc = lc
        # boundary blocks of the inverses: tail rows' first 3 columns
        corner = np.stack([self._minv(k)[B - 3 :, :3] for k in range(nb)])  # (nb, 3, 3)
        self.gt_fwd = corner @ lc  # s_k = tail_k - gt_fwd[k] s_{k-1}
        # h_k = head_k - corner[k]^T lc[k+1]^T h_{k+1}
        self.gt_bwd = np.zeros((nb, 3, 3), dtype=np.float64)
        self.gt_bwd[:-1] = np.swapaxes(corner[:-1], 1, 2) @ np.swapaxes(lc[1:], 1, 2)

    def _minv(self, k: int) -> np.ndarray:
        return self.minv_u if self.lo <= k < self.hi else self.minv[k]

    def _apply(self, x3: np.ndarray, out: np.ndarray, rows: slice, cols: slice, trans: bool):
        """out[:, k] = x3[:, k] @ A_k for every block, A_k = minv_k[rows, cols] (transposed)."""
        lo, hi = self.lo, self.hi
        if hi > lo:
            m = self.minv_u[rows, cols]
            np.matmul(x3[:, lo:hi], m.T if trans else m, out=out[:, lo:hi])
        for k in self.others:
            m = self.minv[k][rows, cols]
            np.matmul(x3[:, k], m.T if trans else m, out=out[:, k])

    def solve_lower(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Solve ``L z = x`` for ``x (C, Tp)`` (modified in place); ``z`` goes to ``out``."""
        B, nb = self.B, self.nb
        C = x.shape[0]
        x3 = x.reshape(C, nb, B)
        full = slice(None)
        if nb > 1:
            tails = np.empty((C, nb, 3), dtype=np.float64)
            self._apply(x3, tails, slice(B - 3, B), full, trans=True)
            s = _scan(np.ascontiguousarray(tails.transpose(1, 2, 0)), self.gt_fwd)  # (nb, 3, C)
            carry = s.transpose(2, 0, 1)  # (C, nb, 3): carry[:, k] feeds block k + 1
            a, b = max(self.lo, 1), self.hi
            if b > a:
                _sub_cols(x3[:, a:b], 0, carry[:, a - 1 : b - 1] @ self.lc_u.T)
            for k in self.others:
                if k > 0:
                    x3[:, k, :3] -= carry[:, k - 1] @ self.lc[k].T
        out = np.empty_like(x3) if out is None else out.reshape(C, nb, B)
        self._apply(x3, out, full, full, trans=True)
        return out.reshape(C, nb * B)

    def solve_upper(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Solve ``L^T x = z`` for ``z (C, Tp)`` (modified in place); ``x`` goes to ``out``."""
        B, nb = self.B, self.nb
        C = z.shape[0]
        z3 = z.reshape(C, nb, B)
        full = slice(None)
        if nb > 1:
            heads = np.empty((C, nb, 3), dtype=np.float64)
            # head of inv(M_k^T) z_k = minv_k[:, :3]^T z_k, i.e. z_k @ minv_k[:, :3]
            self._apply(z3, heads, full, slice(0, 3), trans=False)
            a = np.ascontiguousarray(heads.transpose(1, 2, 0)[::-1])
            h = _scan(a, self.gt_bwd[::-1])[::-1]  # (nb, 3, C)
            carry = h.transpose(2, 0, 1)  # carry[:, k] feeds block k - 1
            # block k's last 3 rows take -lc[k+1]^T h_{k+1}
            a0, b0 = self.lo, self.hi - 1  # blocks whose successor is also a steady-state block
            if b0 > a0:
                _sub_cols(z3[:, a0:b0], B - 3, carry[:, a0 + 1 : b0 + 1] @ self.lc_u)
            for k in range(nb - 1):
                if not a0 <= k < b0:
                    z3[:, k, B - 3 :] -= carry[:, k + 1] @ self.lc[k + 1]
        out = np.empty_like(z3) if out is None else out.reshape(C, nb, B)
        self._apply(z3, out, full, full, trans=False)
        return out.reshape(C, nb * B)


class _Factor:
    def __init__(self, T: int, lam: float):
        self.T = T
        self.blocks = _BlockFactor(_banded_cholesky(third_difference_bands(T, lam)))

    def solve_ct(self, xt: np.ndarray) -> np.ndarray:
        """Solve for channel-major data ``xt (C, T)``; returns ``(C, T)``."""
        T, Tp = self.T, self.blocks.Tp
        # two buffers, ping-ponged: allocating fresh 10 MB+ arrays per step costs page faults
        buf = np.empty((xt.shape[0], Tp), dtype=np.float64)
        buf[:, :T] = xt
        buf[:, T:] = 0.0
        work = np.empty_like(buf)
        self.blocks.solve_lower(buf, out=work)
        self.blocks.solve_upper(work, out=buf)
        return buf[:, :T]


_cache: OrderedDict[tuple[int, float], _Factor] = OrderedDict()


def _factor(T: int, lam: float) -> _Factor:
    key = (T, float(lam))
    f = _cache.get(key)
    if f is None:
        f = _Factor(T, lam)
        _cache[key] = f
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return f


def jerk_smooth(x: np.ndarray, lam: float) -> np.ndarray:
    """Solve ``(I + lam D3^T D3) out = x`` for every channel of ``x (T, C)`` (or ``(T,)``).

    ``lam = 0`` or fewer than 4 frames returns a copy of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    lam = float(lam)
    if not (math.isfinite(lam) and lam >= 0.0):
        raise DanceAIError(f"Smoothing weight {lam} must be a finite number >= 0.")
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    if x.ndim != 2:
        raise DanceAIError(f"jerk_smooth expects (T, C) data, got shape {x.shape}.")
    T = x.shape[0]
    if lam == 0.0 or T < 4 or x.shape[1] == 0:
        out = x.copy()
    else:
        out = np.ascontiguousarray(_factor(T, lam).solve_ct(np.ascontiguousarray(x.T)).T)
    return out[:, 0] if squeeze else out


def jerk_smooth_channels_first(xt: np.ndarray, lam: float) -> np.ndarray:
    """:func:`jerk_smooth` for channel-major data ``(C, T)``; saves two transposes."""
    xt = np.asarray(xt, dtype=np.float64)
    if xt.ndim != 2:
        raise DanceAIError(f"expected (C, T) data, got shape {xt.shape}.")
    lam = float(lam)
    if not (math.isfinite(lam) and lam >= 0.0):
        raise DanceAIError(f"Smoothing weight {lam} must be a finite number >= 0.")
    if lam == 0.0 or xt.shape[1] < 4 or xt.shape[0] == 0:
        return xt.copy()
    return _factor(xt.shape[1], lam).solve_ct(xt)


def strength_to_lambda(strength: float, fps: float) -> float:
    """Map the user's 0..1 slider to ``lam`` so it means the same thing at any frame rate.

    The filter's gain at frequency f is ``1 / (1 + lam (2 sin(pi f / fps))^6)``. Strength s sets
    the half-gain (cutoff) frequency on a log scale, ``f_c = 12 Hz * (1 Hz / 12 Hz) ** s``, so
    s -> 0 only touches vibration above ~12 Hz (mocap jitter) and s = 1 keeps motion below ~1 Hz;
    then ``lam = (2 sin(pi f_c / fps))^-6``. The same s gives the same f_c in Hz at 30 or 60 fps
    (lam grows about 64x per doubling of fps). ``f_c`` is capped at 0.45 fps. s = 0 gives 0 (off).
    """
    s = float(strength)
    fps = float(fps)
    if not (math.isfinite(s) and 0.0 <= s <= 1.0):
        raise DanceAIError(f"Smoothing strength {strength} must be between 0 and 1.")
    if not (math.isfinite(fps) and fps > 0.0):
        raise DanceAIError(f"Frame rate {fps} must be a positive number.")
    if s == 0.0:
        return 0.0
    fc = CUTOFF_MAX_HZ * (CUTOFF_MIN_HZ / CUTOFF_MAX_HZ) ** s
    fc = min(fc, 0.45 * fps)
    return float((2.0 * math.sin(math.pi * fc / fps)) ** -6)


def _constant_rows(x: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``x (C, T)`` whose values are all equal (the filter passes them
    unchanged). A few probe columns rule out almost every varying row before the full check."""
    T = x.shape[1]
    probe = x[:, :: max(1, T // 16)]
    cand = np.flatnonzero(np.all(probe == x[:, :1], axis=1))
    if cand.size == 0:
        return cand
    return cand[np.all(x[cand] == x[cand, :1], axis=1)]


def smooth_clip(clip: MotionClip, strength: float) -> MotionClip:
    """The clip with rotations (in 6D, re-orthonormalised) and root positions jerk-smoothed.

    Strength 0 returns an identical copy. Output quaternions keep the sign hemisphere of the
    input frame by frame, so downstream code sees no new sign flips.

    Works component-major (each 6D / quaternion component of every joint a contiguous row over
    frames), the layout the channel-major solver wants: one blocked transpose in, one out, and
    the conversions run on unit strides in cache-sized blocks with reused scratch rows. Channels
    that hold one value throughout (joints that never move, e.g. identity fingers, or a fixed
    root height) skip the solve: the filter returns a constant unchanged.
    """
    lam = strength_to_lambda(strength, clip.fps)
    if lam == 0.0 or clip.n_frames < 4:
        return clip.copy()
    T, J = clip.n_frames, clip.n_joints
    n = J * T
    rot3 = np.empty((4, J, T), dtype=np.float64)
    for s in range(0, T, 256):  # transposing in frame blocks stays in cache: ~3x faster
        np.copyto(rot3[:, :, s : s + 256], clip.rotations[s : s + 256].transpose(2, 1, 0))
    rot = rot3.reshape(4, n)
    data = np.empty((J * 6 + 3, T), dtype=np.float64)
    sixd = data[: J * 6].reshape(6, n)  # channel c * J + j
    ch = min(n, _CHUNK)
    ws = np.empty((_SIXD_SCRATCH + 2, ch), dtype=np.float64)
    for s in range(0, n, ch):
        e = min(n, s + ch)
        _quat_rows_to_sixd(rot[:, s:e], sixd[:, s:e], ws[:, : e - s])
    data[J * 6 :] = clip.root_positions.T
    const = _constant_rows(data)
    if const.size == 0:
        sm = jerk_smooth_channels_first(data, lam)
    else:
        keep = np.ones(data.shape[0], dtype=bool)
        keep[const] = False
        sm = data
        if const.size < data.shape[0]:
            sm[keep] = jerk_smooth_channels_first(data[keep], lam)
    sm6 = sm[: J * 6].reshape(6, J, T)  # a view: the solver's rows may be padded
    q = np.empty((4, J, T), dtype=np.float64)
    dot, tmp = ws[_SIXD_SCRATCH], ws[_SIXD_SCRATCH + 1]
    for j in range(J):
        for s in range(0, T, ch):
            e = min(T, s + ch)
            qs = q[:, j, s:e]
            _sixd_rows_to_quat(sm6[:, j, s:e], qs, ws[:, : e - s])
            # keep the input's sign hemisphere frame by frame
            r = rot3[:, j, s:e]
            d, t = dot[: e - s], tmp[: e - s]
            np.multiply(qs[0], r[0], out=d)
            for k in (1, 2, 3):
                np.multiply(qs[k], r[k], out=t)
                d += t
            np.negative(qs, out=qs, where=d < 0.0)
    rotations = np.ascontiguousarray(q.transpose(2, 1, 0))
    root = np.ascontiguousarray(sm[J * 6 :].T)
    return MotionClip(clip.skeleton.copy(), rotations, root, clip.fps, clip.name)


def mean_squared_jerk(x: np.ndarray, fps: float) -> float:
    """Mean over frames of the squared jerk magnitude (units/s^3)^2 of ``x (T, ...)``.

    Jerk is the third difference times ``fps^3``; channels are summed per frame.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 4:
        return 0.0
    j = np.diff(x, n=3, axis=0) * float(fps) ** 3
    return float(np.mean(np.sum(j.reshape(j.shape[0], -1) ** 2, axis=1)))
