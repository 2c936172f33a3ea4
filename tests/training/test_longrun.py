"""Long-run ratios (the report's reported-only line and ``training.longrun``) on a real test
engine through the runtime, against a synthetic dataset's takes."""

from __future__ import annotations

import numpy as np

from tests.training.synthetic import synthetic_dataset
from tools.make_test_engine import make_test_engine
from training.evaluate import FPS, Generator, RealSet, long_run_ratios, style_speed
from training.metrics import angular_speed_per_minute


def test_long_run_ratios_measure_every_minute_of_every_seed(tmp_path):
    real = RealSet(synthetic_dataset(tmp_path / "dataset.npz"))
    gen = Generator(make_test_engine(tmp_path / "e.onnx"), threads=1)
    frames = int(2.6 * 60 * FPS)  # two whole minutes and a tail over half a minute, which counts
    lines: list[str] = []
    out = long_run_ratios(gen, real, ["salsa", "modern"], [3, 4], frames, log=lines.append)
    assert set(out) == {"salsa", "modern"} and len(lines) == 4
    for runs in out.values():
        assert set(runs["runs"]) == {3, 4}
        assert all(len(r) == 3 for r in runs["runs"].values())
        flat = [v for r in runs["runs"].values() for v in r]
        assert runs["min"] == min(flat) and runs["max"] == max(flat)
    # the same numbers as measuring one run by hand
    ref = style_speed(real, real.style_names.index("modern"))
    by_hand = angular_speed_per_minute(gen.run("modern", frames, seed=4), FPS) / ref
    np.testing.assert_allclose(out["modern"]["runs"][4], by_hand, atol=0.005)
