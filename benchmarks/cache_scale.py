"""Building the cache at scale: peak memory of a build as a ShanghaiTech-sized split grows.

ShanghaiTech's training split is 330 videos, 274,515 frames of 480×856 (about 832 frames a
video): 54 GB as 256×256 RGB uint8. Fabricating all of it would take hours here, so this
fabricates copies in its original layout (``training/videos/01_NNN.avi``, MJPG at 480×856, and one
short test video with its ``test_frame_mask`` labels) at growing ``--scales`` (videos × mean frames
a video; lengths vary from half to one and a half times the mean), builds the cache of each at
256×256 RGB under every ``--compression``, each build in a fresh process, and prints its peak
resident memory (``ru_maxrss``), what the build added to the process after its imports, its
time and size, and the size of the full split extrapolated from the bytes per frame.

The claim it checks: peak memory stays flat as the split grows (the build streams, at most a
block of frames per decoding worker between the source and the file). The frames are synthetic
(a blurred, textured background, moving blobs, sensor noise, JPEG-compressed as the originals
are), so compressed sizes say how the codecs do on such pictures, not on the real ones: Ped2's
ratios (``loader_throughput.py``) are the other estimate. Videos of one length share their
file (hard links): every name is decoded on its own, as distinct files would be, at a fraction
of the fabrication time and disk. Usage::

    python benchmarks/cache_scale.py [--scales 10x100,40x400,80x800] [--compression none,blosc-lz4hc]
        [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

HEIGHT, WIDTH = 480, 856  # ShanghaiTech's frames
FULL_FRAMES = 274_515  # its training split
SIZE = 256


def fabricate_video(path: Path, n: int, seed: int) -> None:
    """An MJPG ``.avi`` of ``n`` camera-like frames at 480×856: a smooth coloured background with a
    fixed fine texture, a few blobs crossing it, and brightness noise that changes every frame."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), (0, 0), 20)
    background = cv2.normalize(background, None, 40, 200, cv2.NORM_MINMAX)
    texture = cv2.GaussianBlur(rng.integers(0, 10, (HEIGHT, WIDTH), dtype=np.uint8), (0, 0), 0.8)
    background = cv2.add(background, cv2.merge([texture] * 3))  # pavement, foliage: fixed per video
    noise = [cv2.merge([rng.integers(0, 3, (HEIGHT, WIDTH), dtype=np.uint8)] * 3) for _ in range(8)]
    blobs = [(rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(-4, 4), rng.uniform(-2, 2),
              tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in range(6)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    assert writer.isOpened(), path
    for t in range(n):
        frame = background.copy()
        for x, y, dx, dy, colour in blobs:
            centre = (int(x + dx * t) % WIDTH, int(y + dy * t) % HEIGHT)
            cv2.ellipse(frame, centre, (14, 36), 0, 0, 360, colour, -1)
        writer.write(cv2.add(frame, noise[t % len(noise)]))
    writer.release()


def fabricate(root: Path, videos: int, mean_frames: int) -> int:
    """A ShanghaiTech copy of ``videos`` training videos (scene 01) under ``root``; returns its frames."""
    train = root / "training" / "videos"
    train.mkdir(parents=True)
    lengths = [mean_frames // 2, mean_frames, mean_frames * 3 // 2]  # cycled: their mean is mean_frames
    pool = root / "pool"
    pool.mkdir()
    for i, n in enumerate(lengths):
        fabricate_video(pool / f"{n}.avi", n, seed=i)
    total = 0
    for v in range(videos):
        n = lengths[v % len(lengths)]
        os.link(pool / f"{n}.avi", train / f"01_{v + 1:03d}.avi")
        total += n
    test = root / "testing" / "frames" / "01_0014"
    test.mkdir(parents=True)
    for i in range(8):
        cv2.imwrite(str(test / f"{i:03d}.jpg"), np.full((HEIGHT, WIDTH, 3), 30 * i, np.uint8))
    (root / "testing" / "test_frame_mask").mkdir()
    np.save(root / "testing" / "test_frame_mask" / "01_0014.npy", (np.arange(8) >= 4).astype(np.uint8))
    return total


def build(root: str, cache_dir: str, compression: str) -> dict[str, float]:
    """One build, in a fresh process: its peak RSS, the RSS its imports left, its time and size."""
    from vadbench import InputSpec
    from vadbench.data.cache import build_cache
    from vadbench.data.shanghaitech import ShanghaiTech

    adapter = ShanghaiTech(Path(root), scenes="01")
    adapter.listing("train")  # the scan, before the baseline: what is left is the build's own memory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    path = build_cache(adapter, "shanghaitech", InputSpec(SIZE, SIZE, "rgb"), Path(cache_dir), compression=compression)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = path.stat().st_size
    path.unlink()
    return {"baseline_mib": before / 1024, "peak_mib": peak / 1024, "seconds": seconds, "bytes": size}


def main() -> None:
    from vadbench.data.compression import check_compression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10x100,40x400,80x800", help="videos x mean frames, comma-separated")
    parser.add_argument("--compression", default="none,blosc-lz4hc")
    parser.add_argument("--work", type=Path, default=None, help="folder for the copies and caches (default: a "
                        "temporary one, removed afterwards)")
    args = parser.parse_args()
    scales = [tuple(int(n) for n in scale.split("x")) for scale in args.scales.split(",")]
    codecs = [check_compression(name.strip()) for name in args.compression.split(",")]
    work = Path(tempfile.mkdtemp(prefix="vadbench-scale-", dir=args.work))
    rows = []
    try:
        for videos, mean in scales:
            root = work / f"shanghaitech-{videos}x{mean}"
            frames = fabricate(root, videos, mean)
            for codec in codecs:
                with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:  # a fresh process per build
                    result = pool.submit(build, str(root), str(work / "cache"), codec).result()
                rows.append({"videos": videos, "frames": frames, "compression": codec, **result})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"ShanghaiTech-layout copies, 480x856 MJPG training videos -> cache at {SIZE}x{SIZE} RGB, 2 decoding "
          "workers, one fresh process per build")
    print()
    print("| videos | frames | compression | peak RSS | RSS after imports | added by the build | build s "
          "| frames/s | cache size | bytes/frame | full split (274,515 frames) |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per_frame = r["bytes"] / r["frames"]
        print(f"| {r['videos']} | {r['frames']:,} | {r['compression']} | {r['peak_mib']:.0f} MiB "
              f"| {r['baseline_mib']:.0f} MiB | {r['peak_mib'] - r['baseline_mib']:.0f} MiB | {r['seconds']:.0f} "
              f"| {r['frames'] / r['seconds']:.0f} | {r['bytes'] / 2**30:.2f} GiB | {per_frame:,.0f} "
              f"| {per_frame * FULL_FRAMES / 1e9:.1f} GB |")


if __name__ == "__main__":
    main()
