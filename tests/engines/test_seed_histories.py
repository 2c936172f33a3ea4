"""Seed histories (optional ``seed_histories`` metadata) and floor grounding in generation.

Real test engines from tools/make_test_engine.py with seed banks whose root heights tell which
bank and which entry the runtime picked.
"""

from __future__ import annotations

import numpy as np
import pytest

from dance_ai_addon.core.clip import MotionClip
from dance_ai_addon.core.engines import load_engine
from dance_ai_addon.core.errors import EngineError
from dance_ai_addon.core.generation import (
    floor_depth,
    generate,
    ground_clip,
    initial_history,
    seed_history,
)
from dance_ai_addon.core.skeleton import forward_kinematics, smpl24_skeleton
from tests.tolerances import ULP_NOISE

SALSA = np.array([0.8, 0.2, 0.0, 0.5])
MODERN = np.array([0.3, 0.7, 0.0, 0.5])
HIPHOP = np.array([0.0, 0.0, 1.0, 0.5])  # the test banks have no hiphop seeds


def _banks(rest: np.ndarray) -> dict[str, np.ndarray]:
    """Four seeds per bank; root height 1.0x for salsa, 0.8x for modern (x = entry index)."""
    out = {}
    for name, base in (("salsa", 1.0), ("modern", 0.8)):
        bank = np.repeat(rest[None], 4, axis=0).copy()
        bank[:, :, 0] = base + 0.01 * np.arange(4)[:, None]
        out[name] = bank
    return out


@pytest.fixture(scope="module")
def seeded(mte, tmp_path_factory):
    meta = mte.test_metadata()
    banks = _banks(_rest(mte))
    meta["seed_histories"] = {k: v.tolist() for k, v in banks.items()}
    path = mte.make_test_engine(tmp_path_factory.mktemp("s") / "seeded.onnx", metadata=meta)
    eng = load_engine(path, backend="cpu", threads=1)
    yield eng, banks
    eng.close()


def _rest(mte) -> np.ndarray:
    from dance_ai_addon.core.engines.features import rest_features

    return rest_features(smpl24_skeleton(), mte.test_metadata()["history"])


def test_seed_histories_parse(seeded):
    eng, banks = seeded
    seeds = eng.metadata.seed_histories
    assert set(seeds) == {"salsa", "modern"}
    np.testing.assert_allclose(seeds["salsa"], banks["salsa"])
    assert seeds["modern"].shape == (4, 8, 148)


def test_choice_is_deterministic_and_follows_the_dominant_style(seeded):
    eng, banks = seeded
    rng = np.random.default_rng
    picks = {}
    for style, name in ((SALSA, "salsa"), (MODERN, "modern")):
        for seed in range(12):
            a = seed_history(eng, style, rng(seed))
            b = seed_history(eng, style, rng(seed))
            np.testing.assert_array_equal(a, b)  # same seed -> same seed motion
            # it is one of the dominant category's bank entries
            match = [i for i, h in enumerate(banks[name]) if np.array_equal(h, a)]
            assert len(match) == 1
            picks.setdefault(name, set()).add(match[0])
    assert len(picks["salsa"]) > 1 and len(picks["modern"]) > 1  # seeds pick different entries
    # no bank for the dominant category -> None (the runtime falls back to initial_history)
    assert seed_history(eng, HIPHOP, rng(0)) is None


def test_generation_starts_from_the_seed_motion(seeded):
    eng, banks = seeded
    kw = dict(frames=40, seed=5, ground=False)
    salsa = generate(eng, style=SALSA, **kw).features
    again = generate(eng, style=SALSA, **kw).features
    modern = generate(eng, style=MODERN, **kw).features
    np.testing.assert_allclose(salsa, again, rtol=0, atol=ULP_NOISE)
    plain = generate(eng, style=SALSA, use_seed_history=False, **kw).features
    assert not np.allclose(salsa, plain)
    # the first frames continue from the picked bank's root height (1.0x vs 0.8x)
    assert salsa[0, 0] - modern[0, 0] > 0.1
    hiphop = generate(eng, style=HIPHOP, **kw).features
    hiphop_plain = generate(eng, style=HIPHOP, use_seed_history=False, **kw).features
    np.testing.assert_array_equal(hiphop, hiphop_plain)  # fallback: initial history
    assert initial_history(eng).shape == (8, 148)


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda s: s["salsa"][0].pop(), "must have 8 rows"),
        (lambda s: s["salsa"][1][3].pop(), "must have 148 values"),
        (lambda s: s.__setitem__("tango", s["salsa"]), "names no style category"),
        (lambda s: s.__setitem__("modern", []), "non-empty list"),
        (lambda s: s["modern"][0][0].__setitem__(2, "x"), "list of numbers"),
    ],
)
def test_bad_seed_histories_name_the_engine_file(mte, tmp_path, mutate, words):
    meta = mte.test_metadata()
    seeds = {k: v.tolist() for k, v in _banks(_rest(mte)).items()}
    mutate(seeds)
    meta["seed_histories"] = seeds
    path = mte.make_test_engine(tmp_path / "bad_seeds.onnx", metadata=meta)
    with pytest.raises(EngineError) as exc:
        load_engine(path, backend="cpu")
    msg = str(exc.value)
    assert msg.startswith("bad_seeds.onnx") and "seed_histories" in msg and words in msg


# ----------------------------------------------------------------------------------- grounding


def _sinking_clip(frames: int = 90) -> MotionClip:
    """Rest pose whose root drops 6 cm under standing height for 15 frames mid-clip (abrupt)."""
    skel = smpl24_skeleton()
    rot = np.zeros((frames, len(skel.names), 4))
    rot[..., 0] = 1.0
    pos0, _ = forward_kinematics(skel, rot[:1], np.zeros((1, 3)))
    # standing: the toe joints at their 5 cm clearance
    stand = 0.05 - pos0[0, [10, 11], 1].min()
    t = np.arange(frames)
    dip = np.where((t >= 40) & (t < 55), 0.06, 0.0)
    root = np.zeros((frames, 3))
    root[:, 1] = stand - dip
    root[:, 0] = 0.01 * t
    return MotionClip(skel, rot, root, 30.0, "sinking")


def test_grounding_removes_penetration_smoothly():
    clip = _sinking_clip()
    pos, _ = forward_kinematics(clip.skeleton, clip.rotations, clip.root_positions)
    before = floor_depth(clip.skeleton, pos)
    assert before.max() > 0.055
    grounded, lift = ground_clip(clip)
    pos2, _ = forward_kinematics(grounded.skeleton, grounded.rotations, grounded.root_positions)
    after = floor_depth(grounded.skeleton, pos2)
    assert after.max() < 0.003  # under 3 mm left (the acceptance bar is 2 cm)
    assert np.all(lift >= 0.0) and lift[:10].max() < 1e-3  # untouched far from the dip
    # no pop: lifting by the raw depth would undo the step with a step; the lift ramps in and out
    assert np.abs(np.diff(lift)).max() < 0.25 * np.abs(np.diff(before)).max()
    assert np.abs(np.diff(lift, n=3)).max() < 0.1 * np.abs(np.diff(before, n=3)).max()
    # only the root height moved
    np.testing.assert_array_equal(grounded.rotations, clip.rotations)
    np.testing.assert_allclose(grounded.root_positions[:, [0, 2]], clip.root_positions[:, [0, 2]])


def test_generate_grounds_by_default(seeded):
    eng, _ = seeded
    style = MODERN
    kw = dict(frames=120, style=style, seed=2)
    off = generate(eng, ground=False, **kw)
    on = generate(eng, **kw)
    depth = {}
    for key, res in (("off", off), ("on", on)):
        c = res.clip
        pos, _ = forward_kinematics(c.skeleton, c.rotations, c.root_positions)
        depth[key] = floor_depth(c.skeleton, pos).max()
    # the modern bank starts 20 cm low, so the ungrounded clip goes through the floor
    assert depth["off"] > 0.05
    assert depth["on"] < 0.005
    # features follow the clip's root height
    np.testing.assert_allclose(on.features[:, 0], on.clip.root_positions[:, 1], atol=1e-9)
    np.testing.assert_allclose(on.features[:, 1:], off.features[:, 1:])


# ----------------------------------------------------------------------------- seed descriptors


def _desc_engine(mte, tmp_path, desc: dict):
    meta = mte.test_metadata()
    meta["seed_histories"] = {k: v.tolist() for k, v in _banks(_rest(mte)).items()}
    meta["seed_descriptors"] = desc
    return mte.make_test_engine(tmp_path / "desc.onnx", metadata=meta)


def test_seed_descriptors_prefer_seeds_near_the_sliders(mte, tmp_path):
    # one descriptor axis (energy); salsa seed k has energy k / 3
    desc = {"salsa": [[0.0], [1 / 3], [2 / 3], [1.0]], "modern": [[0.5]] * 4}
    eng = load_engine(_desc_engine(mte, tmp_path, desc), backend="cpu")
    bank = eng.metadata.seed_histories["salsa"]
    np.testing.assert_allclose(eng.metadata.seed_descriptors["salsa"][:, 0], [0, 1 / 3, 2 / 3, 1])

    def picks(energy: float) -> np.ndarray:
        style = np.array([1.0, 0.0, 0.0, energy])
        out = []
        for seed in range(60):
            h = seed_history(eng, style, np.random.default_rng(seed))
            out.append(next(i for i, b in enumerate(bank) if np.array_equal(b, h)))
        return np.asarray(out)

    low, high = picks(0.0), picks(1.0)
    assert low.mean() < 0.6 and high.mean() > 2.4  # mostly the nearest seeds
    assert np.array_equal(picks(0.0), low)  # still deterministic per seed
    # equal descriptors (modern) -> every seed equally likely, like no descriptors
    style = np.array([0.0, 1.0, 0.0, 0.9])
    got = {seed_history(eng, style, np.random.default_rng(s))[0, 0] for s in range(40)}
    assert len(got) == 4
    eng.close()


@pytest.mark.parametrize(
    "desc, words",
    [
        ({"salsa": [[0.1]] * 3}, "one row per seed history"),
        ({"hiphop": [[0.1]] * 4}, "no matching 'seed_histories.hiphop'"),
        ({"salsa": [[0.1, 0.2]] * 4}, "must have 1 values"),
    ],
)
def test_bad_seed_descriptors_name_the_engine_file(mte, tmp_path, desc, words):
    with pytest.raises(EngineError) as exc:
        load_engine(_desc_engine(mte, tmp_path, desc), backend="cpu")
    msg = str(exc.value)
    assert msg.startswith("desc.onnx") and "seed_descriptors" in msg and words in msg


def test_descriptors_from_seed_take_the_picked_take_s_values():
    """On the shipped engine (real seed motions with their takes' descriptors): the seed's own
    values replace exactly the named descriptor axes, and the pick ignores those axes."""
    from pathlib import Path

    from dance_ai_addon.core.errors import DanceAIError
    from dance_ai_addon.core.style import style_vector

    path = Path(__file__).resolve().parents[2] / "dance_ai_addon" / "engines" / "default.onnx"
    with load_engine(path, backend="cpu", threads=1) as eng:
        meta = eng.metadata
        names = [a.name for a in meta.style_axes]
        d_idx = [i for i, a in enumerate(meta.style_axes) if a.kind == "descriptor"]
        bank = np.asarray(meta.seed_descriptors["modern"])
        style = style_vector(meta, {"modern": 1.0})
        plain = generate(eng, frames=30, style=style, seed=4)
        np.testing.assert_array_equal(plain.style, style)
        every = generate(eng, frames=30, style=style, seed=4, descriptors_from_seed=True)
        row = every.style[d_idx]
        assert np.min(np.abs(bank - row[None]).max(axis=1)) < 1e-9  # one take's values
        np.testing.assert_array_equal(every.style[:3], style[:3])  # categories untouched
        energy = generate(eng, frames=30, style=style, seed=4, descriptors_from_seed=["energy"])
        changed = np.flatnonzero(energy.style != style)
        assert set(changed) <= {names.index("energy")}
        seeds = {
            float(
                generate(eng, frames=8, style=style, seed=k, descriptors_from_seed=True).style[
                    names.index("energy")
                ]
            )
            for k in range(8)
        }
        assert len(seeds) > 2  # different seeds, different takes' characters
        with pytest.raises(DanceAIError, match="not a descriptor axis"):
            generate(eng, frames=8, style=style, seed=0, descriptors_from_seed=["modern"])
