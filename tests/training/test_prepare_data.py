"""prepare_data on real takes from tests/data: array shapes, dtypes, split by take."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dance_ai_addon.core.engines.features import decode_features, feature_size
from dance_ai_addon.core.skeleton import smpl24_skeleton
from training.prepare_data import base_take, catalogue, main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_dataset_arrays_and_split(tmp_path: Path) -> None:
    # the dab (a groove training take) and CMU 131_03 (the held-out groove take)
    takes = [t for t in catalogue() if t.name in ("groove_dab", "groove_131_03")]
    out = tmp_path / "ds.npz"
    assert (
        main(["--out", str(out), "--data-root", str(DATA), "--takes", "groove_dab,groove_131_03"])
        == 0
    )
    d = np.load(out, allow_pickle=False)
    n = d["features"].shape[0]
    assert d["features"].shape == (n, feature_size(24)) and d["features"].dtype == np.float32
    assert d["positions"].shape == (n, 24, 3) and d["positions"].dtype == np.float32
    assert d["take_id"].shape == (n,) and d["take_id"].dtype == np.int32
    ph = d["beat_phase"]
    assert ph.shape == (n,) and ph.dtype == np.float32 and ph.min() >= 0 and ph.max() < 1
    assert d["descriptors"].shape == (n, len(d["descriptor_names"])) == (n, 5)
    assert d["descriptors"].min() >= 0.0 and d["descriptors"].max() <= 1.0
    assert np.isfinite(d["features"]).all() and np.isfinite(d["positions"]).all()
    names = list(d["take_names"])
    assert sorted(names) == sorted([t.name for t in takes] + [t.name + "_mirror" for t in takes])
    assert list(d["style_names"]) == ["salsa", "modern", "groove"]
    assert set(d["take_style"]) == {2}
    assert d["take_mirrored"].sum() == 2
    # 30 fps: the dab is 339 frames at 30 fps, 131_03 1102 frames at 120 fps -> 276
    lengths = dict(zip(names, d["take_length"]))
    assert lengths["groove_dab"] == 339 and lengths["groove_131_03"] == 276
    assert np.array_equal(np.bincount(d["take_id"]), d["take_length"])
    # split by take: no base take (original or mirror) on both sides
    split = dict(zip(names, d["take_split"]))
    sides: dict[str, set] = {}
    for name in names:
        sides.setdefault(base_take(name), set()).add(split[name])
    assert all(len(s) == 1 for s in sides.values())
    assert split["groove_131_03"] == split["groove_131_03_mirror"] == "heldout"
    assert split["groove_dab"] == "train"
    # the mirror is the left-right mirror image of the take: pelvis x negated
    i, j = names.index("groove_dab"), names.index("groove_dab_mirror")
    a = d["positions"][d["take_start"][i] : d["take_start"][i] + d["take_length"][i]]
    b = d["positions"][d["take_start"][j] : d["take_start"][j] + d["take_length"][j]]
    assert np.allclose(a[:, 0, 0], -b[:, 0, 0], atol=1e-4)
    assert np.allclose(a[:, 0, 1:], b[:, 0, 1:], atol=1e-4)
    # features decode back to the stored positions (same start point and heading)
    s, ln = d["take_start"][i], d["take_length"][i]
    clip = decode_features(d["features"][s : s + ln], smpl24_skeleton(), 30.0)
    pos = clip.world()[0]
    rel = pos - pos[:, :1]
    ref = a - a[:, :1]
    # equal up to the start position and heading: compare yaw-invariant quantities
    assert np.allclose(rel[..., 1], ref[..., 1], atol=1e-3)
    assert np.allclose(
        np.linalg.norm(rel[..., [0, 2]], axis=-1),
        np.linalg.norm(ref[..., [0, 2]], axis=-1),
        atol=1e-3,
    )
    assert np.allclose(pos[:, 0, 1], a[:, 0, 1], atol=1e-4)  # root height channel
    step = np.linalg.norm(np.diff(pos[:, 0, [0, 2]], axis=0), axis=-1)
    step_ref = np.linalg.norm(np.diff(a[:, 0, [0, 2]], axis=0), axis=-1)
    assert np.allclose(step, step_ref, atol=1e-4)
    assert d["take_bpm"].min() >= 60.0 and d["take_bpm"].max() <= 180.0


def test_catalogue_split_rules() -> None:
    takes = catalogue()
    by = {t.name: t for t in takes}
    assert len([t for t in takes if t.style == "salsa"]) == 26
    assert len([t for t in takes if t.style == "modern"]) == 19
    assert "modern_05_01" not in by  # the walk is not a dance
    for n in ("13", "14"):  # both partners of a held-out couple take are held out together
        assert by[f"salsa_60_{n}"].heldout and by[f"salsa_61_{n}"].heldout
    for t in takes:
        if t.style == "salsa":
            partner = by[
                t.name.replace("_60_", "_61_")
                if "_60_" in t.name
                else t.name.replace("_61_", "_60_")
            ]
            assert partner.heldout == t.heldout and partner.group == t.group
    assert sum(t.heldout for t in takes if t.style == "modern") == 2
    assert sum(t.heldout for t in takes if t.style == "groove") == 1
