"""Store an ONNX engine's large float32 weights as float16, cast back to float32 on load.

Why: the extension zip must stay under 25 MB with onnxruntime inside it, and float32 weights
of random-looking values barely compress. Halving the stored weights halves the engine in the
zip while the graph's inputs, outputs and arithmetic stay float32 (one Cast per weight, which
ONNX Runtime folds into a constant at session creation and TensorRT folds at build time), so
the engine contract is unchanged. Weight rounding to float16 moves outputs by ~1e-3 relative.

    python -m training.fp16_weights IN.onnx [OUT.onnx]   # in place when OUT is omitted
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Small tensors (biases, norms, shape constants) stay float32: they cost nothing and some
# (e.g. clamp ranges) are better kept exact.
MIN_ELEMENTS = 1024
FP16_SUFFIX = "__fp16"


def store_weights_fp16(model: onnx.ModelProto, min_elements: int = MIN_ELEMENTS) -> int:
    """Rewrite ``model`` in place; returns how many initializers were converted."""
    graph = model.graph
    converted = 0
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        if values.size < min_elements:
            continue
        if not np.all(np.abs(values) < np.finfo(np.float16).max):
            continue  # would overflow: keep it exact
        name = init.name
        init.CopyFrom(numpy_helper.from_array(values.astype(np.float16), name + FP16_SUFFIX))
        casts.append(
            helper.make_node(
                "Cast", [name + FP16_SUFFIX], [name], to=TensorProto.FLOAT, name=f"cast_{name}"
            )
        )
        converted += 1
    # The casts must run before every consumer: put them first (the graph stays topological).
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return converted


def convert_file(src: Path, dst: Path) -> int:
    """Convert ``src`` into ``dst`` (may be the same path), keeping all metadata."""
    model = onnx.load(str(src))
    n = store_weights_fp16(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return n


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    src = Path(args[0])
    dst = Path(args[1]) if len(args) == 2 else src
    before = src.stat().st_size
    n = convert_file(src, dst)
    print(
        f"{dst}: {n} weights stored as float16, {before / 1e6:.2f} -> "
        f"{dst.stat().st_size / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
