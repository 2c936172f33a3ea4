"""The one error family users see.

Every problem a user can cause (bad file, bad rig, bad engine, failed job) raises a subclass of
:class:`DanceAIError`; its ``str()`` is one sentence naming the thing and the fix, so the Blender
operator and the CLI can show it verbatim. Anything else escaping is a bug.
"""

from __future__ import annotations

import os

__all__ = ["DanceAIError", "MotionFileError", "EngineError", "RigError", "JobError"]


class DanceAIError(Exception):
    """Base class of all user-facing Dance AI errors."""


class MotionFileError(DanceAIError):
    """A motion file (BVH, ...) could not be read or written.

    ``str()`` is ``"<file name>:<line>: <message>"`` (the line part only when known), so editors
    and users can jump straight to the bad spot.
    """

    def __init__(
        self, message: str, path: str | os.PathLike | None = None, line: int | None = None
    ):
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        prefix = ""
        if self.path is not None:
            prefix = os.path.basename(self.path) or self.path
            if self.line is not None:
                prefix += f":{self.line}"
            prefix += ": "
        elif self.line is not None:
            prefix = f"line {self.line}: "
        return prefix + self.message

    def __reduce__(self):
        return (type(self), (self.message, self.path, self.line))


class EngineError(DanceAIError):
    """A generation engine (ONNX model, metadata, runtime) cannot be loaded or run."""


class RigError(DanceAIError):
    """An armature/skeleton is unusable (missing bone, bad hierarchy, unmapped joint)."""


class JobError(DanceAIError):
    """A generation or bake job failed or was cancelled."""
