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

Everything runs in one process with one torch thread (what a DataLoader worker gets), in the
same shuffled order, after an untimed warm-up pass, so that every file is read from the page
cache: the figures are decoding costs, not disk speeds. The reads are interleaved over
``--rounds`` rounds (every way once per round) and each way keeps its best round, so that the load
of a shared machine falls on all of them alike. Usage::

    python benchmarks/loader_throughput.py [--root ../shared/datasets/ped2] [--clips 1000] [--rounds 3]
        [--compression none,lzf,gzip,blosc-lz4,blosc-lz4hc,blosc-zstd]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from vadbench import ClipSpec, InputSpec
from vadbench.data.cache import ClipCache, build_cache
from vadbench.data.compression import NAMES, check_compression
from vadbench.data.source import SPLITS
from vadbench.data.ucsd import Ped2
from vadbench.errors import ConfigError
from vadbench.tensors import to_network

REPO = Path(__file__).resolve().parents[1]


def jpeg_clip(paths: list[Path], size: int) -> torch.Tensor:
    """One clip the MNAD way: read, resize and scale each frame, then stack (``[L, C, H, W]``)."""
    frames = []
    for path in paths:
        image = cv2.resize(cv2.imread(str(path)), (size, size)).astype(np.float32)
        frames.append(image / 127.5 - 1.0)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def clips_per_second(read: Callable[[int], torch.Tensor], order: np.ndarray) -> float:
    for i in order:  # warm-up: page cache and OpenCV/h5py start-up, untimed
        read(i)
    start = time.perf_counter()
    for i in order:
        read(i)
    return len(order) / (time.perf_counter() - start)


def compressions(text: str) -> list[str]:
    """``--compression``: the names given, after ``none`` (the baseline of every ratio)."""
    try:
        names = [check_compression(name.strip()) for name in text.split(",")]
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return ["none", *(name for name in dict.fromkeys(names) if name != "none")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ped2")
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compression", type=compressions, default=list(NAMES),
                        help=f"comma-separated, of {', '.join(NAMES)} (none is always measured: the baseline)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    spec, adapter = ClipSpec(length=5), Ped2(args.root)
    files = {name: source.files() for name, source in adapter.scan().videos["train"].items()}
    for split in SPLITS:  # warm-up: every source file in the page cache before the first timed build
        for video in adapter.listing(split).videos:
            for _ in video.frames():
                pass
    built: dict[str, tuple[float, int]] = {}  # compression -> (build seconds, bytes on disk)
    with tempfile.TemporaryDirectory(prefix="vadbench-loader-") as folder:
        caches = {}
        for name in args.compression:
            start = time.perf_counter()
            path = build_cache(adapter, "ped2", InputSpec(args.size, args.size, "rgb"), Path(folder), compression=name)
            built[name] = time.perf_counter() - start, path.stat().st_size
            caches[name] = ClipCache(path)
        datasets = {name: cache.train_data().clips(spec) for name, cache in caches.items()}
        plain = datasets["none"]
        order = np.random.default_rng(args.seed).permutation(len(plain))[: args.clips]
        names = caches["none"].train_data().videos

        def from_jpeg(i: int) -> torch.Tensor:
            video, start, skip = (int(v) for v in plain.index[i])
            return jpeg_clip(files[names[video]][start:start + spec.span(skip):skip], args.size)

        ways: dict[tuple[str, str], Callable[[int], torch.Tensor]] = {("jpeg", "float"): from_jpeg}
        for name, dataset in datasets.items():
            assert torch.equal(dataset[int(order[0])], plain[int(order[0])])  # lossless, the same clip
            ways[name, "uint8"] = dataset.__getitem__
            ways[name, "float"] = lambda i, d=dataset: to_network(d[i])
        assert ways["none", "float"](int(order[0])).shape == from_jpeg(int(order[0])).shape
        best = dict.fromkeys(ways, 0.0)
        for _ in range(args.rounds):
            for way, read in ways.items():
                best[way] = max(best[way], clips_per_second(read, order))
        for cache in caches.values():
            cache.close()

    print(f"Ped2 training clips of {spec.length} frames at {args.size}x{args.size} RGB, {len(order)} random clips, "
          f"1 process, 1 torch thread, best of {args.rounds} interleaved rounds; ratios to none in this run")
    print()
    print("| compression | size on disk | size ÷ none | build s | build ÷ none | uint8 clips/s | uint8 ÷ none "
          "| float clips/s | float ÷ none |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    (base_s, base_b), base_u, base_f = built["none"], best["none", "uint8"], best["none", "float"]
    for name, (seconds, size) in built.items():
        uint8, float_ = best[name, "uint8"], best[name, "float"]
        print(f"| {name} | {size / 2**20:.0f} MiB | {size / base_b:.2f} | {seconds:.1f} | {seconds / base_s:.2f} "
              f"| {uint8:.0f} | {uint8 / base_u:.2f} | {float_:.0f} | {float_ / base_f:.2f} |")
    jpeg = best["jpeg", "float"]
    print(f"| jpeg files (MNAD's loader) | - | - | - | - | - | - | {jpeg:.0f} | {jpeg / base_f:.2f} |")


if __name__ == "__main__":
    main()
