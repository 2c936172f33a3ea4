"""BVH (Biovision hierarchy) reader and writer for real-world files.

Handles any channel order per joint, position channels on any joint, End Sites, CRLF/CR line
ends, tabs, scientific notation and long files: the MOTION block is split once and converted to
a float array in one numpy call, and Euler angles are converted per channel-order group, so a
3 MB file reads in a fraction of a second.

Anything malformed raises :class:`~dance_ai_addon.core.errors.MotionFileError` carrying the file
name and line number; the reader never returns a partial clip.

Conventions: rotation channels are intrinsic in the listed order (``Zrotation Xrotation
Yrotation`` means ``R = Rz @ Rx @ Ry``), degrees in the file, radians/quaternions in the clip.
Root position channels are absolute positions (the root OFFSET is kept only as rest data), as in
Blender's importer. Offsets stay in file units. Joints come back in the file's depth-first order.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np

from .clip import MotionClip
from .errors import DanceAIError, MotionFileError
from .rotations import euler_to_quat, quat_identity, quat_mul, quat_to_euler
from .skeleton import Skeleton

__all__ = ["BvhFile", "read_bvh", "load_bvh_clip", "write_bvh", "fps_from_frame_time"]

_CHANNELS = {
    "XPOSITION": "Xposition",
    "YPOSITION": "Yposition",
    "ZPOSITION": "Zposition",
    "XROTATION": "Xrotation",
    "YROTATION": "Yrotation",
    "ZROTATION": "Zrotation",
}
_AXIS = {"X": 0, "Y": 1, "Z": 2}
_FRAMES_RE = re.compile(r"^\s*frames\s*:\s*(\S+)\s*$", re.IGNORECASE)
_FTIME_RE = re.compile(r"^\s*frame\s+time\s*:\s*(\S+)\s*$", re.IGNORECASE)
_MAX_CHANNELS = 6
_COMMON_FPS = {8.0, 10.0, 12.0, 15.0, 20.0, 24.0, 25.0, 30.0, 40.0, 48.0, 50.0, 60.0, 72.0, 75.0,
               90.0, 96.0, 100.0, 120.0, 144.0, 150.0, 180.0, 200.0, 240.0, 250.0, 300.0, 360.0,
               480.0, 500.0, 960.0, 1000.0}  # fmt: skip


@dataclass
class BvhFile:
    """Everything a BVH file says: the clip plus what a clip alone cannot hold.

    ``channels[j]`` are joint j's channel names as spelled canonically (``Zrotation``...);
    ``end_sites`` maps a joint index to its End Site offset; ``joint_translations`` holds the
    per-frame position-channel values ``(T, 3)`` of non-root joints that have them.
    """

    clip: MotionClip
    channels: list[list[str]]
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    joint_translations: dict[int, np.ndarray] = field(default_factory=dict)
    frame_time: float = 0.0


def fps_from_frame_time(text: str) -> float:
    """Frames per second of a ``Frame Time`` string, snapped to what the writer meant.

    A frame time is printed with limited digits (0.0083333 for 1/120 s); an integer frame rate or
    an NTSC rate (23.976, 29.97, 59.94, 119.88) whose frame time lies within half a unit of the
    last printed digit is taken as exact, otherwise ``1 / frame_time``. Raises ValueError.
    """
    ft = float(text)
    if not (math.isfinite(ft) and ft > 0.0):
        raise ValueError(text)
    try:
        exp = Decimal(text.strip()).as_tuple().exponent
        half = 0.5 * 10.0 ** int(exp) if isinstance(exp, int) else 0.0
    except (InvalidOperation, ValueError, OverflowError):
        half = 0.0
    half = max(half, ft * 1e-12)
    raw = 1.0 / ft
    candidates = [float(round(raw))] + [k * 1000.0 / 1001.0 for k in (24, 30, 60, 120)]
    for c in candidates:
        if c <= 0 or abs(1.0 / c - ft) > half * (1.0 + 1e-9):
            continue
        # a coarse frame time (0.0123) only snaps to a customary rate, not to any integer
        if abs(c - raw) <= 2e-3 * raw or c in _COMMON_FPS:
            return c
    return raw


def _err(path, line, msg) -> MotionFileError:
    return MotionFileError(msg, path=path, line=line)


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _parse_float(tok: str, path, line: int, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise _err(path, line, f"{what} '{tok[:40]}' is not a number; fix the value.") from None
    if not math.isfinite(v):
        raise _err(path, line, f"{what} is {tok}; offsets must be finite numbers.")
    return v


def _parse_hierarchy(lines: list[str], path):
    """Return names, parents, offsets, channels, end_sites from the header lines."""
    tokens: list[tuple[str, int]] = []
    for ln, line in enumerate(lines, 1):
        for tok in line.split():
            tokens.append((tok, ln))
    if not tokens or tokens[0][0].upper() != "HIERARCHY":
        ln = tokens[0][1] if tokens else 1
        raise _err(path, ln, "does not start with HIERARCHY; it is not a BVH file.")

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float] | None] = []
    channels: list[list[str] | None] = []
    end_sites: dict[int, np.ndarray] = {}
    # stack entries: joint index, or ("end", joint index, offset list holder)
    stack: list = []
    end_offset: list[float] | None = None
    finished = False
    n = len(tokens)
    i = 1
    last_ln = tokens[-1][1]

    def need(k: int, what: str) -> None:
        if i + k > n:
            raise _err(path, last_ln, f"the HIERARCHY ends early, expected {what}.")

    while i < n:
        tok, ln = tokens[i]
        up = tok.upper()
        if finished:
            raise _err(path, ln, f"unexpected '{tok[:40]}' after the skeleton's closing brace.")
        if up in ("ROOT", "JOINT"):
            if up == "ROOT" and names:
                raise _err(path, ln, "has a second ROOT; only one skeleton per file is supported.")
            if up == "JOINT" and (not stack or isinstance(stack[-1], tuple)):
                raise _err(path, ln, "has a JOINT outside any joint block; check the braces.")
            if up == "ROOT" and stack:
                raise _err(path, ln, "has ROOT inside a block; check the braces.")
            # name: the following tokens on the same line, up to an optional '{'
            i += 1
            parts = []
            while i < n and tokens[i][1] == ln and tokens[i][0] != "{":
                parts.append(tokens[i][0])
                i += 1
            name = " ".join(parts)
            if not name:
                raise _err(path, ln, f"{up} has no name; give every joint a name.")
            if name in names:
                raise _err(path, ln, f"joint name '{name[:40]}' is used twice.")
            if i >= n or tokens[i][0] != "{":
                raise _err(path, ln, f"joint '{name[:40]}' is not followed by '{{'.")
            i += 1
            parents.append(stack[-1] if stack else -1)
            names.append(name)
            offsets.append(None)
            channels.append(None)
            stack.append(len(names) - 1)
            continue
        if up == "END":
            if not stack or isinstance(stack[-1], tuple):
                raise _err(path, ln, "has an End Site outside a joint block; check the braces.")
            need(2, "'Site {'")
            if tokens[i + 1][0].upper() != "SITE" or tokens[i + 2][0] != "{":
                raise _err(path, ln, "'End' must be followed by 'Site {'.")
            j = stack[-1]
            if j in end_sites:
                raise _err(path, ln, f"joint '{names[j][:40]}' has two End Sites.")
            end_offset = None
            stack.append(("end", j))
            i += 3
            continue
        if up == "OFFSET":
            if not stack:
                raise _err(path, ln, "has OFFSET outside a joint block; check the braces.")
            need(3, "three OFFSET values")
            vals = [
                _parse_float(tokens[i + k][0], path, tokens[i + k][1], "OFFSET value")
                for k in (1, 2, 3)
            ]
            top = stack[-1]
            if isinstance(top, tuple):
                if end_offset is not None:
                    raise _err(path, ln, "End Site has two OFFSET lines.")
                end_offset = vals
            else:
                if offsets[top] is not None:
                    raise _err(path, ln, f"joint '{names[top][:40]}' has two OFFSET lines.")
                offsets[top] = vals
            i += 4
            continue
        if up == "CHANNELS":
            if not stack or isinstance(stack[-1], tuple):
                raise _err(path, ln, "has CHANNELS outside a joint block; check the braces.")
            j = stack[-1]
            if channels[j] is not None:
                raise _err(path, ln, f"joint '{names[j][:40]}' has two CHANNELS lines.")
            need(1, "a channel count")
            try:
                count = int(tokens[i + 1][0])
            except ValueError:
                raise _err(
                    path, ln, f"channel count '{tokens[i + 1][0][:40]}' is not an integer."
                ) from None
            if not 0 <= count <= _MAX_CHANNELS:
                raise _err(path, ln, f"joint '{names[j][:40]}' declares {count} channels; use 0-6.")
            need(1 + count, f"{count} channel names")
            chans = []
            for k in range(count):
                ctok, cln = tokens[i + 2 + k]
                canon = _CHANNELS.get(ctok.upper())
                if canon is None:
                    raise _err(
                        path,
                        cln,
                        f"unknown channel '{ctok[:40]}'; BVH channels are X/Y/Z position and "
                        "rotation.",
                    )
                if canon in chans:
                    raise _err(path, cln, f"channel {canon} is listed twice.")
                chans.append(canon)
            channels[j] = chans
            i += 2 + count
            continue
        if tok == "}":
            if not stack:
                raise _err(path, ln, "has an extra '}'; check the braces.")
            top = stack.pop()
            if isinstance(top, tuple):
                if end_offset is None:
                    raise _err(path, ln, "End Site has no OFFSET.")
                end_sites[top[1]] = np.array(end_offset, dtype=np.float64)
            else:
                if offsets[top] is None:
                    raise _err(path, ln, f"joint '{names[top][:40]}' has no OFFSET.")
                if channels[top] is None:
                    channels[top] = []
            if not stack:
                finished = True
            i += 1
            continue
        if tok == "{":
            raise _err(path, ln, "has a '{' that opens no joint; check the braces.")
        raise _err(path, ln, f"unexpected '{tok[:40]}' in the HIERARCHY.")
    if not names:
        raise _err(path, last_ln, "has no ROOT joint.")
    if stack:
        raise _err(path, last_ln + 1, "HIERARCHY is missing a closing '}'.")
    return names, parents, offsets, channels, end_sites


def _frames_to_quats(values: np.ndarray, channels, columns) -> np.ndarray:
    """Local quaternions ``(T, J, 4)`` from the frame table, one vectorised call per order."""
    T = values.shape[0]
    J = len(channels)
    rot = quat_identity((T, J))
    groups: dict[str, tuple[list[int], list[list[int]]]] = {}
    for j, chans in enumerate(channels):
        order = "".join(c[0] for c in chans if c.endswith("rotation"))
        if not order:
            continue
        cols = [columns[j] + k for k, c in enumerate(chans) if c.endswith("rotation")]
        groups.setdefault(order, ([], []))
        groups[order][0].append(j)
        groups[order][1].append(cols)
    for order, (joints, cols) in groups.items():
        ang = np.radians(values[:, np.array(cols)])  # (T, Jg, k)
        if len(order) == 3:
            rot[:, joints] = euler_to_quat(ang, order)
        else:
            q = quat_identity(ang.shape[:2])
            for k, ax in enumerate(order):
                half = 0.5 * ang[..., k]
                qa = np.zeros(ang.shape[:2] + (4,))
                qa[..., 0] = np.cos(half)
                qa[..., 1 + _AXIS[ax]] = np.sin(half)
                q = quat_mul(q, qa)
            rot[:, joints] = q
    return rot


def _positions(values, chans, col, offset) -> np.ndarray | None:
    pos_idx = [(k, _AXIS[c[0]]) for k, c in enumerate(chans) if c.endswith("position")]
    if not pos_idx:
        return None
    out = np.repeat(np.asarray(offset, dtype=np.float64)[None], values.shape[0], axis=0)
    for k, ax in pos_idx:
        out[:, ax] = values[:, col + k]
    return out


def read_bvh(path: str | os.PathLike) -> BvhFile:
    """Parse a BVH file; MotionFileError (with file name and line) for anything malformed."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise MotionFileError(
            f"cannot be read ({e.strerror or e}); check the path.", path
        ) from None
    text = raw.decode("utf-8", errors="replace")
    lines = _split_lines(text)
    motion_at = None
    for k, line in enumerate(lines):
        if line.strip().upper() == "MOTION":
            motion_at = k
            break
    if motion_at is None:
        raise _err(path, len(lines), "has no MOTION section; the file is truncated or not a BVH.")
    names, parents, offsets, channels, end_sites = _parse_hierarchy(lines[:motion_at], path)

    # --- MOTION header -------------------------------------------------------------------------
    k = motion_at + 1
    header_vals = []
    for regex, what in ((_FRAMES_RE, "Frames:"), (_FTIME_RE, "Frame Time:")):
        while k < len(lines) and not lines[k].strip():
            k += 1
        if k >= len(lines):
            raise _err(path, k, f"the MOTION section ends before its '{what}' line.")
        m = regex.match(lines[k])
        if not m:
            raise _err(path, k + 1, f"expected '{what} <value>' here, got '{lines[k][:40]}'.")
        header_vals.append((m.group(1), k + 1))
        k += 1
    (frames_tok, frames_ln), (ft_tok, ft_ln) = header_vals
    try:
        n_frames = int(frames_tok)
    except ValueError:
        raise _err(path, frames_ln, f"frame count '{frames_tok[:40]}' is not an integer.") from None
    if n_frames < 0:
        raise _err(path, frames_ln, f"frame count {n_frames} is negative.")
    if n_frames == 0:
        raise _err(path, frames_ln, "has no frames; export at least one frame of motion.")
    try:
        fps = fps_from_frame_time(ft_tok)
        frame_time = float(ft_tok)
    except ValueError:
        raise _err(
            path, ft_ln, f"Frame Time '{ft_tok[:40]}' must be a positive number of seconds."
        ) from None

    # --- frame table ---------------------------------------------------------------------------
    n_chan = sum(len(c) for c in channels)
    if n_chan == 0:
        raise _err(path, motion_at + 1, "declares no channels at all; there is no motion to read.")
    data_lines = lines[k:]
    rows = [(ln, line.split()) for ln, line in enumerate(data_lines, k + 1)]
    rows = [r for r in rows if r[1]]
    if len(rows) < n_frames:
        last = rows[-1][0] + 1 if rows else k + 1
        raise _err(
            path,
            last,
            f"the MOTION block is truncated: {n_frames} frames declared but only {len(rows)} "
            "present.",
        )
    if len(rows) > n_frames:
        raise _err(
            path,
            rows[n_frames][0],
            f"has more frame lines than the {n_frames} declared in 'Frames:'; fix the count.",
        )
    counts = np.fromiter((len(r[1]) for r in rows), dtype=np.int64, count=len(rows))
    bad = np.nonzero(counts != n_chan)[0]
    if bad.size:
        b = int(bad[0])
        raise _err(
            path,
            rows[b][0],
            f"frame {b + 1} has {counts[b]} values but the HIERARCHY declares {n_chan} channels.",
        )
    flat = [tok for _, toks in rows for tok in toks]
    try:
        values = np.array(flat, dtype=np.float64).reshape(n_frames, n_chan)
    except ValueError:
        for ln, toks in rows:
            for tok in toks:
                try:
                    float(tok)
                except ValueError:
                    raise _err(path, ln, f"value '{tok[:40]}' is not a number.") from None
        raise _err(path, rows[0][0], "the MOTION block could not be read as numbers.") from None
    finite = np.isfinite(values)
    if not np.all(finite):
        b = int(np.nonzero(~np.all(finite, axis=1))[0][0])
        raise _err(path, rows[b][0], f"frame {b + 1} contains NaN or Inf; fix or re-export it.")

    columns = np.concatenate([[0], np.cumsum([len(c) for c in channels])[:-1]]).astype(int)
    rot = _frames_to_quats(values, channels, columns)
    off = np.array(offsets, dtype=np.float64)
    root = _positions(values, channels[0], columns[0], off[0])
    if root is None:
        root = np.repeat(off[:1], n_frames, axis=0)
    joint_translations = {}
    for j in range(1, len(names)):
        p = _positions(values, channels[j], columns[j], off[j])
        if p is not None:
            joint_translations[j] = p
    try:
        skeleton = Skeleton(names, np.array(parents, dtype=np.int64), off)
        name = os.path.splitext(os.path.basename(os.fspath(path)))[0]
        clip = MotionClip(skeleton, rot, root, fps, name)
    except DanceAIError as e:  # values out of range for a clip (e.g. overflow)
        raise MotionFileError(str(e), path) from None
    return BvhFile(clip, [list(c) for c in channels], end_sites, joint_translations, frame_time)


def load_bvh_clip(path: str | os.PathLike) -> MotionClip:
    """The motion of a BVH file as a MotionClip (offsets in file units)."""
    return read_bvh(path).clip


def _default_channels(n: int) -> list[list[str]]:
    rot = ["Zrotation", "Xrotation", "Yrotation"]
    return [["Xposition", "Yposition", "Zposition", *rot]] + [list(rot) for _ in range(n - 1)]


def _dfs_order(parents: np.ndarray) -> list[int]:
    children: list[list[int]] = [[] for _ in range(len(parents))]
    for j in range(1, len(parents)):
        children[int(parents[j])].append(j)
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    return order


def _fmt(v) -> str:
    return " ".join(f"{float(x):.6f}" for x in v)


def write_bvh(
    path: str | os.PathLike,
    clip: MotionClip,
    channels: list[list[str]] | None = None,
    end_sites: dict[int, np.ndarray] | None = None,
    joint_translations: dict[int, np.ndarray] | None = None,
) -> None:
    """Write ``clip`` as BVH (degrees, 6 decimals; joints in depth-first order).

    Default channels: root ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``,
    others ``Zrotation Xrotation Yrotation``. A joint may have 0 or 3 rotation channels (0 only
    if its rotation is the identity throughout) and any position channels; non-root position
    channels take ``joint_translations[j]`` or else the joint's offset. Without ``end_sites``,
    every leaf gets an End Site half its own offset long, so importers give it a length.
    """
    sk = clip.skeleton
    J = sk.n_joints
    if channels is None:
        channels = _default_channels(J)
    if len(channels) != J:
        raise MotionFileError(f"got channels for {len(channels)} joints, the clip has {J}.", path)
    canon: list[list[str]] = []
    for j, chans in enumerate(channels):
        cj = []
        for c in chans:
            cc = _CHANNELS.get(str(c).upper())
            if cc is None or cc in cj:
                raise MotionFileError(f"joint '{sk.names[j]}' has bad channel '{c}'.", path)
            cj.append(cc)
        order = "".join(c[0] for c in cj if c.endswith("rotation"))
        if len(order) not in (0, 3):
            raise MotionFileError(
                f"joint '{sk.names[j]}' needs 0 or 3 rotation channels to be written, got {order}.",
                path,
            )
        canon.append(cj)
    T = clip.n_frames
    columns: list[np.ndarray] = []
    order_j = _dfs_order(sk.parents)
    # rotations per order group, vectorised
    euler: dict[int, np.ndarray] = {}
    groups: dict[str, list[int]] = {}
    for j in range(J):
        order = "".join(c[0] for c in canon[j] if c.endswith("rotation"))
        if order:
            groups.setdefault(order, []).append(j)
        elif np.any(np.abs(np.abs(clip.rotations[:, j, 0]) - 1.0) > 1e-9):
            raise MotionFileError(
                f"joint '{sk.names[j]}' rotates but has no rotation channels; add them.", path
            )
    for order, joints in groups.items():
        ang = np.degrees(quat_to_euler(clip.rotations[:, joints], order))
        for k, j in enumerate(joints):
            euler[j] = ang[:, k]
    jt = joint_translations or {}
    for j in order_j:
        rot_k = 0
        order = "".join(c[0] for c in canon[j] if c.endswith("rotation"))
        if j == 0:
            pos = clip.root_positions
        elif j in jt:
            pos = np.asarray(jt[j], dtype=np.float64)
            if pos.shape != (T, 3):
                raise MotionFileError(
                    f"joint translations for '{sk.names[j]}' must be ({T}, 3), got {pos.shape}.",
                    path,
                )
        else:
            pos = np.broadcast_to(sk.offsets[j], (T, 3))
        for c in canon[j]:
            if c.endswith("position"):
                columns.append(pos[:, _AXIS[c[0]]])
            else:
                columns.append(euler[j][:, order.index(c[0])])
                rot_k += 1

    if end_sites is None:
        end_sites = {}
        for j in range(J):
            if not sk.children(j):
                off = sk.offsets[j]
                n = float(np.linalg.norm(off))
                end_sites[j] = off * 0.5 if n > 1e-9 else np.array([0.0, 1.0, 0.0])
    out: list[str] = ["HIERARCHY"]
    children = [sk.children(j) for j in range(J)]
    # iterative DFS emitting open/close braces
    stack: list[tuple[int, bool]] = [(0, False)]
    depth = 0
    while stack:
        j, closing = stack.pop()
        if closing:
            if j in end_sites:
                pad = "\t" * (depth)
                out += [f"{pad}End Site", f"{pad}{{", f"{pad}\tOFFSET {_fmt(end_sites[j])}"]
                out.append(f"{pad}}}")
            depth -= 1
            out.append("\t" * depth + "}")
            continue
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {sk.names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET {_fmt(sk.offsets[j])}")
        out.append(f"{pad}\tCHANNELS {len(canon[j])}" + "".join(" " + c for c in canon[j]))
        depth += 1
        stack.append((j, True))
        for c in reversed(children[j]):
            stack.append((c, False))
    out.append("MOTION")
    out.append(f"Frames: {T}")
    out.append(f"Frame Time: {1.0 / clip.fps:.10g}")
    if columns:
        table = np.stack(columns, axis=1)
        fmt = " ".join(["%.6f"] * table.shape[1])
        body = "\n".join(fmt % tuple(r) for r in table.tolist())
    else:
        raise MotionFileError("has no channels to write; give at least one joint channels.", path)
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\n".join(out))
            fh.write("\n")
            fh.write(body)
            fh.write("\n")
    except OSError as e:
        raise MotionFileError(
            f"cannot be written ({e.strerror or e}); check the folder.", path
        ) from None
