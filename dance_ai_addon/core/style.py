"""Style vectors: mix an engine's named presets by weight, set raw axis values, normalise.

``"salsa=0.7,modern=0.3"`` mixes the presets ``salsa`` and ``modern`` (a bare ``salsa`` means
``salsa=1``). A name that is not a preset but a category axis acts as a one-hot preset. The mix
is the weighted mean of the presets; raw axis values (``raw={"energy": 0.9}``) then override single
axes; every axis is clipped to its [min, max]; finally, with ``"categories_sum_to_one"``, the
category axes are rescaled to sum to one (descriptor axes are left alone).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .errors import DanceAIError

__all__ = ["parse_style", "style_vector", "known_style_names"]


def known_style_names(metadata) -> list[str]:
    """Names usable in a style string: the presets, then category axes that are not presets."""
    names = list(metadata.style_presets)
    names += [a.name for a in metadata.style_axes if a.kind == "category" and a.name not in names]
    return names


def parse_style(text: str | None, known: list[str] | None = None) -> dict[str, float]:
    """Parse ``"salsa=0.7,modern=0.3"`` into ``{"salsa": 0.7, "modern": 0.3}``.

    With ``known``, an unknown name raises DanceAIError listing the known ones.
    """
    out: dict[str, float] = {}
    if text is None or not text.strip():
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not name:
            raise DanceAIError(f"style '{text}': '{part}' has no name; write NAME=WEIGHT")
        if sep:
            try:
                weight = float(value)
            except ValueError:
                raise DanceAIError(
                    f"style '{text}': the weight of '{name}' is not a number ('{value.strip()}')"
                ) from None
        else:
            weight = 1.0
        if not math.isfinite(weight) or weight < 0.0:
            raise DanceAIError(f"style '{text}': the weight of '{name}' must be >= 0")
        if known is not None and name not in known:
            raise DanceAIError(
                f"unknown style '{name}'; this engine knows: {', '.join(known) or '(none)'}"
            )
        out[name] = out.get(name, 0.0) + weight
    return out


def style_vector(
    metadata,
    weights: Mapping[str, float] | None = None,
    raw: Mapping[str, float] | None = None,
) -> np.ndarray:
    """The (S,) float64 style vector for an engine, built as the module docstring says."""
    axes = metadata.style_axes
    index = {a.name: i for i, a in enumerate(axes)}
    is_cat = np.array([a.kind == "category" for a in axes])
    vec = np.array([a.default for a in axes], dtype=np.float64)

    if weights:
        known = known_style_names(metadata)
        total = 0.0
        mix = np.zeros(len(axes))
        for name, w in weights.items():
            if name not in known:
                raise DanceAIError(
                    f"unknown style '{name}'; this engine knows: {', '.join(known) or '(none)'}"
                )
            w = float(w)
            if not math.isfinite(w) or w < 0.0:
                raise DanceAIError(f"the weight of style '{name}' must be >= 0, got {w}")
            if name in metadata.style_presets:
                preset = np.asarray(metadata.style_presets[name], dtype=np.float64)
            else:
                preset = vec.copy()
                preset[is_cat] = 0.0
                preset[index[name]] = 1.0
            mix += w * preset
            total += w
        if total <= 0.0:
            raise DanceAIError("style weights are all zero; give at least one positive weight")
        vec = mix / total

    for name, value in (raw or {}).items():
        if name not in index:
            raise DanceAIError(
                f"unknown style axis '{name}'; this engine's axes are: {', '.join(index)}"
            )
        value = float(value)
        if not math.isfinite(value):
            raise DanceAIError(f"style axis '{name}' must be a finite number")
        vec[index[name]] = value

    lo = np.array([a.min for a in axes])
    hi = np.array([a.max for a in axes])
    vec = np.clip(vec, lo, hi)
    if metadata.style_normalise == "categories_sum_to_one" and is_cat.any():
        s = vec[is_cat].sum()
        if s > 1e-12:
            vec[is_cat] /= s
        else:
            vec[is_cat] = 1.0 / is_cat.sum()
    return vec
