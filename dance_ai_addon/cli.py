"""Command-line front: ``python -m dance_ai_addon <subcommand> ...`` and ``--command dance_ai``.

Subcommands live in sibling modules ``cli_<name>.py``; each provides
``add_parser(subparsers) -> None`` and ``run(args) -> int``. Only the modules that exist are
offered, so the help always lists exactly what works. Subcommand modules must keep their top level
light (argparse only): heavy imports (numpy is fine, onnxruntime is not) belong inside ``run``.

Exit codes: 0 success, 1 failure reported by a subcommand, 2 usage error or
:class:`~.core.errors.DanceAIError` (printed as one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from types import ModuleType

PROG = "python -m dance_ai_addon"

#: Subcommands in help order; ``<name>`` maps to the module ``cli_<name>.py`` of this package.
SUBCOMMANDS: list[str] = ["engines", "generate", "retarget", "bake", "batch"]


def _package() -> str:
    return __package__ or "dance_ai_addon"


def available_subcommands() -> list[str]:
    """The subcommands whose ``cli_<name>`` module exists (found without importing it)."""
    names = []
    for name in SUBCOMMANDS:
        try:
            spec = importlib.util.find_spec(f"{_package()}.cli_{name}")
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            names.append(name)
    return names


def _load(name: str) -> ModuleType:
    return importlib.import_module(f".cli_{name}", _package())


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every available subcommand registered."""
    from . import manifest_version

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Dance AI: generate dance motion with ONNX engines, retarget it onto any "
        "armature and bake it, headless. Inside Blender: "
        "blender --background --command dance_ai <subcommand> ...",
    )
    parser.add_argument("--version", action="version", version=f"dance_ai {manifest_version()}")
    names = available_subcommands()
    # The metavar lists every subcommand, even ones whose parser was added without help=.
    metavar = "{" + ",".join(names) + "}" if names else "<subcommand>"
    subparsers = parser.add_subparsers(dest="command", metavar=metavar, title="subcommands")
    for name in names:
        module = _load(name)
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        for added in set(subparsers.choices) - before:
            subparsers.choices[added].set_defaults(_dance_ai_module=module)
    return parser


def _error_type() -> type[BaseException]:
    try:
        from .core.errors import DanceAIError
    except ImportError:  # the error module is part of the core; keep the CLI usable regardless
        return Exception
    return DanceAIError


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: never kill a Blender process
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    module = getattr(args, "_dance_ai_module", None)
    if module is None:
        parser.print_help(sys.stderr)
        return 2
    error_type = _error_type()
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if error_type is not Exception and isinstance(exc, error_type):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
