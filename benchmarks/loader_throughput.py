"""Training-clip throughput: the HDF5 cache under each compression, against decoding JPEG files.

Builds the cache of UCSD Ped2's frames at 256×256 RGB once per ``--compression`` (into a fresh
temporary directory, timed), then reads the same random 5-frame training clips every way and
prints, per compression, its size on disk, its build time and its clips/s, each also as a ratio
to ``none`` measured in the same run:

* cache, uint8: ``ClipDataset`` items as they leave a DataLoader worker;
* cache, float: the same items converted to float in [-1, 1] and channels-first with
  ``to_network`` (vadbench does that on the training device, per batch; doing it per clip on the
  CPU here is the conservative comparison);
* jpeg: what the official MNAD loader does for every sample: ``cv2.imread`` each of the 5 JPEG
  files, ``cv2.resize`` to 256×256, scale to [-1, 1], channels-first (``ToTensor``), stack.

and, for ``--chunk-codecs``, what other chunk shapes would give: the training frames copied
into scratch files of ``--chunk-frames`` frames per chunk (same codec, Fletcher-32 on), read as
uint8 clips straight through h5py, as ratios to one frame per chunk (the cache's shape).

Every read runs in one process with one torch and one OpenCV thread (what a DataLoader worker
gets), in the same shuffled order, after an untimed warm-up pass, so that every file is read from
the page cache: the figures are decoding costs, not disk speeds, timed in CPU seconds of the
process. A build is timed both ways: wall seconds (two decoding threads, the main thread writing
and compressing) and CPU seconds of all its threads. The reads are interleaved over
``--rounds`` rounds (the ways take turns every 50 clips) and each way keeps its best round, so
that the load of a shared machine falls on all of them alike. Usage::

    python benchmarks/loader_throughput.py [--root ../shared/datasets/ped2] [--clips 1000] [--rounds 3]
        [--compression none,lzf,gzip,blosc-lz4,blosc-lz4hc,blosc-zstd]
        [--chunk-codecs none,blosc-lz4hc] [--chunk-frames 1,4,16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Callable

import cv2
import h5py
import numpy as np
import torch

from vadbench import ClipSpec, InputSpec
from vadbench.data.cache import ClipCache, ClipDataset, build_cache
from vadbench.data.compression import NAMES, check_compression, frame_filters
from vadbench.data.source import SPLITS
from vadbench.data.ucsd import Ped2
from vadbench.errors import ConfigError
from vadbench.tensors import to_network

REPO = Path(__file__).resolve().parents[1]
Way = tuple[str, str]  # (source, item): ("blosc-lz4", "uint8"), ("jpeg", "float"), ("none", "chunks of 4")


def jpeg_clip(paths: list[Path], size: int) -> torch.Tensor:
    """One clip the MNAD way: read, resize and scale each frame, then stack (``[L, C, H, W]``)."""
    frames = []
    for path in paths:
        image = cv2.resize(cv2.imread(str(path)), (size, size)).astype(np.float32)
        frames.append(image / 127.5 - 1.0)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def clips_per_second(ways: dict[Way, Callable[[int], torch.Tensor]], order: np.ndarray, rounds: int,
                     part: int = 50) -> dict[Way, float]:
    """Clips per CPU second of this process for each way of reading (one thread does all the work,
    so that is its speed on one core, which the other jobs of a shared machine disturb far less
    than wall time), the best of ``rounds``. Within a round the ways take turns every ``part``
    clips, so that a change of load falls on all of them alike."""
    for read in ways.values():  # warm-up: page cache and OpenCV/h5py start-up, untimed
        for i in order:
            read(i)
    best = dict.fromkeys(ways, 0.0)
    for _ in range(rounds):
        spent = dict.fromkeys(ways, 0.0)
        for start in range(0, len(order), part):
            for way, read in ways.items():
                began = time.process_time()
                for i in order[start:start + part]:
                    read(i)
                spent[way] += time.process_time() - began
        best = {way: max(best[way], len(order) / spent[way]) for way in ways}
    return best


def rechunked(cache: ClipCache, path: Path, compression: str, frames_per_chunk: int) -> h5py.File:
    """The training frames of ``cache`` copied into ``path`` with ``frames_per_chunk`` frames a chunk
    (and the cache's filters: ``compression`` and Fletcher-32), opened for reading."""
    with h5py.File(path, "w") as out:
        for name in cache.videos("train"):
            frames = cache.file[f"train/{name}/frames"][()]
            out.create_dataset(name, data=frames, chunks=(frames_per_chunk, *frames.shape[1:]), fletcher32=True,
                               **frame_filters(compression))
    return h5py.File(path, "r")


def h5py_clip(file: h5py.File, dataset: ClipDataset, i: int) -> torch.Tensor:
    """Clip ``i`` of ``dataset`` as one h5py slice of ``file``, whose datasets are named by video."""
    video, start, skip = (int(v) for v in dataset.index[i])
    return torch.from_numpy(file[dataset.videos[video]][start:start + dataset.spec.span(skip):skip])


def frames_per_chunk(text: str) -> list[int]:
    """``--chunk-frames``: the sizes given, after 1 (the cache's shape, the baseline of the ratios)."""
    return [1, *(k for k in dict.fromkeys(int(n) for n in text.split(",")) if k != 1)]


def codecs(text: str) -> list[str]:
    """Comma-separated compression names, each checked, in the order given."""
    try:
        return list(dict.fromkeys(check_compression(name.strip()) for name in text.split(",")))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def compressions(text: str) -> list[str]:
    """``--compression``: the names given, after ``none`` (the baseline of every ratio)."""
    return ["none", *(name for name in codecs(text) if name != "none")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ped2")
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compression", type=compressions, default=list(NAMES),
                        help=f"comma-separated, of {', '.join(NAMES)} (none is always measured: the baseline)")
    parser.add_argument("--chunk-codecs", type=codecs, default=["none", "blosc-lz4hc"])
    parser.add_argument("--chunk-frames", type=frames_per_chunk, default=[1, 4, 16])
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    spec, adapter = ClipSpec(length=5), Ped2(args.root)
    files = {name: source.files() for name, source in adapter.scan().videos["train"].items()}
    for split in SPLITS:  # warm-up: every source file in the page cache before the first timed build
        for video in adapter.listing(split).videos:
            for _ in video.frames():
                pass
    built: dict[str, tuple[float, float, int]] = {}  # compression -> (wall s, CPU s, bytes on disk) of its build
    with tempfile.TemporaryDirectory(prefix="vadbench-loader-") as folder:
        caches = {}
        for name in args.compression:
            start, cpu = time.perf_counter(), time.process_time()
            path = build_cache(adapter, "ped2", InputSpec(args.size, args.size, "rgb"), Path(folder), compression=name)
            built[name] = time.perf_counter() - start, time.process_time() - cpu, path.stat().st_size
            caches[name] = ClipCache(path)
        datasets = {name: cache.train_data().clips(spec) for name, cache in caches.items()}
        plain = datasets["none"]
        order = np.random.default_rng(args.seed).permutation(len(plain))[: args.clips]
        names = caches["none"].train_data().videos

        def from_jpeg(i: int) -> torch.Tensor:
            video, start, skip = (int(v) for v in plain.index[i])
            return jpeg_clip(files[names[video]][start:start + spec.span(skip):skip], args.size)

        ways: dict[Way, Callable[[int], torch.Tensor]] = {("jpeg", "float"): from_jpeg}
        for name, dataset in datasets.items():
            assert torch.equal(dataset[int(order[0])], plain[int(order[0])])  # lossless, the same clip
            ways[name, "uint8"] = dataset.__getitem__
            ways[name, "float"] = lambda i, d=dataset: to_network(d[i])
        assert ways["none", "float"](int(order[0])).shape == from_jpeg(int(order[0])).shape
        chunked: dict[tuple[str, int], int] = {}  # (compression, frames a chunk) -> bytes on disk
        scratch: list[h5py.File] = []
        for name in args.chunk_codecs:
            source = caches[name] if name in caches else ClipCache(build_cache(
                adapter, "ped2", InputSpec(args.size, args.size, "rgb"), Path(folder), compression=name))
            for k in args.chunk_frames:
                file = rechunked(source, Path(folder) / f"chunks-{name}-{k}.h5", name, k)
                chunked[name, k] = Path(file.filename).stat().st_size
                scratch.append(file)
                ways[name, f"chunks of {k}"] = partial(h5py_clip, file, plain)
        best = clips_per_second(ways, order, args.rounds)
        for handle in [*caches.values(), *scratch]:
            handle.close()

    print(f"Ped2 training clips of {spec.length} frames at {args.size}x{args.size} RGB, {len(order)} random clips, "
          f"1 process, 1 thread, clips per CPU second, best of {args.rounds} interleaved rounds; ratios to none "
          "in this run")
    print()
    print("| compression | size on disk | size ÷ none | build wall s | build CPU s | build CPU ÷ none "
          "| uint8 clips/s | uint8 ÷ none | float clips/s | float ÷ none |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    (_, base_cpu, base_b), base_u, base_f = built["none"], best["none", "uint8"], best["none", "float"]
    for name, (wall, cpu, size) in built.items():
        uint8, float_ = best[name, "uint8"], best[name, "float"]
        print(f"| {name} | {size / 2**20:.0f} MiB | {size / base_b:.2f} | {wall:.1f} | {cpu:.1f} | {cpu / base_cpu:.2f} "
              f"| {uint8:.0f} | {uint8 / base_u:.2f} | {float_:.0f} | {float_ / base_f:.2f} |")
    jpeg = best["jpeg", "float"]
    print(f"| jpeg files (MNAD's loader) | - | - | - | - | - | - | - | {jpeg:.0f} | {jpeg / base_f:.2f} |")
    if chunked:
        print()
        print("training frames only, uint8 clips straight from h5py (no ClipDataset), by frames per chunk; "
              "ratios to 1 frame a chunk")
        print()
        print("| compression | frames per chunk | size on disk | uint8 clips/s | ÷ 1 frame a chunk |")
        print("|---|---:|---:|---:|---:|")
        for (name, k), size in chunked.items():
            rate, one = best[name, f"chunks of {k}"], best[name, "chunks of 1"]
            print(f"| {name} | {k} | {size / 2**20:.0f} MiB | {rate:.0f} | {rate / one:.2f} |")


if __name__ == "__main__":
    main()
