"""Long-run screening: does an engine stay near real speed for minutes, from any seed?

The report's stability bar runs one seed (1000) per style, and the report adds seeds 1001-1005
as a reported-only line. A runaway (a spin that builds up over minutes) has shown up at some
seeds and not others, so a candidate engine is screened here, at any seeds and variety, in half
a minute, before it is measured in full:

``python -m training.longrun --engine build/v28/default.onnx --seeds 1000 1001 1002 1003``

For each style and seed it prints the per-minute mean joint angular speed as a ratio to the
real takes of that style (the stability bar's measure, bars 0.5x-1.5x), and a summary:
the lowest and highest ratio per style over all seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from training.evaluate import FPS, Generator, RealSet, long_run_ratios


def screen(
    engine: Path,
    dataset: Path,
    seeds: list[int],
    minutes: float,
    variety: float | None = None,
    styles: list[str] | None = None,
) -> dict:
    """Per style and seed, the per-minute angular-speed ratios to the style's real takes."""
    gen = Generator(engine, threads=1, variety=variety)
    real = RealSet(dataset)
    styles = styles or list(real.style_names)
    frames = int(minutes * 60 * FPS)
    runs = long_run_ratios(gen, real, styles, seeds, frames, log=lambda m: print(m, flush=True))
    return {"engine": str(engine), "variety": variety, "styles": runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", type=Path, default=Path("dance_ai_addon/engines/default.onnx"))
    ap.add_argument("--dataset", type=Path, default=Path("build/dataset.npz"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002, 1003])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument(
        "--variety", type=float, default=None, help="default: the engine's recommended.variety"
    )
    ap.add_argument("--styles", nargs="*", default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    result = screen(args.engine, args.dataset, args.seeds, args.minutes, args.variety, args.styles)
    for s, r in result["styles"].items():
        print(f"{s:8s} ratio {r['min']:.2f}-{r['max']:.2f} over seeds {args.seeds}")
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
