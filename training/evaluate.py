"""Quality report of an engine against the held-out real takes (issue 6 acceptance numbers).

``python -m training.evaluate --engine dance_ai_addon/engines/default.onnx
--dataset build/dataset.npz --out docs/quality``

Runs the engine through the real runtime (``load_engine`` + ``core.generation.generate``), then
measures with ``training.metrics`` on SMPL-24 world positions at 30 fps:

- stability: ``--minutes`` (5) of continuous generation per style (seed 1000); NaN check and the
  mean bone angular speed of every minute vs all real takes of that style (0.5x-1.5x; the ratio
  to the held-out takes alone is in the bar's note); the same at ``--long-run-seeds`` is
  reported beside it, since a slow runaway shows at some seeds and not others;
- foot skating (<= real + 20 %; measured on the runtime's output, which pins planted feet, and
  reported before that cleanup too), floor penetration (<= 2 cm), mean squared jerk (<= real),
  diversity (>= 50 % of real), style classifier (>= 80 %), FID_k (reported), all on
  ``--seeds`` x styles x ``--seconds`` clips;
- descriptor sliders: each descriptor axis swept over 5 values x the styles, with
  ``--sweep-seed-sets`` (3) sets of seeds pooled; correlation of slider and the measured
  (normalised) descriptor (>= 0.8), also reported per seed set;
- beat alignment: clips conditioned on 90/110/128 BPM, BAS against the requested grid vs the real
  held-out takes' BAS against their own estimated tempo; measured on what users get (the runtime
  retimes the motion onto the beat, ``core.beat_lock``) and reported without that beat lock too.

Writes report.json (every number, each bar with its threshold and pass/fail), report.md (a short
table) and PNG plots (matplotlib, Agg) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .beats import beat_frames, kinematic_beats, mean_joint_speed, smooth_gaussian
from .descriptors import clip_descriptors, normalise_descriptors
from .metrics import (
    StyleClassifier,
    angular_speed_per_minute,
    bone_angular_speed,
    clip_beat_alignment,
    descriptor_correlation,
    diversity,
    fid_k,
    floor_penetration,
    foot_skating,
    frechet_distance,
    geometric_features,
    kinetic_features,
    mean_squared_jerk,
    nan_check,
    real_beat_alignment,
    segment,
    window_features,
)
from .prepare_data import base_take

FPS = 30.0
WIN = 120  # 4 s windows for classifier, diversity and FID
STABILITY_SEED = 1000  # the stability bar's long runs (one per style)
SLIDER_VALUES = (0.1, 0.3, 0.5, 0.7, 0.9)
# Each sweep seed set is 5 slider values x the styles (15 clips for 3 styles). One set decides
# by luck: on the same engine the energy correlation ranged 0.60-0.70 over six sets and travel
# 0.36-0.84, so the bar pools several sets (seeds 200.., 1200.., 2200..).
SWEEP_SEED_STRIDE = 1000


class RealSet:
    """Per-take world positions of the dataset (original and mirrored)."""

    def __init__(self, path: Path) -> None:
        d = np.load(path, allow_pickle=False)
        self.style_names = [str(s) for s in d["style_names"]]
        self.descriptor_names = [str(s) for s in d["descriptor_names"]]
        self.ranges = d["descriptor_ranges"].astype(np.float64)
        self.fps = float(d["fps"])
        self.takes = []
        pos = d["positions"]
        for i, name in enumerate(d["take_names"]):
            s, n = int(d["take_start"][i]), int(d["take_length"][i])
            self.takes.append(
                {
                    "name": str(name),
                    "base": base_take(str(name)),
                    "style": int(d["take_style"][i]),
                    "split": str(d["take_split"][i]),
                    "mirrored": bool(d["take_mirrored"][i]),
                    "pos": pos[s : s + n].astype(np.float64),
                }
            )

    def select(self, split: str | None = None, style: int | None = None, mirrored=None):
        return [
            t
            for t in self.takes
            if (split is None or t["split"] == split)
            and (style is None or t["style"] == style)
            and (mirrored is None or t["mirrored"] == mirrored)
        ]


def style_speed(real: RealSet, style: int, split: str | None = None) -> float:
    """Mean bone angular speed (rad/s) of a style's real takes in ``split`` (None: all takes).

    All takes are the stability bar's reference: the bar asks for "the real data's" speed, and
    modern's two held-out takes move at 3.6-3.8 rad/s against 0.6-3.3 (mean 1.75) for its 17
    other takes, so they alone are not the style's speed.
    """
    takes = real.select(split, style)
    return float(np.concatenate([bone_angular_speed(t["pos"], FPS) for t in takes]).mean())


def long_run_ratios(
    gen: Generator,
    real: RealSet,
    styles: list[str],
    seeds: list[int],
    frames: int,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Per style and seed, each minute's bone angular speed over the style's real takes' speed.

    The stability bar runs one seed per style; a slow runaway has shown up at some seeds and
    not others, so the report (reported only) and ``training.longrun`` look at several.
    """
    out: dict = {}
    for s in styles:
        ref = style_speed(real, real.style_names.index(s))
        runs = {}
        for seed in seeds:
            ratio = angular_speed_per_minute(gen.run(s, frames, seed=seed), FPS) / ref
            runs[int(seed)] = [round(float(r), 2) for r in ratio]
            if log is not None:
                log(f"{s:8s} seed {seed}: {' '.join(f'{r:.2f}' for r in ratio)}")
        out[s] = {"runs": runs, **_span(runs)}
    return out


def _span(runs: dict) -> dict:
    """The lowest and highest per-minute ratio over ``runs`` (NaN when there are none)."""
    flat = [v for r in runs.values() for v in r]
    return {"min": min(flat, default=float("nan")), "max": max(flat, default=float("nan"))}


def _windows(pos: np.ndarray, hop: int = WIN) -> np.ndarray:
    segs = segment(len(pos), WIN, hop)
    return (
        np.stack([window_features(pos[a:b], FPS) for a, b in segs]) if segs else np.zeros((0, 104))
    )


def _kin_windows(pos: np.ndarray) -> np.ndarray:
    segs = segment(len(pos), WIN)
    return (
        np.stack([kinetic_features(pos[a:b], FPS) for a, b in segs]) if segs else np.zeros((0, 72))
    )


def _geo_windows(pos: np.ndarray) -> np.ndarray:
    segs = segment(len(pos), WIN)
    return np.stack([geometric_features(pos[a:b]) for a, b in segs]) if segs else np.zeros((0, 32))


def _bar(value: float, threshold: float, op: str, note: str = "") -> dict:
    ok = bool(np.isfinite(value)) and (value <= threshold if op == "<=" else value >= threshold)
    return {
        "value": float(value),
        "threshold": float(threshold),
        "op": op,
        "pass": ok,
        "note": note,
    }


class Generator:
    """Thin wrapper over the runtime: positions (T, 24, 3) at 30 fps for a style request."""

    def __init__(
        self,
        engine_path: Path,
        threads: int | None,
        descriptors_from_seed: bool = False,
        seed_variety: float = 1.0,
        variety: float | None = None,
    ) -> None:
        from dance_ai_addon.core.engines import load_engine

        self.engine = load_engine(engine_path, backend="cpu", threads=threads)
        self.meta = self.engine.metadata
        # False (what the panel and the CLI do): every clip aims at the preset's descriptor
        # values; True (an experiment): descriptors the request leaves alone come from the seed
        # motion picked for the clip, i.e. its take's own character
        self.descriptors_from_seed = descriptors_from_seed
        self.seed_variety = seed_variety  # with descriptors_from_seed: how far toward the seed's
        # core.generation.character_drift; None: the engine's recommendation, as users get it
        self.variety = variety
        self.descriptor_axes = [a.name for a in self.meta.style_axes if a.kind == "descriptor"]
        self.calls = 0
        self.frames = 0
        self.seconds = 0.0

    def run(
        self,
        style: str,
        frames: int,
        seed: int,
        bpm=None,
        raw=None,
        foot_cleanup=None,
        beat_lock=None,
    ) -> np.ndarray:
        from dance_ai_addon.core.generation import generate
        from dance_ai_addon.core.style import style_vector

        vec = style_vector(self.meta, {style: 1.0}, raw=raw)
        n = int(round(frames * self.meta.fps / FPS))
        from_seed = []
        if self.descriptors_from_seed:
            from_seed = [a for a in self.descriptor_axes if a not in (raw or {})]
        t0 = time.perf_counter()
        res = generate(
            self.engine,
            frames=n,
            style=vec,
            seed=int(seed),
            bpm=bpm,
            foot_cleanup=foot_cleanup,
            beat_lock=beat_lock,
            descriptors_from_seed=from_seed,
            seed_variety=self.seed_variety,
            variety=self.variety,
        )
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        self.frames += n
        clip = res.clip
        if abs(clip.fps - FPS) > 1e-6:
            clip = clip.resample(FPS)
        return clip.world()[0]


def evaluate(args: argparse.Namespace) -> dict:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    real = RealSet(args.dataset)
    gen = Generator(
        args.engine, args.threads, args.descriptors_from_seed, args.seed_variety, args.variety
    )
    from dance_ai_addon.core.style import known_style_names

    known = known_style_names(gen.meta)
    styles = [s for s in real.style_names if s in known]
    if not styles:
        raise SystemExit(f"the engine knows none of the dataset's styles {real.style_names}")
    desc_axes = [
        a.name
        for a in gen.meta.style_axes
        if a.kind == "descriptor" and a.name in real.descriptor_names
    ]
    sidx = {s: real.style_names.index(s) for s in styles}
    report: dict = {
        "engine": str(args.engine),
        "engine_name": gen.meta.name,
        "engine_version": gen.meta.version,
        "dataset": str(args.dataset),
        "styles": styles,
        "settings": {
            "fps": FPS,
            "stability_minutes": args.minutes,
            "seeds": args.seeds,
            "clip_seconds": args.seconds,
            "bpms": list(args.bpms),
            "window_frames": WIN,
            "descriptors_from_seed": gen.descriptors_from_seed,
            "variety": gen.meta.recommended_variety if gen.variety is None else gen.variety,
            "sweep_seed_sets": args.sweep_seed_sets,
        },
    }

    # ---- real references (held-out takes) --------------------------------------------------
    t0 = time.perf_counter()
    held = real.select("heldout")
    real_ref: dict = {"per_style": {}}
    for s in styles:
        takes = real.select("heldout", sidx[s])
        cat = [t["pos"] for t in takes]
        real_ref["per_style"][s] = {
            "takes": [t["name"] for t in takes],
            "angular_speed": style_speed(real, sidx[s], "heldout"),
            "angular_speed_all_takes": style_speed(real, sidx[s]),  # the stability reference
            "foot_skating_cm_s": float(np.mean([foot_skating(p, FPS)["mean_cm_s"] for p in cat])),
            "jerk": float(np.mean([mean_squared_jerk(p, FPS) for p in cat])),
        }
    originals = [t for t in held if not t["mirrored"]]
    real_ref["foot_skating_cm_s"] = float(
        np.mean([foot_skating(t["pos"], FPS)["mean_cm_s"] for t in held])
    )
    real_ref["floor_penetration_max_cm"] = float(
        max(floor_penetration(t["pos"])["max_cm"] for t in held)
    )
    real_ref["jerk"] = float(np.mean([mean_squared_jerk(t["pos"], FPS) for t in held]))
    bas = [real_beat_alignment(t["pos"], FPS) for t in originals]
    real_ref["beat_alignment"] = float(np.mean([b for b, _ in bas]))
    real_ref["beat_alignment_takes"] = {
        t["name"]: {"bas": b, "bpm": bpm} for t, (b, bpm) in zip(originals, bas)
    }
    # diversity reference: windows of all real original takes, pairs from different takes
    all_orig = [t for t in real.takes if not t["mirrored"] and t["style"] in sidx.values()]
    ref_feats = np.concatenate([_windows(t["pos"]) for t in all_orig])
    div_real = {}
    for s in styles:
        ts = [t for t in all_orig if t["style"] == sidx[s]]
        f = [(_windows(t["pos"]), k) for k, t in enumerate(ts)]
        x = np.concatenate([a for a, _ in f])
        g = np.concatenate([np.full(len(a), k) for a, k in f])
        div_real[s] = diversity(x, ref_feats, g)
    real_ref["diversity"] = div_real
    # classifier on train real windows (hop 1 s), evaluated on held-out real
    xs, ys = [], []
    for t in real.select("train"):
        if t["style"] in sidx.values():
            w = _windows(t["pos"], hop=30)
            xs.append(w)
            ys.append(np.full(len(w), t["style"]))
    clf = StyleClassifier().fit(np.concatenate(xs), np.concatenate(ys), len(real.style_names))
    win_ok, win_n, clip_ok = 0, 0, 0
    for t in held:
        if t["style"] not in sidx.values():
            continue
        w = _windows(t["pos"], hop=30)
        win_ok += int((clf.predict(w) == t["style"]).sum())
        win_n += len(w)
        clip_ok += int(clf.predict_clip(w) == t["style"])
    real_ref["classifier_heldout_window_accuracy"] = win_ok / max(win_n, 1)
    real_ref["classifier_heldout_clip_accuracy"] = clip_ok / max(
        1, sum(t["style"] in sidx.values() for t in held)
    )
    real_kin = np.concatenate([_kin_windows(t["pos"]) for t in held])
    real_geo = np.concatenate([_geo_windows(t["pos"]) for t in held])
    report["real"] = real_ref
    timings["real_reference_s"] = time.perf_counter() - t0

    # ---- stability: long continuous generation per style -----------------------------------
    t0 = time.perf_counter()
    stab: dict = {}
    stab_curves = {}
    long_frames = int(args.minutes * 60 * FPS)
    for s in styles:
        p = gen.run(s, long_frames, seed=STABILITY_SEED)
        nc = nan_check(p)
        if nc["finite"]:
            per_min = angular_speed_per_minute(p, FPS)
            ratio = per_min / real_ref["per_style"][s]["angular_speed_all_takes"]
            ratio_held = per_min / real_ref["per_style"][s]["angular_speed"]
            stab_curves[s] = bone_angular_speed(p, FPS)
        else:
            per_min = ratio = ratio_held = np.array([np.nan])
        stab[s] = {
            **nc,
            "angular_speed_per_minute": per_min.tolist(),
            "ratio_vs_real": ratio.tolist(),
            "ratio_vs_heldout": ratio_held.tolist(),
            "foot_skating_cm_s": foot_skating(p, FPS)["mean_cm_s"] if nc["finite"] else None,
        }
    report["stability"] = stab
    # more seeds, reported only: the bar's one seed per style can miss a slow runaway
    more = long_run_ratios(gen, real, styles, args.long_run_seeds, long_frames)
    for s in styles:
        if stab[s]["finite"]:
            more[s]["runs"][STABILITY_SEED] = [round(float(r), 2) for r in stab[s]["ratio_vs_real"]]
            more[s].update(_span(more[s]["runs"]))
    report["long_runs"] = more
    timings["stability_s"] = time.perf_counter() - t0

    # ---- seeds x styles clips ---------------------------------------------------------------
    t0 = time.perf_counter()
    clip_frames = int(args.seconds * FPS)
    clips: dict[str, list[np.ndarray]] = {s: [] for s in styles}
    for s in styles:
        for k in range(args.seeds):
            clips[s].append(gen.run(s, clip_frames, seed=k))
    allc = [p for s in styles for p in clips[s]]
    finite = all(nan_check(p)["finite"] for p in allc)
    g: dict = {"finite": finite, "per_style": {}}
    skate = [foot_skating(p, FPS)["mean_cm_s"] for p in allc]
    g["foot_skating_cm_s"] = float(np.mean(skate))
    # the same clips without the runtime's foot cleanup: what the network itself does
    g["foot_skating_network_cm_s"] = float(
        np.mean(
            [
                foot_skating(gen.run(s, clip_frames, seed=k, foot_cleanup=False), FPS)["mean_cm_s"]
                for s in styles
                for k in range(args.seeds)
            ]
        )
    )
    g["floor_penetration_max_cm"] = float(max(floor_penetration(p)["max_cm"] for p in allc))
    g["floor_penetration_p99_cm"] = float(np.max([floor_penetration(p)["p99_cm"] for p in allc]))
    g["jerk"] = float(np.mean([mean_squared_jerk(p, FPS) for p in allc]))
    div_gen, cls_clip, cls_win, cls_n = {}, 0, 0, 0
    for s in styles:
        f = [(_windows(p), k) for k, p in enumerate(clips[s])]
        x = np.concatenate([a for a, _ in f])
        grp = np.concatenate([np.full(len(a), k) for a, k in f])
        div_gen[s] = diversity(x, ref_feats, grp)
        labels = []
        for a, _ in f:
            labels.append(real.style_names[int(clf.predict_clip(a))])
            cls_clip += int(labels[-1] == s)
            cls_win += int((clf.predict(a) == sidx[s]).sum())
            cls_n += len(a)
        g["per_style"][s] = {
            "foot_skating_cm_s": float(
                np.mean([foot_skating(p, FPS)["mean_cm_s"] for p in clips[s]])
            ),
            "jerk": float(np.mean([mean_squared_jerk(p, FPS) for p in clips[s]])),
            "angular_speed": float(np.mean([bone_angular_speed(p, FPS).mean() for p in clips[s]])),
            "classified_as": labels,
            "descriptors": normalise_descriptors(
                np.mean([clip_descriptors(p, FPS) for p in clips[s]], axis=0), real.ranges
            ).tolist(),
        }
    g["diversity"] = div_gen
    g["diversity_ratio"] = {s: div_gen[s] / div_real[s] for s in styles}
    g["classifier_clip_accuracy"] = cls_clip / len(allc)
    g["classifier_window_accuracy"] = cls_win / max(cls_n, 1)
    gk = np.concatenate([_kin_windows(p) for p in allc])
    gg = np.concatenate([_geo_windows(p) for p in allc])
    g["fid_k"] = fid_k(gk, real_kin)
    mu, sd = real_geo.mean(0), real_geo.std(0) + 1e-8
    g["fid_g"] = frechet_distance((gg - mu) / sd, (real_geo - mu) / sd)
    timings["clips_s"] = time.perf_counter() - t0

    # ---- descriptor slider sweeps -----------------------------------------------------------
    t0 = time.perf_counter()
    sweep: dict = {}
    sweep_frames = int(args.sweep_seconds * FPS)
    for a in desc_axes:
        j = real.descriptor_names.index(a)
        xs_, ys_, per_set = [], [], []
        for offset in range(0, SWEEP_SEED_STRIDE * args.sweep_seed_sets, SWEEP_SEED_STRIDE):
            set_x, set_y = [], []
            for k, v in enumerate(SLIDER_VALUES):
                for s_i, s in enumerate(styles):
                    p = gen.run(s, sweep_frames, seed=offset + 200 + 10 * k + s_i, raw={a: v})
                    m = normalise_descriptors(clip_descriptors(p, FPS), real.ranges)[j]
                    set_x.append(v)
                    set_y.append(float(m))
            per_set.append(descriptor_correlation(set_x, set_y))
            xs_ += set_x
            ys_ += set_y
        sweep[a] = {
            "slider": xs_,
            "measured": ys_,
            "correlation": descriptor_correlation(xs_, ys_),
            "correlation_per_seed_set": per_set,
        }
    report["descriptor_sweeps"] = sweep
    timings["sweeps_s"] = time.perf_counter() - t0

    # ---- beat alignment ---------------------------------------------------------------------
    t0 = time.perf_counter()
    beat: dict = {}
    beat_network: dict = {}
    beat_example = None
    if gen.meta.beat_input:
        for bpm in args.bpms:
            vals, raw_vals = [], []
            for s_i, s in enumerate(styles):
                p = gen.run(s, clip_frames, seed=300 + s_i, bpm=float(bpm))
                vals.append(clip_beat_alignment(p, FPS, float(bpm), 0.0))
                if beat_example is None and bpm == max(args.bpms):
                    beat_example = (s, float(bpm), p)
                # the network's own timing: the same clip without the runtime's beat lock
                p = gen.run(s, clip_frames, seed=300 + s_i, bpm=float(bpm), beat_lock=0.0)
                raw_vals.append(clip_beat_alignment(p, FPS, float(bpm), 0.0))
            beat[str(bpm)] = float(np.mean(vals))
            beat_network[str(bpm)] = float(np.mean(raw_vals))
        g["beat_alignment"] = float(np.mean(list(beat.values())))
        g["beat_alignment_network"] = float(np.mean(list(beat_network.values())))
    else:
        g["beat_alignment"] = g["beat_alignment_network"] = float("nan")
    g["beat_alignment_per_bpm"] = beat
    g["beat_alignment_network_per_bpm"] = beat_network
    timings["beat_s"] = time.perf_counter() - t0
    report["generated"] = g

    # ---- bars ---------------------------------------------------------------------------------
    ratios = [r for s in styles for r in stab[s]["ratio_vs_real"]]
    held = [r for s in styles for r in stab[s]["ratio_vs_heldout"]]
    held_note = f"vs all real takes (vs held-out only: {np.nanmin(held):.2f}-{np.nanmax(held):.2f})"
    bars = {
        "stability_no_nan": _bar(float(all(stab[s]["finite"] for s in styles)), 1.0, ">="),
        "stability_angular_speed_ratio_min": _bar(float(np.nanmin(ratios)), 0.5, ">=", held_note),
        "stability_angular_speed_ratio_max": _bar(float(np.nanmax(ratios)), 1.5, "<=", held_note),
        "foot_skating_cm_s": _bar(
            g["foot_skating_cm_s"], 1.2 * real_ref["foot_skating_cm_s"], "<=", "real + 20 %"
        ),
        "floor_penetration_cm": _bar(g["floor_penetration_max_cm"], 2.0, "<="),
        "mean_squared_jerk": _bar(g["jerk"], real_ref["jerk"], "<=", "<= real held-out"),
        "diversity_ratio_min": _bar(min(g["diversity_ratio"].values()), 0.5, ">=", "per style"),
        "style_classifier_accuracy": _bar(g["classifier_clip_accuracy"], 0.8, ">="),
        "beat_alignment": _bar(g["beat_alignment"], real_ref["beat_alignment"], ">=", "vs real"),
    }
    for a, sw in sweep.items():
        sets = sw["correlation_per_seed_set"]
        note = f"{len(sets)} seed sets pooled (each {min(sets):.2f}-{max(sets):.2f})"
        bars[f"descriptor_correlation_{a}"] = _bar(sw["correlation"], 0.8, ">=", note)
    report["bars"] = bars
    report["reported_only"] = {
        "fid_k": g["fid_k"],
        "fid_g": g["fid_g"],
        "foot_skating_network_cm_s": g["foot_skating_network_cm_s"],
        "beat_alignment_network": g["beat_alignment_network"],
        "long_run_ratio_min": float(np.nanmin([r["min"] for r in more.values()])),
        "long_run_ratio_max": float(np.nanmax([r["max"] for r in more.values()])),
        "long_run_seeds": [STABILITY_SEED, *args.long_run_seeds],
    }
    report["all_pass"] = all(b["pass"] for b in bars.values())
    timings["generation_s"] = gen.seconds
    timings["generated_frames"] = gen.frames
    timings["total_s"] = time.perf_counter() - t_start
    report["timings"] = timings

    # ---- plots --------------------------------------------------------------------------------
    _plots(args.out, report, stab_curves, real_ref, sweep, beat_example)
    return report


def _plots(out: Path, report: dict, curves: dict, real_ref: dict, sweep: dict, example) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for k, (s, w) in enumerate(curves.items()):
        per_s = smooth_gaussian(w, FPS * 2.0)
        t = np.arange(len(per_s)) / FPS / 60.0
        ax.plot(t, per_s, color=f"C{k}", lw=1, label=f"{s} (generated)")
        ref = real_ref["per_style"][s]["angular_speed_all_takes"]
        ax.axhline(ref, color=f"C{k}", ls="--", lw=1)
    ax.set_xlabel("minutes")
    ax.set_ylabel("mean bone angular speed (rad/s)")
    ax.set_title("Stability: continuous generation per style (dashed: all real takes' mean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "stability.png", dpi=100)
    plt.close(fig)

    if sweep:
        fig, axs = plt.subplots(1, len(sweep), figsize=(3 * len(sweep), 3), squeeze=False)
        for ax, (a, sw) in zip(axs[0], sweep.items()):
            ax.scatter(sw["slider"], sw["measured"], s=12)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
            ax.set_title(f"{a}  r={sw['correlation']:.2f}", fontsize=9)
            ax.set_xlabel("slider")
            ax.set_ylim(-0.05, 1.05)
        axs[0][0].set_ylabel("measured (normalised)")
        fig.tight_layout()
        fig.savefig(out / "descriptor_sliders.png", dpi=100)
        plt.close(fig)

    if example is not None:
        s, bpm, p = example
        n = min(len(p), int(10 * FPS))
        p = p[:n]
        sp = smooth_gaussian(mean_joint_speed(p, FPS), FPS * 5.0 / 60.0)
        kin = kinematic_beats(p, FPS)
        grid = beat_frames(n, FPS, bpm, 0.0)
        fig, ax = plt.subplots(figsize=(9, 3))
        t = np.arange(n) / FPS
        ax.plot(t, sp, lw=1, label="mean joint speed")
        ax.plot(kin / FPS, sp[kin], "o", ms=4, label="kinematic beats")
        for k, fr in enumerate(grid):
            ax.axvline(
                fr / FPS, color="grey", lw=0.6, ls="--", label="requested beats" if k == 0 else None
            )
        score = clip_beat_alignment(p, FPS, bpm, 0.0)
        ax.set_title(f"Beat alignment example: {s} at {bpm:.0f} BPM (BAS {score:.2f})")
        ax.set_xlabel("seconds")
        ax.set_ylabel("m/s")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "beat_alignment.png", dpi=100)
        plt.close(fig)


def _markdown(report: dict) -> str:
    lines = [
        "# Engine quality report",
        "",
        f"Engine `{report['engine']}` ({report['engine_name']} {report['engine_version']}), "
        f"dataset `{report['dataset']}`, styles: {', '.join(report['styles'])}. "
        "Generated motion vs the held-out real takes, SMPL-24 world positions at 30 fps "
        "(`python -m training.evaluate`; numbers in report.json).",
        "",
        "| metric | value | bar | pass |",
        "|---|---|---|---|",
    ]
    for name, b in report["bars"].items():
        lines.append(
            f"| {name} | {b['value']:.4g} | {b['op']} {b['threshold']:.4g} {b['note']} | "
            f"{'yes' if b['pass'] else '**no**'} |"
        )
    ro = report["reported_only"]
    lines.append(f"| FID_k (reported) | {ro['fid_k']:.4g} | - | - |")
    lines.append(f"| FID_g (reported) | {ro['fid_g']:.4g} | - | - |")
    if "foot_skating_network_cm_s" in ro:
        lines.append(
            f"| foot skating before the runtime's foot cleanup (reported) | "
            f"{ro['foot_skating_network_cm_s']:.4g} | - | - |"
        )
    if "beat_alignment_network" in ro:
        lines.append(
            f"| beat alignment without the runtime's beat lock (reported) | "
            f"{ro['beat_alignment_network']:.4g} | - | - |"
        )
    if "long_run_ratio_min" in ro:
        seeds = ro["long_run_seeds"]
        per_style = ", ".join(
            f"{s} {v['min']:.2f}-{v['max']:.2f}" for s, v in report["long_runs"].items()
        )
        lines.append(
            f"| stability over seeds {min(seeds)}-{max(seeds)} (reported: {per_style}) | "
            f"{ro['long_run_ratio_min']:.2f}-{ro['long_run_ratio_max']:.2f} | - | - |"
        )
    r = report["real"]
    lines += [
        "",
        f"Real held-out reference: foot skating {r['foot_skating_cm_s']:.1f} cm/s, "
        f"jerk {r['jerk']:.4g} m²/s⁶, BAS {r['beat_alignment']:.3f} (own tempo), "
        f"style classifier on held-out real: {r['classifier_heldout_clip_accuracy']:.0%} of takes, "
        f"{r['classifier_heldout_window_accuracy']:.0%} of 4 s windows.",
        "",
        "Plots: stability.png (angular speed over the long runs), descriptor_sliders.png, "
        "beat_alignment.png.",
        "",
        f"Total time {report['timings']['total_s']:.0f} s "
        f"({report['timings']['generated_frames']} frames generated).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", type=Path, default=Path("dance_ai_addon/engines/default.onnx"))
    ap.add_argument("--dataset", type=Path, default=Path("build/dataset.npz"))
    ap.add_argument("--out", type=Path, default=Path("docs/quality"))
    ap.add_argument("--minutes", type=float, default=5.0, help="stability run length per style")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument(
        "--long-run-seeds",
        type=int,
        nargs="*",
        default=[1001, 1002, 1003, 1004, 1005],
        help="more seeds for the long runs, reported beside the stability bar's seed 1000",
    )
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--sweep-seconds", type=float, default=10.0)
    ap.add_argument(
        "--sweep-seed-sets",
        type=int,
        default=3,
        help="seed sets pooled per descriptor sweep (each: 5 slider values x the styles)",
    )
    ap.add_argument("--bpms", type=float, nargs="+", default=[90.0, 110.0, 128.0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--descriptors-from-seed",
        action="store_true",
        help="descriptor axes a request leaves alone take the seed motion's own values "
        "(an experiment; the panel and the CLI aim at the preset's values)",
    )
    ap.add_argument(
        "--seed-variety",
        type=float,
        default=1.0,
        help="with --descriptors-from-seed: how far (0..1) from the preset's values toward the "
        "seed's own the descriptors move",
    )
    ap.add_argument(
        "--variety",
        type=float,
        default=None,
        help="generate with this variety (0..1: how far each clip drifts through real takes' "
        "characters; default the engine's recommended.variety, what users get)",
    )
    args = ap.parse_args(argv)
    report = evaluate(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    md = _markdown(report)
    (args.out / "report.md").write_text(md)
    print(md)
    print(f"wrote {args.out / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
