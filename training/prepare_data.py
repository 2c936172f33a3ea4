"""Turn the real mocap into the training set on the canonical SMPL-24 skeleton.

``python -m training.prepare_data --out build/dataset.npz [--data-root ../shared/data/mocap]``

Per take: load the BVH -> ``detect_mapping`` -> ``to_canonical`` (our own retargeter, the code users
run) -> resample to 30 fps -> also mirrored left/right (augmentation) -> ``encode_clip`` features
(layout ``root_heading_v1``), world FK positions, continuous descriptors (centred 2 s window), and
a beat phase from the take's own kinematic beats (``training.beats``; both partners of a salsa
couple take share one tempo). The split is by take: a held-out take's mirror and, for salsa, its
partner's recording are held out too. Written with ``np.savez_compressed`` (no pickle); see
training/DATA.md for the files, their licences and the array layout.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dance_ai_addon.core.bvh import load_bvh_clip
from dance_ai_addon.core.clip import MotionClip, mirror_clip
from dance_ai_addon.core.engines.features import encode_clip
from dance_ai_addon.core.retarget import detect_mapping, to_canonical
from dance_ai_addon.core.skeleton import smpl24_mirror_indices, smpl24_skeleton

from .beats import beat_phase, estimate_shared_tempo
from .descriptors import (
    DEFAULT_WINDOW_S,
    DESCRIPTOR_NAMES,
    fit_descriptor_ranges,
    frame_descriptors,
    normalise_descriptors,
)
from .scene_takes import SCENE_SUFFIXES, scene_to_bvh

__all__ = ["STYLE_NAMES", "Take", "catalogue", "canonical_take", "build_dataset", "main"]

STYLE_NAMES: list[str] = ["salsa", "modern", "groove"]
FPS = 30.0
#: Where the BVH conversions of FBX/glTF takes are cached.
SCENE_CACHE = Path("build/scene_takes")

# (style, file name, held out?). Couples: 60_NN and 61_NN are the two partners of one take.
_SALSA = [f"{n:02d}" for n in range(1, 15) if n != 8]
_SALSA_HELDOUT = {"13", "14"}
_MODERN = [f"{n:02d}" for n in range(2, 21)]  # 05_01 is a walk: not a dance style, excluded
_MODERN_HELDOUT = {"06", "16"}


@dataclass
class Take:
    name: str  # e.g. "salsa_60_13"
    style: str
    file: str  # file name, found anywhere under the data root
    heldout: bool
    group: str  # takes sharing a group share one tempo (same music) and one split


def catalogue() -> list[Take]:
    """Every take used for training or evaluation, with its style and split."""
    takes: list[Take] = []
    for n in _SALSA:
        for subj in ("60", "61"):
            takes.append(
                Take(
                    f"salsa_{subj}_{n}",
                    "salsa",
                    f"cmu_{subj}_{n}_sl60.bvh",
                    n in _SALSA_HELDOUT,
                    f"salsa_{n}",
                )
            )
    for n in _MODERN:
        takes.append(
            Take(
                f"modern_05_{n}",
                "modern",
                f"cmu_05_{n}_ccbase60.bvh",
                n in _MODERN_HELDOUT,
                f"modern_{n}",
            )
        )
    groove = [
        ("groove_jesse_dance", "animateddrawings_jesse_dance_rokoko100.bvh", False),
        ("groove_dab", "animateddrawings_fair1_dab30.bvh", False),
        ("groove_131_01", "cmu_131_01_3dsmax120.bvh", False),
        ("groove_131_02", "cmu_131_02_3dsmax120.bvh", False),
        ("groove_131_03", "cmu_131_03_3dsmax120.bvh", True),
        # scene files, read through Blender's importers (training.scene_takes)
        ("groove_55_01_whirl", "cmu_55_01_mb120.fbx", False),
        ("groove_ymca", "mesh2motion_human-addon-animations_YMCA.glb", False),
    ]
    for name, f, held in groove:
        takes.append(Take(name, "groove", f, held, name))
    return takes


def find_file(root: Path, name: str) -> Path | None:
    """The file called ``name`` anywhere under ``root`` (style folders or a flat test folder)."""
    direct = root / name
    if direct.is_file():
        return direct
    hits = sorted(root.rglob(name))
    return hits[0] if hits else None


def canonical_take(path: Path, fps: float = FPS, scene_cache: Path = SCENE_CACHE) -> MotionClip:
    """Load a take (BVH, or FBX/glTF via Blender) onto the canonical SMPL-24 skeleton at ``fps``."""
    name = path.stem
    if path.suffix.lower() in SCENE_SUFFIXES:
        path = scene_to_bvh(path, scene_cache)
    clip = load_bvh_clip(path)
    mapping = detect_mapping(clip.skeleton.names, clip.skeleton.parents)
    canon = to_canonical(clip, mapping)
    if abs(canon.fps - fps) > 1e-6:
        canon = canon.resample(fps)
    canon.name = name
    return canon


def _positions(clip: MotionClip) -> np.ndarray:
    pos, _ = clip.world()
    return pos


def build_dataset(
    data_root: Path,
    takes: list[Take] | None = None,
    fps: float = FPS,
    log=print,
) -> dict[str, np.ndarray]:
    """All arrays of the dataset (see training/DATA.md), ready for ``np.savez_compressed``."""
    takes = catalogue() if takes is None else takes
    perm = smpl24_mirror_indices()
    # 1) canonical clips, grouped so couples share one tempo
    loaded: list[tuple[Take, Path, MotionClip, np.ndarray]] = []
    for tk in takes:
        path = find_file(data_root, tk.file)
        if path is None:
            log(f"  skip {tk.name}: {tk.file} not found under {data_root}")
            continue
        t0 = time.perf_counter()
        canon = canonical_take(path, fps)
        loaded.append((tk, path, canon, _positions(canon)))
        log(f"  {tk.name:22s} {canon.n_frames:5d} frames  {time.perf_counter() - t0:5.2f} s")
    if not loaded:
        raise SystemExit(f"no takes found under {data_root}")
    tempo: dict[str, tuple[float, float]] = {}
    groups: dict[str, list[int]] = {}
    for i, (tk, *_rest) in enumerate(loaded):
        groups.setdefault(tk.group, []).append(i)
    for _g, idx in groups.items():
        bpm, offsets, _ = estimate_shared_tempo([loaded[i][3] for i in idx], fps)
        for i, off in zip(idx, offsets):
            tempo[loaded[i][0].name] = (bpm, off)

    # 2) per take and its mirror: features, positions, descriptors, beat phase
    feats, poss, tids, phases, descs = [], [], [], [], []
    t_names, t_style, t_split, t_mirr, t_bpm, t_src, t_start, t_len = ([] for _ in range(8))
    n_total = 0
    for tk, path, canon, pos in loaded:
        bpm, off = tempo[tk.name]
        for mirrored in (False, True):
            clip = mirror_clip(canon, perm) if mirrored else canon
            p = _positions(clip) if mirrored else pos
            n = clip.n_frames
            tid = len(t_names)
            feats.append(encode_clip(clip).astype(np.float32))
            poss.append(p.astype(np.float32))
            tids.append(np.full(n, tid, dtype=np.int32))
            phases.append(beat_phase(n, fps, bpm, off))
            descs.append(frame_descriptors(p, fps, DEFAULT_WINDOW_S))
            t_names.append(tk.name + ("_mirror" if mirrored else ""))
            t_style.append(STYLE_NAMES.index(tk.style))
            t_split.append("heldout" if tk.heldout else "train")
            t_mirr.append(mirrored)
            t_bpm.append(bpm)
            t_src.append(str(path.relative_to(data_root)))
            t_start.append(n_total)
            t_len.append(n)
            n_total += n
    take_id = np.concatenate(tids)
    split = np.array(t_split)
    raw = np.concatenate(descs)
    train_rows = split[take_id] == "train"
    ranges = fit_descriptor_ranges(raw[train_rows] if train_rows.any() else raw)
    sk = smpl24_skeleton()
    return {
        "features": np.concatenate(feats),
        "positions": np.concatenate(poss),
        "take_id": take_id,
        "beat_phase": np.concatenate(phases).astype(np.float32),
        "descriptors": normalise_descriptors(raw, ranges).astype(np.float32),
        "descriptors_raw": raw.astype(np.float32),
        "descriptor_ranges": ranges.astype(np.float32),
        "descriptor_names": np.array(DESCRIPTOR_NAMES),
        "descriptor_window_s": np.float32(DEFAULT_WINDOW_S),
        "take_names": np.array(t_names),
        "take_style": np.array(t_style, dtype=np.int32),
        "take_split": split,
        "take_mirrored": np.array(t_mirr, dtype=bool),
        "take_bpm": np.array(t_bpm, dtype=np.float32),
        "take_source_file": np.array(t_src),
        "take_start": np.array(t_start, dtype=np.int64),
        "take_length": np.array(t_len, dtype=np.int64),
        "style_names": np.array(STYLE_NAMES),
        "fps": np.float32(fps),
        "feature_layout": np.array("root_heading_v1"),
        "joint_names": np.array(sk.names),
        "joint_parents": sk.parents.astype(np.int32),
        "joint_offsets": sk.offsets.astype(np.float32),
    }


def base_take(name: str) -> str:
    """The take a (possibly mirrored) entry comes from: 'salsa_60_13_mirror' -> 'salsa_60_13'."""
    return re.sub(r"_mirror$", "", str(name))


def summary(data: dict[str, np.ndarray]) -> str:
    """Frames and seconds per style and split, plus the tempo range per style."""
    fps = float(data["fps"])
    tid = data["take_id"]
    lines = [f"{'style':8s} {'split':8s} {'takes':>5s} {'frames':>7s} {'minutes':>7s}  bpm range"]
    counts = np.bincount(tid, minlength=len(data["take_names"]))
    for s, sname in enumerate(data["style_names"]):
        for split in ("train", "heldout"):
            sel = (data["take_style"] == s) & (data["take_split"] == split)
            if not sel.any():
                continue
            fr = int(counts[sel].sum())
            bpm = data["take_bpm"][sel]
            lines.append(
                f"{sname:8s} {split:8s} {int(sel.sum()):5d} {fr:7d} {fr / fps / 60:7.2f}  "
                f"{bpm.min():.0f}-{bpm.max():.0f}"
            )
    n = len(tid)
    lines.append(
        f"total {n} frames ({n / fps / 60:.1f} min incl. mirrors), F = "
        f"{data['features'].shape[1]}, {len(data['take_names'])} takes incl. mirrors"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/dataset.npz")
    ap.add_argument("--data-root", default="../shared/data/mocap")
    ap.add_argument(
        "--takes", default="*", help="comma-separated globs on take names, e.g. 'groove_*'"
    )
    ap.add_argument("--fps", type=float, default=FPS)
    ap.add_argument(
        "--no-scene-takes",
        action="store_true",
        help="leave out the FBX/glTF takes (the data of recipes before v15)",
    )
    args = ap.parse_args(argv)
    root = Path(args.data_root)
    if not root.is_dir():
        print(f"data root {root} is not a folder; pass --data-root", file=sys.stderr)
        return 2
    pats = [p.strip() for p in args.takes.split(",") if p.strip()]
    takes = [t for t in catalogue() if any(fnmatch.fnmatch(t.name, p) for p in pats)]
    if args.no_scene_takes:
        takes = [t for t in takes if Path(t.file).suffix.lower() not in SCENE_SUFFIXES]
    t0 = time.perf_counter()
    data = build_dataset(root, takes, args.fps)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **data)
    print(summary(data))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
