"""Training-clip throughput: the HDF5 cache against decoding JPEG files per sample.

Reads the same random 5-frame 256×256 RGB training clips of UCSD Ped2 two ways and prints
clips/s for each and their ratio:

* cache: ``ClipDataset`` items from the prepared cache (uint8), converted to float in [-1, 1]
  and channels-first with ``to_network`` (vadbench does that on the training device, per
  batch; doing it per clip on the CPU here is the conservative comparison);
* jpeg: what the official MNAD loader does for every sample: ``cv2.imread`` each of the 5 JPEG
  files, ``cv2.resize`` to 256×256, scale to [-1, 1], channels-first (``ToTensor``), stack.

Both run in one process with one torch thread (what a DataLoader worker gets), in the same
shuffled order, after one untimed warm-up pass so that both read from the page cache. Usage::

    python benchmarks/loader_throughput.py [--root ../shared/datasets/ped2] [--clips 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from vadbench import ClipSpec, InputSpec
from vadbench.data.prepare import prepare
from vadbench.data.ucsd import Ped2
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "datasets" / "ped2")
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    spec = ClipSpec(length=5)
    with prepare("ped2", InputSpec(args.size, args.size, "rgb"), args.root) as cache:
        data = cache.train_data()
        dataset = data.clips(spec)
        order = np.random.default_rng(args.seed).permutation(len(dataset))[: args.clips]
        files = {name: source.files() for name, source in Ped2(args.root).scan().videos["train"].items()}
        names = data.videos

        def from_cache(i: int) -> torch.Tensor:
            return to_network(dataset[i])

        def from_cache_uint8(i: int) -> torch.Tensor:
            return dataset[i]

        def from_jpeg(i: int) -> torch.Tensor:
            video, start, skip = (int(v) for v in dataset.index[i])
            return jpeg_clip(files[names[video]][start:start + spec.span(skip):skip], args.size)

        assert from_cache(int(order[0])).shape == from_jpeg(int(order[0])).shape
        raw = clips_per_second(from_cache_uint8, order)
        cached = clips_per_second(from_cache, order)
        decoded = clips_per_second(from_jpeg, order)
    print(f"Ped2 training clips of {spec.length} frames at {args.size}x{args.size} RGB, {len(order)} random clips, "
          f"1 process, 1 torch thread")
    print(f"cache, uint8 items only:        {raw:8.1f} clips/s")
    print(f"cache, uint8 -> float [-1, 1]:  {cached:8.1f} clips/s")
    print(f"jpeg, imread + resize + float:  {decoded:8.1f} clips/s")
    print(f"ratio cache / jpeg (float):     {cached / decoded:8.2f}x")


if __name__ == "__main__":
    main()
