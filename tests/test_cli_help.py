"""``python -m dance_ai_addon``: help lists what exists, version, errors, no heavy imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib

from dance_ai_addon import cli

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args: list[str], cwd: str = REPO_ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "dance_ai_addon", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_exactly_the_existing_subcommands() -> None:
    proc = _run(["--help"])
    assert proc.returncode == 0, proc.stderr
    assert "usage: python -m dance_ai_addon" in proc.stdout
    pkg = os.path.join(REPO_ROOT, "dance_ai_addon")
    existing = [n for n in cli.SUBCOMMANDS if os.path.isfile(os.path.join(pkg, f"cli_{n}.py"))]
    assert cli.available_subcommands() == existing
    if existing:
        assert "{" + ",".join(existing) + "}" in proc.stdout


def test_version_is_the_manifest_version() -> None:
    with open(os.path.join(REPO_ROOT, "blender_manifest.toml"), "rb") as fh:
        version = tomllib.load(fh)["version"]
    proc = _run(["--version"])
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dance_ai {version}"


def test_no_subcommand_is_a_usage_error() -> None:
    proc = _run([])
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


def test_unknown_subcommand_is_a_usage_error_not_an_exit() -> None:
    # Called in-process (as Blender's --command handler does): argparse must not raise SystemExit.
    assert cli.main(["no-such-subcommand"]) == 2


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from dance_ai_addon.cli import main\n"
        "rc = main(['--help'])\n"
        "heavy = {'onnxruntime', 'tensorrt', 'pycuda', 'torch', 'bpy'} & set(sys.modules)\n"
        "print(rc, sorted(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 []"


def test_subcommand_plugin_and_error_mapping(tmp_path) -> None:
    """A ``cli_<name>.py`` module is discovered; DanceAIError -> one line on stderr, exit 2."""
    pkg = tmp_path / "dance_ai_addon"
    shutil.copytree(
        os.path.join(REPO_ROOT, "dance_ai_addon"),
        pkg,
        ignore=shutil.ignore_patterns("__pycache__", "cli_*.py"),
    )
    shutil.copy(os.path.join(REPO_ROOT, "blender_manifest.toml"), tmp_path)
    (pkg / "cli_batch.py").write_text(
        "from .core.errors import DanceAIError\n\n\n"
        "def add_parser(subparsers):\n"
        "    p = subparsers.add_parser('batch', help='run a job file')\n"
        "    p.add_argument('--fail', action='store_true')\n\n\n"
        "def run(args):\n"
        "    if args.fail:\n"
        "        raise DanceAIError('job.toml: no such file; pass an existing job file.')\n"
        "    print('batch ran')\n"
        "    return 0\n"
    )
    help_proc = _run(["--help"], cwd=str(tmp_path))
    assert help_proc.returncode == 0
    assert "{batch}" in help_proc.stdout and "run a job file" in help_proc.stdout
    ok = _run(["batch"], cwd=str(tmp_path))
    assert (ok.returncode, ok.stdout.strip()) == (0, "batch ran")
    bad = _run(["batch", "--fail"], cwd=str(tmp_path))
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: job.toml: no such file; pass an existing job file."
    assert "Traceback" not in bad.stderr
