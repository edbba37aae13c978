"""The HDF5 clip cache: one file per (dataset, preprocessing), built once, read by every run.

Layout of ``<cache dir>/<dataset>[-<options hash>]-<H>x<W>-<color>[-<compression>].h5`` (HDF5 1.10
file format; the compression is named unless it is ``none``)::

    attrs: format, vadbench_version, dataset, options (JSON), fingerprint, height, width,
           color, compression, partial, created, complete, missing (JSON: split -> video names
           absent from a --partial copy), protocol (JSON: data-side protocol fields, e.g.
           gt_source), decoder
    /train/<video>/frames   uint8 [T, H, W, C]   chunked (1, H, W, C): one frame per chunk, so a
                                                 clip read decompresses only its own frames;
                                                 compressed as ``compression`` says
    /test/<video>/frames    uint8 [T, H, W, C]
    /test/<video>/labels    uint8 [T]            1 = anomalous
    /test/<video>/masks     uint8 [T, h0, w0]    optional pixel ground truth at source size,
                                                 gzip-compressed (masks are mostly zeros)
    every /<split>/<video> group has attrs: origin (source path), source_height, source_width
    text attributes are fixed-length UTF-8 strings (read them with :func:`attributes`)

Frames are stored RGB (C = 3) or grayscale (C = 1), resized with OpenCV's bilinear filter (the
official MNAD and ano_pred preprocessing).

Checksums: every frame, label and mask chunk carries HDF5's Fletcher-32 checksum, and the 1.10
file format checksums the metadata (superblock, object headers, chunk indexes; text attributes
are kept in the headers, not in the unchecksummed global heap), so an overwritten block or a
flipped bit fails the read instead of silently changing a frame, and with it an AUC.
Every read failure (checksum, damaged metadata, truncated file) is one :class:`CorruptCacheError`
line naming the file, the video and the command that rebuilds it.

Identity: a cache is reused when it is complete, of this ``FORMAT``, built from the same source
(``fingerprint``: adapter, options, source file names, sizes and times) at the same height, width,
colour and compression (:mod:`vadbench.data.compression`), and, when it lacks videos (``missing``,
a ``--partial`` build), only by a build that passes ``partial`` too: anything else rebuilds, or
refuses as a first build would. Each compression has its own file name, so asking for another
one builds a second file beside the first instead of replacing it, and a file is only reused
when its ``compression`` attribute (in the checksummed header) says the name asked for.

Building: worker threads decode and resize videos block by block; the main thread alone writes
(and compresses) the file. At most ``_BLOCK`` frames per worker are between the source and the
file at any time, whatever the length of a video or the size of a split, so memory stays flat
(measured up to a ShanghaiTech-sized copy in ``benchmarks/README.md``). It is written as
``<cache>.tmp<pid>`` and renamed when complete, under a file lock, so no reader ever sees a
half-written cache and two processes never build the same one. A failed build removes its temporary file; a killed one leaves it, and the next build
removes it once that process is gone. The free space is checked against an estimate first, and a
write failure (disk full, file-size limit) is one :class:`CacheError` line naming the directory.
A current cache in a directory the user cannot write is used without the lock: files only
appear by an atomic rename, so a current one is whole.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import cv2
import h5py
import hdf5plugin  # noqa: F401  registers the Blosc filter with HDF5, which reading a Blosc cache needs
import numpy as np
import torch
from filelock import FileLock

from vadbench._version import __version__
from vadbench.console import console
from vadbench.data.compression import DEFAULT as DEFAULT_COMPRESSION
from vadbench.data.compression import check_compression, frame_filters
from vadbench.data.source import SPLITS, DatasetAdapter, SourceVideo, SplitListing
from vadbench.types import ClipSpec, InputSpec
from vadbench.errors import CacheError, DatasetError

FORMAT = 3  # 2: Fletcher-32 checksums, checksummed (1.10) metadata, `partial` in the identity; 3: `compression`
_LIBVER = ("v110", "v110")  # the oldest file format with metadata checksums; HDF5 >= 1.10 reads it
_BLOCK = 32  # frames decoded and written together: bounds memory per video being built
_H5_FAILURES = (OSError, KeyError, RuntimeError, ValueError, TypeError)  # what h5py raises on a damaged file
_NAME = re.compile(r"(?P<dataset>.+?)(?:-[0-9a-f]{8})?-(?P<height>\d+)x(?P<width>\d+)-(?P<color>gray|rgb)"
                   r"(?:-(?P<compression>[a-z0-9-]+))?\.h5")


# -- errors -----------------------------------------------------------------------------------
class CorruptCacheError(CacheError):
    """A cache file that cannot be read; one line, also when raised in a DataLoader worker.

    torch re-raises a worker's exception in the main process as ``type(exc)(text)``, ``text``
    being "Caught ... in DataLoader worker process N." and the worker's traceback, whose last
    line is the original message: the constructor keeps that line.
    """

    def __init__(self, message: str) -> None:
        if message.startswith("Caught ") and "\nOriginal Traceback" in message:
            message = message.rstrip().rsplit("\n", 1)[-1].split(": ", 1)[-1]
        super().__init__(message)


def parse_cache_name(path: Path) -> tuple[str, InputSpec] | None:
    """The dataset and spec that :func:`cache_path` put in ``path``'s name; None for another name."""
    match = _NAME.fullmatch(Path(path).name)
    if match is None:
        return None
    return match["dataset"], InputSpec(int(match["height"]), int(match["width"]), match["color"])  # type: ignore[arg-type]


def rebuild_hint(path: Path) -> str:
    """The command that rebuilds the cache file ``path`` (dataset, size, colour, compression from its name)."""
    match = _NAME.fullmatch(Path(path).name)
    if match is None:
        return "prepare the dataset again with --rebuild"
    compression = f" --compression {match['compression']}" if match["compression"] else ""
    return (f"rebuild it with `vadbench datasets prepare {match['dataset']} --size {match['height']}x{match['width']} "
            f"--color {match['color']}{compression} --rebuild`")


def _reason(exc: BaseException) -> str:
    """A short one-line reason for an OS or HDF5 error (HDF5's messages span lines, name buffers)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes its text
    codes = [int(n) for n in re.findall(r"errno = (\d+)", text)]  # HDF5 puts the OS error inside its message
    code = getattr(exc, "errno", None) or next((c for c in codes if c), None)
    return os.strerror(code) if code else " ".join(text.split())[:300]


@contextmanager
def _reading(path: Path, video: str | None = None) -> Iterator[None]:
    """Make any h5py failure inside the block one :class:`CorruptCacheError` about ``path``."""
    try:
        yield
    except _H5_FAILURES as exc:
        where = f" at video {video}" if video else ""
        raise CorruptCacheError(f"cache file {path} is corrupt or truncated{where} ({_reason(exc)}); "
                                f"{rebuild_hint(path)}") from None


def _write_failure(directory: Path, exc: BaseException) -> CacheError:
    return CacheError(f"cannot write the cache in {directory}: {_reason(exc)}; free some space "
                      "or set VADBENCH_CACHE to another directory")


def _human(n_bytes: int) -> str:
    """``13434880`` -> ``"12.8 MiB"``."""
    size, unit = float(n_bytes), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{n_bytes} B" if unit == "B" else f"{size:.1f} {unit}"


def _inline(value: Any) -> Any:
    """An attribute value as stored: text as a fixed-length UTF-8 string, which HDF5 keeps in the
    (checksummed) object header; h5py's default variable-length strings live in the global heap,
    which has no checksum, so damage there would silently change a fingerprint or a label source."""
    if not isinstance(value, str):
        return value
    data = value.encode()
    return np.array(data, dtype=h5py.string_dtype("utf-8", max(1, len(data))))


def attributes(obj: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    """The attributes of a cache object, text decoded (they are stored as fixed-length bytes)."""
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in obj.attrs.items()}


# -- building ---------------------------------------------------------------------------------
def convert_frame(frame: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Resize a source frame (H×W gray or H×W×3 RGB, uint8) to ``spec``: H'×W'×C uint8."""
    if frame.dtype != np.uint8:
        raise DatasetError(f"frame has dtype {frame.dtype}, expected uint8")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if spec.color == "gray" and frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    elif spec.color == "rgb" and frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[:2] != (spec.height, spec.width):
        frame = cv2.resize(frame, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
    return frame.reshape(spec.height, spec.width, spec.channels)


def _blocks(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    block: list[np.ndarray] = []
    for frame in frames:
        block.append(frame)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


class _Block(NamedTuple):
    """Up to ``_BLOCK`` frames (uint8 [n, H, W, C], at the cache's spec) or masks (uint8 [n, h0, w0])."""

    kind: str  # "frames" or "masks"
    data: np.ndarray
    source_hw: tuple[int, int]


def _converted(video: SourceVideo, spec: InputSpec) -> Iterator[_Block]:
    """``video``'s frames, then its masks, as stored. Runs in worker threads: touches no HDF5 object.

    Each frame is resized as soon as it is decoded, so a block holds frames at the cache's size
    (a ShanghaiTech frame at its source size, 480×856, is six times one at 256×256)."""
    source_hw: tuple[int, int] | None = None

    def convert(frame: np.ndarray) -> np.ndarray:
        nonlocal source_hw
        source_hw = source_hw or frame.shape[:2]
        return convert_frame(frame, spec)

    for block in _blocks(map(convert, video.frames()), _BLOCK):
        yield _Block("frames", np.stack(block), source_hw)  # type: ignore[arg-type]
    if video.masks is not None:
        for block in _blocks(video.masks(), _BLOCK):
            masks = np.stack([np.asarray(m) > 0 for m in block]).astype(np.uint8)
            yield _Block("masks", masks, masks.shape[1:])


def _growing(group: h5py.Group, name: str, item: tuple[int, ...], **filters: Any) -> h5py.Dataset:
    """An empty, extendable, checksummed uint8 dataset of ``item``-shaped rows, one row per chunk
    (h5py puts Fletcher-32 after any compression ``filters``: the stored bytes are checksummed)."""
    return group.create_dataset(name, shape=(0, *item), maxshape=(None, *item), dtype=np.uint8,
                                chunks=(1, *item), fletcher32=True, **filters)


def _append(ds: h5py.Dataset, block: np.ndarray) -> None:
    start = ds.shape[0]
    ds.resize(start + len(block), axis=0)
    ds[start:] = block


class _VideoWriter:
    """One video's group and datasets in the file being built; only the main thread uses it."""

    def __init__(self, group: h5py.Group, video: SourceVideo, spec: InputSpec, filters: dict[str, Any]) -> None:
        self.group, self.video = group, video
        self.frames = _growing(group, "frames", (spec.height, spec.width, spec.channels), **filters)
        self.masks: h5py.Dataset | None = None

    def add(self, block: _Block) -> None:
        if block.kind == "masks":
            if self.masks is None:
                self.masks = _growing(self.group, "masks", block.data.shape[1:], compression="gzip",
                                      compression_opts=4)
            _append(self.masks, block.data)
            return
        if self.frames.shape[0] == 0:
            height, width = block.source_hw
            self.group.attrs.update(origin=_inline(self.video.origin), source_height=height, source_width=width)
        _append(self.frames, block.data)

    def finish(self) -> int:
        """Check the frame, label and mask counts and write the labels; returns the frame count."""
        video, n = self.video, self.frames.shape[0]
        if n == 0:
            raise DatasetError(f"video {video.name!r} has no frames ({video.origin})")
        if video.labels is not None:
            labels = np.asarray(video.labels).reshape(-1)
            if len(labels) != n:
                raise DatasetError(
                    f"label count {len(labels)} differs from frame count {n} in video {video.name!r} ({video.origin})"
                )
            self.group.create_dataset("labels", data=(labels > 0).astype(np.uint8), fletcher32=True)
        count = 0 if self.masks is None else self.masks.shape[0]
        if video.masks is not None and count != n:
            raise DatasetError(
                f"pixel-mask count {count} differs from frame count {n} in video {video.name!r} ({video.origin})"
            )
        return n


class _Sink:
    """The file a cache is written through (h5py's ``fileobj`` driver), which keeps every write
    failure from HDF5: once a write has failed, HDF5 crashes the process (a segfault when the file
    is closed, or at exit). The first failure (disk full, file-size limit) is kept in ``error``,
    later writes are dropped, and :meth:`guard`, around each step of the build, reports it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.raw = open(path, "w+b", buffering=0)
        except OSError as exc:
            raise _write_failure(path.parent, exc) from None
        self.error: BaseException | None = None

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size) or b""

    def readinto(self, buffer: Any) -> int:
        return self.raw.readinto(buffer) or 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while self.error is None and done < len(view):  # a raw write may be partial
            try:
                written = self.raw.write(view[done:]) or 0
            except OSError as exc:
                self.error = exc
                break
            if not written:  # not on a regular file; but never loop forever
                self.error = OSError(errno.EIO, os.strerror(errno.EIO))
            done += written
        return len(view)  # written or dropped, HDF5 is told it went well

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                self.raw.truncate(size)
            except OSError as exc:
                self.error = exc
        return size or 0

    def flush(self) -> None:
        pass  # unbuffered

    def close(self) -> None:
        self.raw.close()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Make a write failure inside the block, or a dropped write before it, one CacheError."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            self.error = self.error or exc
        if self.error is not None:
            raise _write_failure(self.path.parent, self.error) from None


ProgressFn = Callable[[str, str, int], None]  # (split, video, frames) after each video is written


def _libc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc; absent from musl, macOS and Windows
    except (OSError, AttributeError, TypeError):
        return None


_MALLOC_TRIM = _libc_trim()


def _release_freed_memory() -> None:
    """Hand the C heap's freed pages back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Compressing chunks (Blosc through HDF5's filter pipeline) allocates and frees buffers of
    varying sizes per chunk, and glibc's heap keeps the freed memory fragmented instead of reusing
    it: the peak resident memory of a blosc-lz4hc build grew by about 5 KiB a frame (426 MiB more
    at 63,600 frames, ``benchmarks/cache_scale.py``). Run after every block written (a few
    milliseconds, 1-2 % of a build), it keeps the peak flat (``benchmarks/README.md``)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _write_split(file: h5py.File, sink: _Sink, split: str, videos: list[SourceVideo], spec: InputSpec,
                 filters: dict[str, Any], workers: int, on_video: ProgressFn | None) -> None:
    """Write ``videos`` into ``file``: ``workers`` threads decode (OpenCV releases the GIL), each
    one block of one video at a time, and this thread writes, so HDF5 is only used by one thread
    and a failure stops every worker (the pool's exit waits for them) before the file is closed."""
    queue = iter(videos)
    running: dict[Future[_Block | None], tuple[_VideoWriter, Iterator[_Block]]] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def advance(writer: _VideoWriter, stream: Iterator[_Block]) -> None:
            running[pool.submit(next, stream, None)] = (writer, stream)

        def start_next() -> None:
            video = next(queue, None)
            if video is not None:
                with sink.guard():
                    writer = _VideoWriter(file.create_group(f"{split}/{video.name}"), video, spec, filters)
                advance(writer, _converted(video, spec))

        try:
            for _ in range(workers):
                start_next()
            while running:
                for job in wait(running, return_when=FIRST_COMPLETED).done:
                    writer, stream = running.pop(job)
                    block = job.result()  # the adapter's own errors pass through unchanged
                    if block is not None:
                        with sink.guard():
                            writer.add(block)
                        _release_freed_memory()
                        advance(writer, stream)
                        continue
                    with sink.guard():
                        n = writer.finish()
                    if on_video:
                        on_video(split, writer.video.name, n)
                    start_next()
        except BaseException:  # stop at the first error or Ctrl-C, not after every queued video
            for job in running:
                job.cancel()
            raise


def _write_file(tmp: Path, header: dict[str, Any], listings: dict[str, SplitListing], spec: InputSpec,
                workers: int, on_video: ProgressFn | None) -> None:
    """Write the whole cache into ``tmp``, frames compressed as ``header`` says; the caller renames
    or removes it."""
    filters = frame_filters(header["compression"])
    sink = _Sink(tmp)
    try:
        with sink.guard():
            file = h5py.File(sink, "w", libver=_LIBVER)
        try:
            with sink.guard():
                file.attrs.update({key: _inline(value) for key, value in header.items()})
            for split, listing in listings.items():
                _write_split(file, sink, split, listing.videos, spec, filters, workers, on_video)
            with sink.guard():
                file.attrs["complete"] = True
                file.close()
        except BaseException:
            with suppress(*_H5_FAILURES):
                file.close()  # after a failure its writes are dropped, the first error is what counts
            raise
    finally:
        sink.close()


def cache_path(cache_dir: Path, dataset: str, options: dict[str, Any], spec: InputSpec,
               compression: str = DEFAULT_COMPRESSION) -> Path:
    """Where the cache of ``dataset`` with ``options`` at ``spec``, stored with ``compression``, lives."""
    tag = ""
    if options:
        import hashlib

        blob = json.dumps(options, sort_keys=True, default=str).encode()
        tag = "-" + hashlib.sha256(blob).hexdigest()[:8]
    codec = "" if compression == DEFAULT_COMPRESSION else f"-{check_compression(compression)}"
    return Path(cache_dir) / f"{dataset}{tag}-{spec.key}{codec}.h5"


def is_current(path: Path, fingerprint: str, spec: InputSpec, *, compression: str = DEFAULT_COMPRESSION,
               partial: bool = False) -> bool:
    """True when ``path`` is a complete cache of this source, preprocessing and compression that a
    build with ``partial`` may reuse. A missing, foreign, older-format or damaged file is not current:
    all its object headers are read (not its frames, whose checksums are verified when they are read)."""
    try:
        with h5py.File(path, "r") as f:
            a = attributes(f)
            return (bool(a.get("complete")) and a.get("format") == FORMAT and a.get("fingerprint") == fingerprint
                    and (int(a["height"]), int(a["width"]), str(a["color"])) == (spec.height, spec.width, spec.color)
                    and a.get("compression") == compression
                    and (partial or not json.loads(a["missing"])) and _metadata_readable(f))
    except _H5_FAILURES:
        return False  # truncated, damaged or foreign file: rebuild


def _metadata_readable(file: h5py.File) -> bool:
    """Read every group's and dataset's header and attributes (milliseconds, whatever the size:
    chunk indexes are checked, like the chunks, when read); h5py raises on damage."""
    def visit(_: str, obj: h5py.Group | h5py.Dataset) -> None:  # a value other than None stops the visit
        attributes(obj)

    file.visititems(visit)
    return True


def _missing(dataset: str, listings: dict[str, SplitListing], partial: bool) -> dict[str, list[str]]:
    """The videos absent from the copy, per split; refused unless ``partial``."""
    missing = {s: l.missing for s, l in listings.items() if l.missing}
    if missing and not partial:
        first = next(iter(missing.items()))
        raise DatasetError(
            f"{dataset}: {sum(map(len, missing.values()))} video(s) missing, e.g. {first[0]} video "
            f"{first[1][0]!r}; pass --partial to build from what is present"
        )
    return missing


def _check_space(directory: Path, listings: dict[str, SplitListing], spec: InputSpec, compression: str) -> None:
    """Refuse to start a build whose frames alone would not fit in ``directory``'s free space,
    rather than fail after an hour; when some frame counts are known only after decoding (some
    video files), say that the check is skipped. A compressed size is known only once written
    (it depends on the pictures), so a compressed build that would not fit uncompressed is not
    refused but warned of; a disk that fills up stops it with one line (see :class:`_Sink`)."""
    counts = [video.n_frames for listing in listings.values() for video in listing.videos]
    if None in counts:
        console.print(f"[yellow]note[/]: some frame counts are unknown before decoding; free space in "
                      f"{directory} not checked", highlight=False)
        return
    needed = sum(counts) * spec.height * spec.width * spec.channels  # type: ignore[arg-type]
    needed += needed // 20 + 2**20  # labels, compressed masks, checksums and HDF5 metadata
    free = shutil.disk_usage(directory).free
    if needed > free and compression != DEFAULT_COMPRESSION:
        console.print(f"[yellow]note[/]: uncompressed, the cache would need about {_human(needed)}, and "
                      f"{directory} has {_human(free)} free; building it with {compression}, whose size is "
                      "known only once written", highlight=False)
    elif needed > free:
        raise CacheError(f"not enough space in {directory}: the cache needs about {_human(needed)}, "
                         f"{_human(free)} free; free some space or set VADBENCH_CACHE to another directory")


def _remove_orphans(path: Path) -> None:
    """Delete the temporary files of ``path`` whose build process is gone (killed, or before a
    reboot); one whose owner is alive, e.g. on another host sharing the directory, is left."""
    for tmp in path.parent.glob(f"{path.name}.tmp*"):
        pid = tmp.name.rpartition(".tmp")[2]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def build_cache(adapter: DatasetAdapter, dataset: str, spec: InputSpec, cache_dir: Path, *,
                compression: str = DEFAULT_COMPRESSION, partial: bool = False, rebuild: bool = False,
                workers: int = 2, on_start: Callable[[int], None] | None = None,
                on_video: ProgressFn | None = None) -> Path:
    """Build (or reuse) the cache of ``adapter``'s data at ``spec``, frames stored with
    ``compression`` (:mod:`vadbench.data.compression`); returns its path.

    ``on_start(n_videos)`` and ``on_video(split, name, n_frames)`` report progress. Videos are
    decoded by ``workers`` threads and written block by block.
    """
    path = cache_path(cache_dir, dataset, adapter.options, spec, compression)  # refuses an unknown compression
    fingerprint = adapter.fingerprint()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(f"{path}.lock").acquire()
    except OSError as exc:  # a read-only cache directory: a current cache is whole, read it unlocked
        if not rebuild and is_current(path, fingerprint, spec, compression=compression, partial=partial):
            return path
        raise CacheError(f"cannot build {path.name}: the cache directory {path.parent} is not writable "
                         f"({_reason(exc)}); set VADBENCH_CACHE to a writable directory") from None
    with lock:
        _remove_orphans(path)
        if not rebuild and is_current(path, fingerprint, spec, compression=compression, partial=partial):
            return path
        listings = {split: adapter.listing(split) for split in SPLITS}
        missing = _missing(dataset, listings, partial)
        _check_space(path.parent, listings, spec, compression)
        if on_start:
            on_start(sum(len(l.videos) for l in listings.values()))
        header = dict(
            format=FORMAT, vadbench_version=__version__, dataset=dataset,
            options=json.dumps(adapter.options, sort_keys=True, default=str),
            fingerprint=fingerprint, height=spec.height, width=spec.width, color=spec.color,
            compression=compression, partial=partial,
            created=time.strftime("%Y-%m-%dT%H:%M:%S"), complete=False,
            missing=json.dumps(missing), protocol=json.dumps(adapter.protocol_fields()),
            decoder=f"opencv {cv2.__version__}, resize INTER_LINEAR",
        )
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        try:
            _write_file(tmp, header, listings, spec, max(1, workers), on_video)
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _write_failure(path.parent, exc) from None
        finally:
            tmp.unlink(missing_ok=True)
    return path


# -- reading ----------------------------------------------------------------------------------
@dataclass
class CachedVideo:
    """One cached video: frames ``uint8 [T, H, W, C]``, labels ``uint8 [T]`` (test only)."""

    name: str
    frames: np.ndarray
    labels: np.ndarray | None
    _masks: Callable[[], np.ndarray] | None = None  # reads the masks when asked

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def has_masks(self) -> bool:
        return self._masks is not None

    def masks(self) -> np.ndarray | None:
        """Pixel ground truth ``uint8 [T, h0, w0]`` at source resolution, or None."""
        return None if self._masks is None else self._masks()


class ClipCache:
    """A complete cache file opened for reading; every read failure is a :class:`CorruptCacheError`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise CacheError(f"cache file not found: {self.path}")
        with self.reading():
            self.file = h5py.File(self.path, "r")
        try:
            with self.reading():
                self._read_header()
        except BaseException:
            with suppress(*_H5_FAILURES):
                self.file.close()
            raise

    def _read_header(self) -> None:
        attrs = attributes(self.file)
        if not attrs.get("complete") or attrs.get("format") != FORMAT:
            raise CacheError(f"cache file {self.path} is stale or incomplete (format {attrs.get('format')}, "
                             f"this vadbench reads format {FORMAT}); {rebuild_hint(self.path)}")
        self.attrs = attrs
        self.spec = InputSpec(int(attrs["height"]), int(attrs["width"]), str(attrs["color"]))  # type: ignore[arg-type]
        self.compression = str(attrs["compression"])
        self.missing: dict[str, list[str]] = json.loads(attrs["missing"])
        self.protocol: dict[str, Any] = json.loads(attrs["protocol"])

    def reading(self, video: str | None = None) -> AbstractContextManager[None]:
        """Context manager: h5py failures inside it become one CorruptCacheError naming ``video``."""
        return _reading(self.path, video)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> ClipCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def videos(self, split: str) -> list[str]:
        with self.reading():
            return sorted(self.file[split]) if split in self.file else []

    def lengths(self, split: str) -> np.ndarray:
        return np.array([self._length(f"{split}/{v}") for v in self.videos(split)], dtype=np.int64)

    def _length(self, video: str) -> int:
        with self.reading(video):
            return self.file[f"{video}/frames"].shape[0]

    def video(self, split: str, name: str) -> CachedVideo:
        key = f"{split}/{name}"
        with self.reading(key):
            group = self.file[key]
            frames = group["frames"][()]
            labels = group["labels"][()] if "labels" in group else None
            masks = group["masks"] if "masks" in group else None  # not .get(): it hides a damaged header
        return CachedVideo(name, frames, labels, None if masks is None else lambda: self._read(key, masks))

    def _read(self, video: str, dataset: h5py.Dataset) -> np.ndarray:
        with self.reading(video):
            return dataset[()]

    def iter_videos(self, split: str) -> Iterator[CachedVideo]:
        """Videos of ``split`` in sorted order, one in memory at a time."""
        for name in self.videos(split):
            yield self.video(split, name)

    def train_data(self) -> CachedTrainData:
        return CachedTrainData(self.path, self.videos("train"), self.lengths("train"), self.spec)


# -- clips ------------------------------------------------------------------------------------
def clip_index(lengths: np.ndarray, spec: ClipSpec) -> np.ndarray:
    """All windows of ``spec`` over videos of ``lengths``: int64 rows (video, start, skip).

    Windows stay within one video; a video shorter than a window's span contributes none.
    """
    rows = []
    for skip in spec.skips:
        span = spec.span(skip)
        counts = np.maximum(0, (lengths - span) // spec.stride + 1)
        video = np.repeat(np.arange(len(lengths)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        start = (np.arange(counts.sum()) - np.repeat(first, counts)) * spec.stride
        rows.append(np.stack([video, start, np.full_like(start, skip)], axis=1))
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 3), np.int64)


class ClipDataset(torch.utils.data.Dataset):
    """Training clips from the cache: item ``i`` is a uint8 tensor ``[L, H, W, C]``.

    The HDF5 file is opened lazily, once per process, so each DataLoader worker has its own
    handle (h5py handles must not cross a fork).
    """

    def __init__(self, path: Path, split: str, videos: list[str], lengths: np.ndarray, spec: ClipSpec) -> None:
        self.path, self.split, self.videos, self.spec = Path(path), split, list(videos), spec
        self.index = clip_index(np.asarray(lengths), spec)
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.index)

    def _frames(self, video: int) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file[f"{self.split}/{self.videos[video]}/frames"]

    def __getitem__(self, i: int) -> torch.Tensor:
        video, start, skip = (int(v) for v in self.index[i])
        stop = start + self.spec.span(skip)
        with _reading(self.path, f"{self.split}/{self.videos[video]}"):
            clip = self._frames(video)[start:stop:skip]
        return torch.from_numpy(clip)

    def __getstate__(self) -> dict[str, Any]:  # never pickle an open h5py handle
        return {**self.__dict__, "_file": None, "_pid": -1}


@dataclass
class CachedTrainData:
    """The training split as a detector sees it in ``fit``."""

    path: Path
    videos: list[str]
    lengths: np.ndarray
    spec: InputSpec

    @property
    def n_frames(self) -> int:
        return int(self.lengths.sum())

    def clips(self, spec: ClipSpec) -> ClipDataset:
        return ClipDataset(self.path, "train", self.videos, self.lengths, spec)

    def iter_frames(self, every: int = 1) -> Iterator[np.ndarray]:
        """Each video's frames ``uint8 [T, H, W, C]`` (every ``every``-th), one video at a time."""
        with _reading(self.path):
            file = h5py.File(self.path, "r")
        with file:
            for name in self.videos:
                with _reading(self.path, f"train/{name}"):
                    frames = file[f"train/{name}/frames"][::every]
                yield frames
