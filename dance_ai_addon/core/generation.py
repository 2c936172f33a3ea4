"""Windowed autoregressive generation: any number of frames from a fixed-window engine.

Window ``k`` starts at output frame ``k * (W - overlap)``. Its history is the ``H`` feature frames
just before that start (final by then); its first ``overlap`` frames re-predict frames the
previous window already produced and are crossfaded into them with smoothstep weights, so there
is no seam. The first window's history is, in order of preference: one of the metadata's
``seed_histories`` (real motion) of the style category with the largest weight in the style
vector, picked by the seed; the metadata's ``initial_history``; the rest pose standing still with
the feet on the ground (root height from the skeleton). Seeding with real motion of the asked
style matters because an autoregressive engine mostly continues the motion it is given; the pick
prefers seeds whose descriptors are near the sliders the user moved away from the preset (all
sliders when none was moved). Descriptor sliders reach the network stretched by the engine's
calibrated gains (:func:`network_style`); presets reach it unchanged. All
randomness (the seed-history pick, then the ``noise`` input window by window) comes from
``numpy.random.default_rng(seed)``: the same seed, engine and inputs give the same output on the
same backend.

Grounding (on by default for skeletons with SMPL-24 feet) lifts the root smoothly by the depth
the lowest joint goes under the floor (feet counted with their standing clearance), see
:func:`ground_clip`.

Foot cleanup (on by default for skeletons with SMPL-24 legs) pins each foot where the generated
motion itself has it low and slow (:func:`clean_feet`, the retargeter's contact detection and
two-bone IK run on the engine's own skeleton): a network predicts feet that are nearly still
during a plant, and nearly is what a viewer sees as sliding.

Beat lock (on by default for engines with a beat input) retimes the decoded motion so its
kinematic beats (the moments the body slows) land on the requested beat grid, see
:mod:`.beat_lock`; it runs before foot cleanup and grounding, which then work on the retimed motion.

Loop closure generates ``N`` extra frames past the end and crossfades them into the first ``N``
frames (features, so 6D rotations, root height, velocities and yaw rate blend together), so the
last frame flows into the first; the root's net turn and horizontal drift over the clip are then
spread evenly over the frames so the root also returns to where it started.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .beat_lock import beat_lock_map, warp_channels, warp_features
from .clip import MotionClip
from .engines.contract import Engine, display_name
from .engines.features import decode_features, encode_clip, integrate_root, rest_features
from .errors import DanceAIError, EngineError
from .retarget.transfer import CANONICAL_CLEARANCE
from .skeleton import Skeleton, forward_kinematics, local_rotations
from .smoothing import jerk_smooth

__all__ = [
    "GenerationResult",
    "generate",
    "beat_features",
    "smoothstep",
    "initial_history",
    "seed_history",
    "pick_seed",
    "SeedPick",
    "floor_depth",
    "grounding_lift",
    "ground_clip",
    "FOOT_CLEARANCE",
    "moved_descriptors",
    "preset_descriptors",
    "descriptor_gains",
    "network_style",
    "has_feet",
    "clean_feet",
]

#: Width (in 0..1 slider units) of the preference for seeds near the requested descriptors.
SEED_DESCRIPTOR_SIGMA = 0.15

#: Standing height above the sole of the foot joints (the retargeter's floor convention, y = 0).
FOOT_CLEARANCE = {
    "L_Ankle": CANONICAL_CLEARANCE["Ankle"],
    "R_Ankle": CANONICAL_CLEARANCE["Ankle"],
    "L_Foot": CANONICAL_CLEARANCE["Foot"],
    "R_Foot": CANONICAL_CLEARANCE["Foot"],
}


@dataclass
class GenerationResult:
    clip: MotionClip  # on the engine's skeleton, Y up, meters
    blendshapes: tuple[list[str], np.ndarray] | None  # (names, weights (T, K) in 0..1)
    seconds: float  # wall time of the generation
    windows: int  # engine calls
    features: np.ndarray  # (T, F) the decoded features (after crossfades and loop closure)
    style: np.ndarray | None = None  # (S,) the style vector used (seed-supplied values filled in)
    noise_scale: float | None = None  # the noise scale used (the style mix's, unless given)
    variety: float | None = None  # the variety used (the engine's recommendation, unless given)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def beat_features(frames: int, fps: float, bpm: float, phase: float = 0.0) -> np.ndarray:
    """(frames, 2) float32 ``(sin, cos)`` of the beat phase; ``phase`` is in beats at frame 0."""
    beats = phase + np.arange(frames, dtype=np.float64) / float(fps) * (float(bpm) / 60.0)
    ang = 2.0 * np.pi * beats
    return np.stack([np.sin(ang), np.cos(ang)], axis=-1).astype(np.float32)


def initial_history(engine: Engine) -> np.ndarray:
    """(H, F) history for the first window (see the module docstring)."""
    meta = engine.metadata
    if meta.initial_history is not None:
        return np.asarray(meta.initial_history, dtype=np.float64)
    return rest_features(meta.skeleton, meta.history)


@dataclass
class SeedPick:
    """A real seed motion picked for a clip: its (H, F) history, when the engine ships them the
    descriptor values (D,) of the take it came from (descriptor-axis order), and the style
    category whose bank it came from."""

    history: np.ndarray
    descriptors: np.ndarray | None
    category: str


def pick_seed(
    engine: Engine,
    style: np.ndarray,
    rng: np.random.Generator,
    from_seed: Sequence[int] = (),
) -> SeedPick | None:
    """A real seed motion of the style's dominant category, picked with ``rng``.

    The dominant category is the ``category`` axis with the largest weight (the first on ties).
    With ``seed_descriptors`` the pick is weighted by ``exp(-d^2 / (2 * 0.15^2))``, ``d`` the
    distance between the seed's descriptors and the style vector's descriptor values over the
    axes the request moved away from the preset mix (:func:`moved_descriptors`; all axes when it
    moved none), leaving out the descriptor axes in ``from_seed`` (style-vector indices): those
    will take the seed's own values, so they must not steer the pick. ``None`` (and ``rng``
    untouched) when the engine has no seed histories for it or the style has no positive
    category weight.
    """
    meta = engine.metadata
    seeds = meta.seed_histories
    if not seeds:
        return None
    cats = meta.category_indices
    if not cats:
        return None
    weights = np.asarray(style, dtype=np.float64).reshape(-1)[cats]
    if not np.any(weights > 0.0):
        return None
    name = meta.style_axes[cats[int(np.argmax(weights))]].name
    bank = seeds.get(name)
    if bank is None or len(bank) == 0:
        return None
    desc = (meta.seed_descriptors or {}).get(name)
    if desc is None:
        hist = np.asarray(bank[int(rng.integers(len(bank)))], dtype=np.float64)
        return SeedPick(hist, None, name)
    # prefer seeds whose descriptors are near the requested sliders (Gaussian weights), so the
    # seed motion agrees with the sliders instead of pulling the clip away from them
    d_axes = meta.descriptor_indices
    want = np.asarray(style, dtype=np.float64).reshape(-1)[d_axes]
    steer = np.array([i not in from_seed for i in d_axes])
    moved = steer & moved_descriptors(meta, style)
    if moved.any():
        steer = moved
    d2 = np.sum(((desc - want[None, :]) ** 2)[:, steer], axis=1)
    w = np.exp(-(d2 - d2.min()) / (2.0 * SEED_DESCRIPTOR_SIGMA**2))
    k = int(rng.choice(len(bank), p=w / w.sum()))
    return SeedPick(
        np.asarray(bank[k], dtype=np.float64), np.asarray(desc[k], dtype=np.float64), name
    )


#: How far (slider units) a descriptor must be from the style mix's preset value to count as moved.
MOVED_DESCRIPTOR = 0.05


def preset_descriptors(meta, style: np.ndarray) -> np.ndarray | None:
    """(D,) the category presets' descriptor values mixed by the style's category weights."""
    style = np.asarray(style, dtype=np.float64).reshape(-1)
    d_axes = meta.descriptor_indices
    cats = meta.category_indices
    names = [meta.style_axes[i].name for i in cats]
    w = style[cats]
    if not names or w.sum() <= 0.0 or any(n not in meta.style_presets for n in names):
        return None
    presets = np.stack([np.asarray(meta.style_presets[n], dtype=np.float64) for n in names])
    return (w[:, None] * presets[:, d_axes]).sum(axis=0) / w.sum()


def descriptor_gains(meta, gain: float | Mapping[str, float] | None = None) -> np.ndarray:
    """(D,) gain per descriptor axis: ``gain`` for all, per axis name, or the metadata's."""
    names = [meta.style_axes[i].name for i in meta.descriptor_indices]
    if gain is None:
        gain = meta.descriptor_gain
    if isinstance(gain, Mapping):
        unknown = sorted(set(gain) - set(names))
        if unknown:
            raise DanceAIError(
                f"descriptor gain for {', '.join(unknown)}: not a descriptor axis of this engine "
                f"(descriptor axes: {', '.join(names) or 'none'})"
            )
        out = np.array([float(gain.get(n, 1.0)) for n in names])
    else:
        out = np.full(len(names), float(gain))
    if not np.all(np.isfinite(out) & (out > 0.0)):
        raise DanceAIError(f"descriptor gains must be positive numbers, got {out.tolist()}")
    return out


def network_style(
    meta, style: np.ndarray, gain: float | Mapping[str, float] | None = None
) -> np.ndarray:
    """The style vector the network reads: each descriptor's distance from the preset mix
    (:func:`preset_descriptors`) times its gain (:func:`descriptor_gains`).

    The network follows its descriptor inputs only part of the way (a slider moved by 0.5 moves
    the measured quality by 0.1-0.3), so an engine can ship gains calibrated at export that
    stretch the request to make the measured descriptor follow its slider. The preset itself is
    left exactly where it is, so untouched sliders give the engine's own style.
    """
    style = np.asarray(style, dtype=np.float64).reshape(-1)
    gains = descriptor_gains(meta, gain)
    expected = preset_descriptors(meta, style)
    if expected is None or np.all(gains == 1.0):
        return style
    out = style.copy()
    d = meta.descriptor_indices
    out[d] = expected + gains * (style[d] - expected)
    return out


def mixed_noise_scale(meta, style: np.ndarray) -> float:
    """The recommended noise scale for a style mix: its categories' own scales, weighted.

    A network trained on a thin style (groove: one minute of mocap) moves slower than that style
    really does at the noise scale that suits the bulk of the data, so an engine may recommend a
    scale per category (``recommended.style_noise_scale``). A mix blends them by its category
    weights; categories without one, or a mix with no category weight, use the single scale.
    """
    base = meta.recommended_noise_scale
    if not meta.style_noise_scale:
        return base
    cats = meta.category_indices
    weights = np.clip(np.asarray(style, dtype=np.float64)[cats], 0.0, None)
    if weights.sum() <= 0.0:
        return base
    names = [meta.style_axes[i].name for i in cats]
    scales = np.array([meta.style_noise_scale.get(name, base) for name in names])
    return float(weights @ scales / weights.sum())


#: Seconds between the real takes whose character a dance drifts through (``variety``).
DRIFT_PERIOD_S = 20.0


def character_drift(
    meta,
    style: np.ndarray,
    pick: SeedPick | None,
    rng: np.random.Generator,
    n_windows: int,
    step: int,
    variety: float,
    fixed: Sequence[int] = (),
) -> np.ndarray | None:
    """(n_windows, S) offsets of the network's style input: the dance's drifting character.

    Real takes of one style differ far more from each other (one stands and sways, another
    leaps) than clips aimed at the style's average do. With ``variety`` > 0 a clip starts with
    the character of the real take its seed motion came from and drifts, over
    :data:`DRIFT_PERIOD_S` per take (smoothstep blends), through other takes of that style
    drawn with ``rng``: each descriptor the user left at the preset moves ``variety`` of the way
    from the request to that take's value. Sliders the user moved, and the axes in ``fixed``,
    keep exactly the request. ``None`` (and ``rng`` untouched) when variety is 0 or the engine
    ships no seed descriptors for the style.
    """
    if not 0.0 <= variety <= 1.0 or not math.isfinite(variety):
        raise DanceAIError(f"variety must be between 0 and 1, got {variety}")
    if variety == 0.0 or pick is None or pick.descriptors is None or n_windows < 1:
        return None
    bank = np.asarray(meta.seed_descriptors[pick.category], dtype=np.float64)
    d_axes = meta.descriptor_indices
    free = ~moved_descriptors(meta, style) & np.array([i not in fixed for i in d_axes])
    period = max(1, int(round(DRIFT_PERIOD_S * meta.fps)))
    pos = (np.arange(n_windows) * step + step / 2.0) / period  # window centres, in periods
    seg = pos.astype(int)  # window k blends take seg[k] into take seg[k] + 1
    targets = np.empty((seg[-1] + 2, len(d_axes)))
    targets[0] = pick.descriptors
    targets[1:] = bank[rng.integers(len(bank), size=len(targets) - 1)]
    w = smoothstep(pos - seg)[:, None]
    character = (1.0 - w) * targets[seg] + w * targets[seg + 1]
    want = np.asarray(style, dtype=np.float64)[d_axes]
    out = np.zeros((n_windows, len(style)))
    out[:, d_axes] = variety * (character - want[None, :]) * free[None, :]
    return out


def moved_descriptors(meta, style: np.ndarray) -> np.ndarray:
    """(D,) bool: descriptor axes (``descriptor_indices`` order) set away from the preset mix.

    The preset mix is the category weights' mean of the category presets' descriptor values
    (what :func:`.style.style_vector` gives when no axis is set by hand). A user who drags one
    slider asks for that quality above all; the seed pick then follows the moved axes alone, since
    the untouched ones only repeat the style's averages the network is conditioned on anyway.
    All False when the engine has no presets for its categories.
    """
    style = np.asarray(style, dtype=np.float64).reshape(-1)
    expected = preset_descriptors(meta, style)
    if expected is None:
        return np.zeros(len(meta.descriptor_indices), dtype=bool)
    return np.abs(style[meta.descriptor_indices] - expected) > MOVED_DESCRIPTOR


def seed_history(engine: Engine, style: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The (H, F) history of :func:`pick_seed` (every descriptor axis steering the pick)."""
    pick = pick_seed(engine, style, rng)
    return None if pick is None else pick.history


def _seeded_axes(meta, descriptors_from_seed: bool | Sequence[str]) -> list[int]:
    """Style-vector indices of the descriptor axes whose value the seed motion supplies."""
    descriptors = {meta.style_axes[i].name: i for i in meta.descriptor_indices}
    if descriptors_from_seed is True:
        return list(descriptors.values())
    if not descriptors_from_seed:
        return []
    out = []
    for name in descriptors_from_seed:
        if name not in descriptors:
            raise DanceAIError(
                f"'{name}' is not a descriptor axis of this engine; descriptor axes: "
                f"{', '.join(descriptors) or '(none)'}"
            )
        out.append(descriptors[name])
    return out


def floor_depth(skeleton: Skeleton, positions: np.ndarray) -> np.ndarray:
    """Per-frame depth (m, >= 0) of the lowest joint under the floor y = 0, ``positions (T, J, 3)``.

    Foot joints count with their standing clearance (:data:`FOOT_CLEARANCE`: a toe joint 3 cm up
    means its sole is 2 cm under), the others as they are, like ``training.metrics``.
    """
    clear = np.zeros(len(skeleton.names))
    for name, c in FOOT_CLEARANCE.items():
        if name in skeleton.names:
            clear[skeleton.names.index(name)] = c
    return np.maximum((clear[None, :] - positions[..., 1]).max(axis=1), 0.0)


def _max_filter(x: np.ndarray, radius: int, wrap: bool) -> np.ndarray:
    if radius <= 0 or x.shape[0] < 2:
        return x.copy()
    padded = np.pad(x, radius, mode="wrap" if wrap else "edge")
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1)
    return win.max(axis=1)


def grounding_lift(
    depth: np.ndarray, fps: float, loop: bool = False, cutoff_hz: float = 2.0, passes: int = 3
) -> np.ndarray:
    """A smooth per-frame lift (m) that covers ``depth`` without popping.

    Max-filter the depth over ~1/6 s (so the lift starts before the foot goes under and the
    smoother's dip at a peak stays above it), jerk-smooth it (cutoff ~``cutoff_hz``), and repeat
    on what is still uncovered a few times. The result is >= 0 and covers ``depth`` to within a
    millimetre or so.
    """
    depth = np.asarray(depth, dtype=np.float64)
    lift = np.zeros_like(depth)
    if depth.shape[0] == 0 or not np.any(depth > 0.0):
        return lift
    radius = max(1, int(round(fps / 6.0)))
    lam = (2.0 * math.sin(math.pi * min(cutoff_hz, 0.45 * fps) / fps)) ** -6
    for _ in range(passes):
        rest = np.maximum(depth - lift, 0.0)
        if rest.max() <= 1e-4:
            break
        lift += np.maximum(jerk_smooth(_max_filter(rest, radius, loop), lam), 0.0)
    return lift


def has_feet(skeleton: Skeleton) -> bool:
    """True when the skeleton has the SMPL-24 foot joints grounding works from."""
    return all(n in skeleton.names for n in FOOT_CLEARANCE)


LEG_JOINTS = tuple((s + "_Hip", s + "_Knee", s + "_Ankle", s + "_Foot") for s in "LR")


def has_legs(skeleton: Skeleton) -> bool:
    """True when the skeleton has the SMPL-24 leg chains foot cleanup works on."""
    return all(n in skeleton.names for leg in LEG_JOINTS for n in leg)


def clean_feet(clip: MotionClip, blend_s: float = 0.1) -> tuple[MotionClip, float]:
    """``clip`` with its planted feet pinned; also returns the share of foot frames in contact.

    Contacts come from the clip itself (``retarget.feet.detect_joint_contacts``: a foot joint near
    its own floor level and slower than 0.35 m/s); ``retarget.feet.cleanup`` moves each ankle to
    its pinned position with an analytic two-bone IK and lowers the hips where a leg cannot reach.
    """
    from .retarget.feet import cleanup, detect_joint_contacts

    skel = clip.skeleton
    idx = {n: i for i, n in enumerate(skel.names)}
    legs = [tuple(idx[n] for n in leg) for leg in LEG_JOINTS]
    pos, world_rot = forward_kinematics(skel, clip.rotations, clip.root_positions)
    feet = [leg[2] for leg in legs] + [leg[3] for leg in legs]  # ankles, then toes
    contacts = detect_joint_contacts(pos[:, feet], clip.fps, "Y", 1.0)
    if not contacts.any():
        return clip, 0.0
    new_world, _, shift = cleanup(
        pos, world_rot, legs, contacts, np.zeros((2, 2)), clip.fps, 1, blend_s
    )
    local = local_rotations(skel, new_world)
    root = clip.root_positions + shift
    return MotionClip(skel, local, root, clip.fps, clip.name), float(contacts.mean())


def ground_clip(clip: MotionClip, loop: bool = False) -> tuple[MotionClip, np.ndarray]:
    """``clip`` with its root lifted by :func:`grounding_lift`; also returns the lift (T,)."""
    pos, _ = forward_kinematics(clip.skeleton, clip.rotations, clip.root_positions)
    lift = grounding_lift(floor_depth(clip.skeleton, pos), clip.fps, loop)
    if not np.any(lift > 0.0):
        return clip, lift
    root = clip.root_positions.copy()
    root[:, 1] += lift
    return MotionClip(clip.skeleton, clip.rotations, root, clip.fps, clip.name), lift


def _check_finite(engine: Engine, name: str, arr: np.ndarray, window: int) -> None:
    if not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "Inf"
        raise EngineError(
            f"{display_name(engine.path)}: engine produced {bad} in '{name}' (window {window}); "
            "refusing to bake. The engine file is broken or incompatible with these inputs"
        )


def generate(
    engine: Engine,
    *,
    frames: int,
    style: np.ndarray,
    seed: int,
    bpm: float | None = None,
    beat_phase: float = 0.0,
    loop: bool = False,
    overlap: int | None = None,
    noise_scale: float | None = None,
    loop_frames: int | None = None,
    ground: bool | None = None,
    use_seed_history: bool = True,
    foot_cleanup: bool | None = None,
    beat_lock: float | None = None,
    descriptors_from_seed: bool | Sequence[str] = (),
    seed_variety: float = 1.0,
    descriptor_gain: float | Mapping[str, float] | None = None,
    variety: float | None = None,
) -> GenerationResult:
    """Generate ``frames`` frames at the engine's fps (see the module docstring).

    ``bpm`` defaults to the metadata's ``default_bpm``; it is used only by engines with a beat
    input. ``overlap`` and ``noise_scale`` default to the metadata's recommendations.
    ``loop_frames`` (loop closure length) defaults to max(overlap, fps / 2), at most frames / 2.
    ``ground`` (default: on when the skeleton has SMPL-24 feet) lifts floor penetration away
    (:func:`ground_clip`); ``use_seed_history`` (default on) starts from the engine's real seed
    motion of the dominant style when it ships some. ``foot_cleanup`` (default: on when the
    skeleton has SMPL-24 legs) pins planted feet (:func:`clean_feet`); the returned features are
    then re-encoded from the cleaned clip so both agree. ``beat_lock`` (0..1; default 1 for
    engines with a beat input, else 0) retimes the motion so its kinematic beats land on the
    ``bpm`` grid (:mod:`.beat_lock`). ``descriptors_from_seed`` (True, or descriptor axis names)
    lets the real seed motion picked for the clip supply those descriptor values (its take's own
    energy, expansiveness, ...), so each seed dances with its own character instead of every
    seed aiming at the preset's averages; without seed motions the given values stay. It is an
    experiment the panel and the CLI do not use: minutes-long runs can leave the real speed range
    (training/EXPERIMENTS.md); ``seed_variety`` (default 1) takes them only that fraction of the
    way from the requested values to the seed's. ``descriptor_gain`` (default: the metadata's
    ``recommended.descriptor_gain``; a number for every axis or one per axis name; 1 = off)
    stretches each descriptor's distance from the preset mix on its way into the network
    (:func:`network_style`), so a slider the network only half follows reaches its range.
    ``variety`` (0..1; default the metadata's ``recommended.variety``) lets the clip's character
    drift through the style's real takes (:func:`character_drift`), so seeds differ as much as
    real dancers do instead of all aiming at the preset's average.
    """
    t0 = time.perf_counter()
    meta = engine.metadata
    H, W, F, Z = meta.history, meta.window, meta.feature_size, meta.noise_size
    frames = int(frames)
    if frames < 1:
        raise DanceAIError(f"cannot generate {frames} frames; ask for at least 1")
    ov = meta.recommended_overlap if overlap is None else int(overlap)
    if not 0 <= ov < W:
        raise DanceAIError(f"overlap must be between 0 and {W - 1} (window {W}), got {ov}")
    style = np.asarray(style, dtype=np.float64).reshape(-1)
    if style.shape != (meta.style_size,) or not np.isfinite(style).all():
        raise DanceAIError(
            f"the style vector must be {meta.style_size} finite numbers "
            f"({', '.join(meta.style_names)}), got shape {style.shape}"
        )
    scale = mixed_noise_scale(meta, style) if noise_scale is None else float(noise_scale)
    if not math.isfinite(scale) or scale < 0:
        raise DanceAIError(f"noise scale must be >= 0, got {scale}")
    if bpm is None:
        bpm = meta.default_bpm
    if not (math.isfinite(float(bpm)) and 1.0 <= float(bpm) <= 1000.0):
        raise DanceAIError(f"BPM must be between 1 and 1000, got {bpm}")

    variety = meta.recommended_variety if variety is None else float(variety)
    if not (math.isfinite(variety) and 0.0 <= variety <= 1.0):
        raise DanceAIError(f"variety must be between 0 and 1, got {variety}")
    lock = (1.0 if meta.beat_input else 0.0) if beat_lock is None else float(beat_lock)
    if not (math.isfinite(lock) and 0.0 <= lock <= 1.0):
        raise DanceAIError(f"beat lock must be between 0 and 1, got {beat_lock}")

    n_loop = 0
    if loop and frames >= 4:
        n_loop = loop_frames if loop_frames is not None else max(ov, int(round(meta.fps / 2)))
        n_loop = max(1, min(int(n_loop), frames // 2))
    total = frames + n_loop
    step = W - ov
    n_windows = 1 + max(0, math.ceil((total - W) / step))
    length = W + (n_windows - 1) * step

    buf = np.empty((H + length, F), dtype=np.float64)
    rng = np.random.default_rng(int(seed))
    seeded = _seeded_axes(meta, descriptors_from_seed)
    unsteered = list(seeded)
    if variety > 0.0:  # the drift supplies the untouched descriptors: they must not steer either
        moved = moved_descriptors(meta, style)
        unsteered += [i for i, m in zip(meta.descriptor_indices, moved) if not m]
    pick = pick_seed(engine, style, rng, unsteered) if use_seed_history and H else None
    buf[:H] = initial_history(engine) if pick is None else pick.history
    if seeded and pick is not None and pick.descriptors is not None:
        style = style.copy()
        own = pick.descriptors[[meta.descriptor_indices.index(i) for i in seeded]]
        style[seeded] += float(seed_variety) * (own - style[seeded])
    bs_names = list(meta.blendshape_names) if meta.blendshape_names else None
    bs_buf = np.empty((length, len(bs_names))) if bs_names else None
    fade = smoothstep((np.arange(ov) + 1.0) / (ov + 1.0))[:, None]
    beats = beat_features(length, meta.fps, float(bpm), beat_phase) if meta.beat_input else None
    net_style = network_style(meta, style, descriptor_gain)
    drift = character_drift(meta, style, pick, rng, n_windows, step, variety, seeded)
    style32 = net_style.astype(np.float32)[None]
    hist32 = np.empty((1, H, F), dtype=np.float32) if H else None

    for k in range(n_windows):
        s = k * step
        if hist32 is not None:
            hist32[0] = buf[s : s + H]
        noise = rng.standard_normal((1, W, Z), dtype=np.float32)
        if scale != 1.0:
            noise *= np.float32(scale)
        beat = beats[None, s : s + W] if beats is not None else None
        if drift is not None:
            style32[0] = net_style + drift[k]
        out = engine.run_window(hist32, style32, noise, beat)
        motion = out["motion"][0]
        _check_finite(engine, "motion", motion, k)
        dst = buf[H + s : H + s + W]
        if k == 0 or ov == 0:
            dst[:] = motion
        else:
            dst[:ov] += fade * (motion[:ov] - dst[:ov])
            dst[ov:] = motion[ov:]
        if bs_buf is not None:
            shapes = out["blendshapes"][0]
            _check_finite(engine, "blendshapes", shapes, k)
            bdst = bs_buf[s : s + W]
            if k == 0 or ov == 0:
                bdst[:] = shapes
            else:
                bdst[:ov] += fade * (shapes[:ov] - bdst[:ov])
                bdst[ov:] = shapes[ov:]

    feats = buf[H : H + total].copy()
    weights = bs_buf[:total].copy() if bs_buf is not None else None
    if n_loop:
        w = smoothstep((np.arange(n_loop) + 1.0) / (n_loop + 1.0))[:, None]
        feats[:n_loop] = (1.0 - w) * feats[frames:] + w * feats[:n_loop]
        if weights is not None:
            weights[:n_loop] = (1.0 - w) * weights[frames:] + w * weights[:n_loop]
        feats = feats[:frames]
        weights = weights[:frames] if weights is not None else None
    if lock > 0.0 and frames >= 4:
        pos = decode_features(feats, meta.skeleton, meta.fps).world()[0]
        tau = beat_lock_map(pos, meta.fps, float(bpm), beat_phase, lock)
        feats = warp_features(feats, tau)
        weights = warp_channels(weights, tau) if weights is not None else None
    if n_loop:
        # spread the net turn evenly so the heading at frame T equals frame 0's (mod 2 pi)
        turn = float(np.sum(feats[:, 3]))
        feats[:, 3] -= (turn - 2.0 * np.pi * round(turn / (2.0 * np.pi))) / frames

    clip = decode_features(feats, meta.skeleton, meta.fps, name=meta.name or "generated")
    if n_loop:
        xz, _ = integrate_root(feats)
        drift = xz[-1] - xz[0]
        ramp = np.arange(frames, dtype=np.float64)[:, None] / frames
        pos = clip.root_positions.copy()
        pos[:, [0, 2]] -= ramp * drift
        clip = MotionClip(clip.skeleton, clip.rotations, pos, clip.fps, clip.name)
    if foot_cleanup is None:
        foot_cleanup = has_legs(meta.skeleton)
    cleaned = foot_cleanup and frames >= 4
    if cleaned:
        clip, _ = clean_feet(clip)
    if ground is None:
        ground = has_feet(meta.skeleton)
    if ground:
        clip, lift = ground_clip(clip, loop=bool(n_loop))
    if cleaned:
        feats = encode_clip(clip)  # leg rotations and root height changed: read them back
    elif ground:
        feats = feats.copy()
        feats[:, 0] += lift  # root_height channel, so features and clip agree
    blend = None
    if weights is not None:
        blend = (bs_names, np.clip(weights, 0.0, 1.0))
    return GenerationResult(
        clip, blend, time.perf_counter() - t0, n_windows, feats, style, scale, variety
    )
