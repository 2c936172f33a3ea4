"""The windowed generation loop on real test engines: lengths, seeds, seams, loops, beat, NaN."""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.errors import DanceAIError, EngineError
from dance_ai_addon.core.generation import beat_features, generate, initial_history
from dance_ai_addon.core.rotations import quat_angle
from dance_ai_addon.core.style import style_vector
from tests.tolerances import ULP_NOISE

STYLE = np.array([0.7, 0.3, 0.0, 0.5])


@pytest.mark.parametrize("frames", [1, 5, 15, 16, 17, 28, 29, 100, 301])
def test_any_length(cpu_engine, frames):
    r = generate(cpu_engine, frames=frames, style=STYLE, seed=3)
    assert r.clip.n_frames == frames and r.features.shape == (frames, 148)
    assert r.clip.fps == 30.0 and r.clip.skeleton.names[0] == "Pelvis"
    step = 16 - 4
    assert r.windows == 1 + max(0, -(-(frames - 16) // step))


def test_same_seed_same_output_other_seed_differs(cpu_engine):
    a = generate(cpu_engine, frames=200, style=STYLE, seed=11)
    b = generate(cpu_engine, frames=200, style=STYLE, seed=11)
    c = generate(cpu_engine, frames=200, style=STYLE, seed=12)
    np.testing.assert_allclose(a.clip.rotations, b.clip.rotations, rtol=0, atol=ULP_NOISE)
    np.testing.assert_allclose(a.clip.root_positions, b.clip.root_positions, rtol=0, atol=ULP_NOISE)
    assert np.abs(a.features - c.features).max() > 0.05


def test_style_bpm_and_noise_scale_change_the_output(cpu_engine, test_engine_path):
    base = generate(cpu_engine, frames=64, style=STYLE, seed=5).features
    other = style_vector(cpu_engine.metadata, {"hiphop": 1.0})
    assert np.abs(generate(cpu_engine, frames=64, style=other, seed=5).features - base).max() > 0.01
    fast = generate(cpu_engine, frames=64, style=STYLE, seed=5, bpm=170).features
    assert np.abs(fast - base).max() > 0.01
    calm = generate(cpu_engine, frames=64, style=STYLE, seed=5, noise_scale=0.0).features
    assert np.abs(calm - base).max() > 0.01


def test_beat_features_follow_bpm_and_phase():
    b = beat_features(31, 30.0, 120.0, phase=0.25)
    # 120 bpm at 30 fps: one beat every 15 frames; phase 0.25 -> sin = 1 at frame 0
    np.testing.assert_allclose(b[0], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(b[15], b[0], atol=1e-5)
    np.testing.assert_allclose(b[30], b[0], atol=1e-5)


def _frame_jumps(features: np.ndarray) -> np.ndarray:
    """Mean absolute change of the joint channels from each frame to the next."""
    return np.abs(np.diff(features[:, 4:], axis=0)).mean(axis=1)


def test_overlap_crossfade_removes_seams(cpu_engine):
    # window 16: window k's new frames start at k * (16 - overlap); the jump there is the seam
    # (beat lock off: its retiming would move the seams off those frames)
    def jumps(overlap: int) -> np.ndarray:
        return _frame_jumps(
            generate(
                cpu_engine, frames=400, style=STYLE, seed=8, overlap=overlap, beat_lock=0.0
            ).features
        )

    hard, soft = jumps(0), jumps(6)
    hard_seams = np.median(hard[15::16])
    assert hard_seams > 2 * np.median(hard)  # without overlap the windows visibly jump
    assert np.median(soft[9::10]) < 1.3 * np.median(soft)  # crossfaded: seams look like frames
    assert soft.max() < hard_seams


def test_loop_closure_makes_the_clip_cycle(cpu_engine):
    plain = generate(cpu_engine, frames=240, style=STYLE, seed=21)
    looped = generate(cpu_engine, frames=240, style=STYLE, seed=21, loop=True)

    def wrap_vs_typical(clip):
        q = clip.rotations
        step = quat_angle(q[1:], q[:-1]).max(axis=1)  # worst joint per consecutive pair
        wrap = quat_angle(q[-1], q[0]).max()
        pos = clip.root_positions
        pstep = np.linalg.norm(np.diff(pos, axis=0), axis=1)
        pwrap = np.linalg.norm(pos[0] - pos[-1])
        return wrap / np.percentile(step, 95), pwrap / np.percentile(pstep, 95)

    rot_plain, pos_plain = wrap_vs_typical(plain.clip)
    rot_loop, pos_loop = wrap_vs_typical(looped.clip)
    assert rot_loop < 1.5 and pos_loop < 2.0
    assert rot_plain > 3 * rot_loop and pos_plain > 3 * pos_loop
    assert looped.clip.n_frames == 240


def test_blendshapes_and_history_zero(make_engine):
    eng = load_engine(make_engine(history=0, blendshapes=True), backend="cpu")
    r = generate(eng, frames=50, style=STYLE, seed=1)
    names, w = r.blendshapes
    assert names[0] == "eyeBlinkLeft" and len(names) == 52 and w.shape == (50, 52)
    assert 0.0 <= w.min() and w.max() <= 1.0 and w.std() > 0.01
    eng.close()


def test_initial_history_from_metadata_is_used(mte, tmp_path):
    meta = mte.test_metadata()
    path_plain = mte.make_test_engine(tmp_path / "plain.onnx")
    eng = load_engine(path_plain, backend="cpu")
    rest = initial_history(eng)
    assert rest.shape == (8, 148) and 0.8 < rest[0, 0] < 1.1
    # grounding off: it would lift the crouch back out of the floor, hiding the history's effect
    base = generate(eng, frames=20, style=STYLE, seed=0, ground=False).features
    eng.close()
    crouch = rest.copy()
    crouch[:, 0] = 0.5  # start crouched
    meta["initial_history"] = crouch.tolist()
    eng = load_engine(mte.make_test_engine(tmp_path / "ih.onnx", metadata=meta), backend="cpu")
    np.testing.assert_allclose(initial_history(eng), crouch)
    out = generate(eng, frames=20, style=STYLE, seed=0, ground=False).features
    assert out[0, 0] < base[0, 0] - 0.1
    eng.close()


def test_nan_output_refuses_to_bake(make_engine):
    eng = load_engine(make_engine(emit_nan=True), backend="cpu")
    with pytest.raises(EngineError) as exc:
        generate(eng, frames=40, style=STYLE, seed=0)
    msg = str(exc.value)
    assert msg.startswith(eng.path.name) and "NaN" in msg and "refusing to bake" in msg
    eng.close()


def test_bad_arguments(cpu_engine):
    with pytest.raises(DanceAIError, match="at least 1"):
        generate(cpu_engine, frames=0, style=STYLE, seed=0)
    with pytest.raises(DanceAIError, match="style vector must be 4"):
        generate(cpu_engine, frames=10, style=np.ones(3), seed=0)
    with pytest.raises(DanceAIError, match="overlap"):
        generate(cpu_engine, frames=10, style=STYLE, seed=0, overlap=16)
    with pytest.raises(DanceAIError, match="BPM"):
        generate(cpu_engine, frames=10, style=STYLE, seed=0, bpm=0)


def test_style_noise_scale_blends_by_the_mix_and_yields_to_an_explicit_scale(mte, tmp_path):
    """A per-style noise scale (recommended.style_noise_scale) is what that style samples with;
    a mix blends the scales by its category weights; an explicit noise_scale still wins."""
    import onnx

    model = mte.build_model()
    meta = mte.test_metadata()
    meta["recommended"]["noise_scale"] = 1.0
    meta["recommended"]["style_noise_scale"] = {"hiphop": 2.5}
    mte.set_metadata(model, meta)
    path = tmp_path / "hot_hiphop.onnx"
    onnx.save(model, str(path))

    def run(eng, mix: dict, **kw) -> np.ndarray:
        style = style_vector(eng.metadata, mix)
        return generate(eng, frames=48, style=style, seed=4, **kw).features

    with load_engine(path, backend="cpu", threads=1) as eng:
        for mix, scale in (
            ({"hiphop": 1.0}, 2.5),
            ({"salsa": 1.0}, 1.0),
            ({"salsa": 0.5, "hiphop": 0.5}, 1.75),
        ):
            np.testing.assert_allclose(
                run(eng, mix), run(eng, mix, noise_scale=scale), rtol=0, atol=ULP_NOISE
            )
        hiphop = {"hiphop": 1.0}
        used = generate(eng, frames=8, style=style_vector(eng.metadata, hiphop), seed=4)
        assert used.noise_scale == 2.5 and used.variety == 0.0  # what the result reports
        assert np.abs(run(eng, hiphop) - run(eng, hiphop, noise_scale=1.0)).max() > 0.01
