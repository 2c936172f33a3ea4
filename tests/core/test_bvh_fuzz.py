"""Fuzz the BVH reader: random mutations of a real file may only raise MotionFileError.

3,000 mutated files (byte flips, structural characters, line deletions, duplications and swaps,
truncations). Each one must either parse into a consistent clip or raise MotionFileError; any
other exception is a bug. A watchdog alarm fails the test if the reader hangs.
"""

from __future__ import annotations

import os
import random
import signal

import numpy as np
import pytest

from dance_ai_addon.core.bvh import read_bvh
from dance_ai_addon.core.errors import MotionFileError

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
SOURCE = os.path.join(DATA, "animateddrawings_fair1_dab30.bvh")
N_CASES = 3000
SPECIAL = [b"{", b"}", b"\n", b"\r", b"\t", b" ", b"-", b"e", b".", b"0", b"9", b"nan", b"inf",
           b"\x00", b"\xff", b"JOINT", b"End Site", b"MOTION", b"CHANNELS 6", b"1e999"]  # fmt: skip


def base_bytes(frames: int = 6) -> bytes:
    raw = open(SOURCE, "rb").read()
    lines = raw.split(b"\n")
    m = next(i for i, line in enumerate(lines) if line.strip() == b"MOTION")
    lines[m + 1] = b"Frames: %d" % frames
    return b"\n".join(lines[: m + 3 + frames]) + b"\n"


def mutate(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    b = bytearray(data)
    if kind == 0:  # random byte flips
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == 1:  # insert / overwrite with structural tokens
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(b))
            tok = rng.choice(SPECIAL)
            if rng.random() < 0.5:
                b[pos:pos] = tok
            else:
                b[pos : pos + len(tok)] = tok
        return bytes(b)
    lines = data.split(b"\n")
    if kind == 2:  # delete lines
        for _ in range(rng.randint(1, 3)):
            if len(lines) > 1:
                del lines[rng.randrange(len(lines))]
    elif kind == 3:  # duplicate lines
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
    elif kind == 4:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == 5:  # truncate anywhere
        return data[: rng.randrange(len(data))]
    else:  # delete a random span of bytes
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 40)]
        return bytes(b)
    return b"\n".join(lines)


def _timeout(signum, frame):
    raise TimeoutError("read_bvh did not finish: the reader hangs on some input")


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM for the watchdog")
def test_fuzz_only_motion_file_error(tmp_path):
    base = base_bytes()
    path = tmp_path / "fuzz.bvh"
    path.write_bytes(base)
    ok_clip = read_bvh(path).clip
    rng = random.Random(20240611)
    outcomes = {"parsed": 0, "error": 0}
    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(300)  # watchdog for the whole loop, far above its normal run time
    try:
        for case in range(N_CASES):
            data = mutate(base, rng)
            path.write_bytes(data)
            try:
                bvh = read_bvh(path)
            except MotionFileError as e:
                outcomes["error"] += 1
                assert str(e).startswith("fuzz.bvh:"), (case, str(e))
                continue
            except Exception as e:  # noqa: BLE001 - the point of the test
                pytest.fail(f"case {case}: {type(e).__name__}: {e!r} escaped read_bvh")
            # a file that parses yields a complete, finite clip
            outcomes["parsed"] += 1
            c = bvh.clip
            assert c.n_frames >= 1 and c.rotations.shape == (c.n_frames, c.n_joints, 4)
            assert np.all(np.isfinite(c.rotations)) and np.all(np.isfinite(c.root_positions))
            assert sum(len(ch) for ch in bvh.channels) > 0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    # the mutations really exercise both paths
    assert outcomes["error"] > N_CASES // 3, outcomes
    assert outcomes["parsed"] > 50, outcomes
    assert ok_clip.n_frames == 6
