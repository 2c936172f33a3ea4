"""The block solver's two carry-recurrence paths (sequential for many channels, recursive
doubling for few) both match a dense solve and each other."""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core import smoothing as S


def dense_solution(y: np.ndarray, lam: float) -> np.ndarray:
    T = y.shape[0]
    D = np.diff(np.eye(T), n=3, axis=0)
    return np.linalg.solve(np.eye(T) + lam * D.T @ D, y)


@pytest.mark.parametrize("T", [33, 97, 1500])
@pytest.mark.parametrize("lam", [1.0, 1e4])
def test_many_channel_solve_matches_dense_and_few_channel_solve(T, lam):
    rng = np.random.default_rng(T)
    C = S._SEQ_SCAN_MIN_CHANNELS + 16  # sequential carry pass
    y = rng.standard_normal((T, C)) + np.linspace(0, 5, T)[:, None]
    ref = dense_solution(y, lam)
    out = S.jerk_smooth(y, lam)
    np.testing.assert_allclose(out, ref, atol=1e-9 * np.abs(ref).max())
    # the same channels solved a few at a time take the recursive-doubling path
    few = np.concatenate([S.jerk_smooth(y[:, i : i + 3], lam) for i in range(0, C, 3)], axis=1)
    np.testing.assert_allclose(out, few, atol=1e-12 * np.abs(ref).max())


def test_scan_paths_agree():
    rng = np.random.default_rng(2)
    n = 300
    m = rng.normal(size=(n, 3, 3)) * 0.3
    a = rng.normal(size=(n, 3, S._SEQ_SCAN_MIN_CHANNELS))
    seq = S._scan(a, m)
    dbl = np.concatenate([S._scan(a[:, :, i : i + 1], m) for i in range(a.shape[2])], axis=2)
    np.testing.assert_allclose(seq, dbl, atol=1e-12)
    # the recurrence itself, checked directly
    s = np.zeros((3, a.shape[2]))
    for i in range(n):
        s = a[i] - m[i] @ s if i else a[0]
        np.testing.assert_allclose(seq[i], s, atol=1e-12)
