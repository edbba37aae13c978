"""MNAD speed on the CPU against the official implementation's reference figures (docs/mnad.md §12).

Measures, with 2 torch threads by default (docs/mnad.md §12's set-up):

* **scoring** frames/s of MNAD-P and MNAD-R at 256×256 and 128×128: ``score_video`` on a video
  of random frames, batch 1 in frame order, test-time memory update on and forced every frame
  (threshold = inf, as docs/mnad.md §12's "complete official step" forces it); median of 3 passes after
  a warm-up pass;
* **training** samples/s at batch 4: one ``train_step`` (forward, losses, memory update,
  backward, Adam step) on random clips; median of 5 steps (2 at 256×256) after a warm-up step;
* the machine's **convolution throughput**: the best GMAC/s of a few large 3×3 convolutions in
  the same process, so each figure can be read as the fraction of what this CPU does on
  convolutions. Scoring counts the GMAC (docs/mnad.md §3.4) per frame; training counts 3× the forward GMAC
  per sample (forward, input gradient, weight gradient), an approximation.

Each figure is divided by the official implementation's figure on "the same kind of 2-core
CPU" (docs/mnad.md §12: eval frame, complete official step; train step per sample). The two machines
are not the same machine, so the conv-throughput fraction is the machine-independent reading.
Weights are untrained and inputs random: run time does not depend on the values. Run it alone
on the machine (``flock /tmp/vadbench-cpu.lock python benchmarks/mnad_speed.py``)::

    python benchmarks/mnad_speed.py [--threads 2] [--sizes 256 128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Callable

import numpy as np
import torch

from vadbench_mnad import MNADP, MNADR
from vadbench_mnad.detector import make_optimizer
from vadbench.data.cache import CachedVideo as Video

# docs/mnad.md §12: seconds per test frame (complete official step) and per training sample.
OFFICIAL = {
    ("mnad-p", 256): {"score_s": 1.040, "train_s": 3.90, "gmac": 46.5},
    ("mnad-p", 128): {"score_s": 0.236, "train_s": 0.76, "gmac": 11.6},
    ("mnad-r", 256): {"score_s": 0.875, "train_s": 5.79, "gmac": 49.8},
    ("mnad-r", 128): {"score_s": 0.221, "train_s": 0.88, "gmac": 12.4},
}
DETECTORS = {"mnad-p": MNADP, "mnad-r": MNADR}


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.inference_mode()
def conv_gmacs() -> float:
    """Best GMAC/s over the network's own 3×3 convolution shapes at 256×256, batch 1 (the
    machine's convolution throughput for this workload)."""
    best = 0.0
    for channels, size in ((64, 256), (128, 128), (256, 64), (512, 32)):
        conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
        x = torch.randn(1, channels, size, size)
        gmac = channels * channels * 9 * size * size / 1e9
        best = max(best, gmac / median_seconds(lambda: conv(x), repeats=10, warmup=3))
    return best


def measure(name: str, size: int, frames: int, train_steps: int) -> dict[str, float]:
    cls = DETECTORS[name]
    det = cls(cls.Config(height=size, width=size, threshold=float("inf")))
    det.build(0)
    rng = np.random.default_rng(0)
    video = Video("bench", rng.integers(0, 256, (det.history + frames, size, size, 3), np.uint8), None)

    def score() -> None:
        det.reset()
        det.score_video(video)

    score_s = median_seconds(score, repeats=3) / frames
    clips = det._frames(torch.from_numpy(rng.integers(0, 256, (4, det.history + 1, size, size, 3), np.uint8)))
    optimizer = make_optimizer(det.net.parameters(), 2e-4)
    det.net.train()
    train_s = median_seconds(lambda: det.train_step(*det._split(clips), optimizer), repeats=train_steps) / 4
    return {"score_fps": 1 / score_s, "train_samples_s": 1 / train_s, "score_s": score_s, "train_s": train_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = conv_gmacs()
    print(f"torch {torch.__version__}, {args.threads} threads; machine conv throughput {machine:.1f} GMAC/s\n")
    head = ("| model | size | score fps | × official | GMAC/s (% of conv) | train samples/s | × official | "
            "GMAC/s (% of conv) |")
    print(head + "\n|" + "---|" * 8)
    rows = []
    for size in args.sizes:
        for name in DETECTORS:
            ref = OFFICIAL.get((name, size))
            gmac = ref["gmac"] if ref else None
            r = measure(name, size, frames=8 if size >= 256 else 24, train_steps=2 if size >= 256 else 5)
            row = {"model": name, "size": size, **r, "machine_gmacs": machine}
            cells = [name, f"{size}²", f"{r['score_fps']:.2f}"]
            if ref:
                row.update(score_ratio=ref["score_s"] / r["score_s"], train_ratio=ref["train_s"] / r["train_s"],
                           score_gmacs=gmac / r["score_s"], train_gmacs=3 * gmac / r["train_s"])
                cells += [f"{row['score_ratio']:.2f}", f"{row['score_gmacs']:.1f} ({100 * row['score_gmacs'] / machine:.0f} %)",
                          f"{r['train_samples_s']:.3f}", f"{row['train_ratio']:.2f}",
                          f"{row['train_gmacs']:.1f} ({100 * row['train_gmacs'] / machine:.0f} %)"]
            else:
                cells += ["", "", f"{r['train_samples_s']:.3f}", "", ""]
            print("| " + " | ".join(cells) + " |", flush=True)
            rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "torch": torch.__version__, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
