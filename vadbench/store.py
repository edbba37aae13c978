"""Safe file I/O for run files: a result or checkpoint is complete on disk or absent, and what is
read back is checked before it is trusted.

Everything is written to a temporary file in the target's folder and renamed over the target
(``os.replace`` is atomic on POSIX and Windows), so an interrupted run, a full disk or a killed
process never leaves a torn file that a later ``--resume``, ``eval`` or ``table`` would read. A
write that fails is one :class:`RunError` naming the file; the temporary file is removed.

Reading is as strict: a JSON file that does not parse or lacks the fields a command needs, and a
checkpoint that is truncated or holds anything but tensors and plain values (``weights_only``:
vadbench never unpickles code), are one :class:`RunError` naming the file.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from vadbench.errors import RunError


_UMASK = os.umask(0o22)
os.umask(_UMASK)  # read once: the process's umask (setting it back at once leaves it as it was)


def _why(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results get the permissions open() would give
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise RunError(f"cannot write {path}: {_why(exc)}; nothing was written there") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def check_writable(folder: Path) -> None:
    """Fail now, naming ``folder``, if files cannot be created in it (before any work is done)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RunError(f"cannot write to {folder}: {_why(exc)}") from None


def write_json(path: Path, data: Any) -> None:
    with atomic_open(path) as f:
        json.dump(data, f, indent=2, sort_keys=False, default=_jsonable)
        f.write("\n")


def read_json(path: Path, required: Sequence[str] = ()) -> Any:
    """A JSON object from ``path`` that has every key in ``required``; anything else is a RunError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path} not found") from None
    except OSError as exc:
        raise RunError(f"cannot read {path}: {_why(exc)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} is not valid JSON ({exc}); it is corrupt or was not written by vadbench") from None
    if required and not isinstance(data, dict):
        raise RunError(f"{path} holds a JSON {type(data).__name__}, not the record vadbench writes")
    missing = [key for key in required if key not in data]
    if missing:
        raise RunError(f"{path} lacks {', '.join(map(repr, missing))}; it is incomplete or was not written by vadbench")
    return data


def atomic_torch_save(obj: Any, path: Path) -> None:
    import torch  # here, so that reading and writing JSON never imports torch

    try:
        with atomic_open(path, "wb") as f:
            torch.save(obj, f)
    except RuntimeError as exc:  # torch's zip writer reports a failed write (e.g. a full disk) this way
        raise RunError(f"cannot write {path}: {str(exc).splitlines()[0]}; nothing was written there") from None


def load_torch(path: Path, device: str = "cpu") -> Any:
    """A checkpoint with tensors and plain values only; unsafe or damaged files are refused."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise RunError(f"checkpoint {path} was refused as unsafe: it holds objects other than tensors and plain "
                       "values, which vadbench never unpickles") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"checkpoint {path} is corrupt or truncated ({first})") from None


def restore(obj: Any, state: Any, path: Path) -> None:
    """``obj.load_state_dict(state)``; a state that does not fit (keys, shapes) is a RunError naming ``path``."""
    try:
        obj.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"checkpoint {path} does not fit {type(obj).__name__} as configured ({first})") from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
