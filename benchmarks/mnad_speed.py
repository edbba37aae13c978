"""MNAD speed against the official modules, measured side by side in one interleaved run.

For MNAD-P and MNAD-R at each size (256², 128², 64², 32² by default) the same weights run in both
implementations, alternately, in this process (:mod:`official_mnad` imports the official modules
from a checkout; ``--official DIR`` or ``MNAD_OFFICIAL``):

* **scoring** frames/s, batch 1 in frame order with the test-time update forced every frame
  (threshold = inf, docs/mnad.md §12's "complete official step"): ``score_video`` against the
  official evaluation step on the same frames (given to it as ready tensors, its JPEG loader left
  out);
* **training** samples/s at batch 4: ``train_step`` against the official iteration (forward,
  losses, memory update, backward with ``retain_graph``, Adam).

Each round times every contender once, in alternating order, and the ratio official / vadbench
is the median of the per-round ratios, so a load that comes and goes on a shared machine moves
both sides of a ratio alike. Also from the same run:

* the **convolution roofline**: GMAC/s of a 64-channel 3×3 convolution at 256² (the layers that hold
  22 % of MNAD's MACs) in channels-last, timed as one more contender of every round, so each
  figure is the median over rounds of its GMAC/s over that round's convolution GMAC/s (and the
  contiguous layout beside it, once at the start). MACs per frame are counted from the network's
  own convolutions (hooks on every Conv2d / ConvTranspose2d); training counts 3× the forward
  MACs per sample (forward, input gradient, weight gradient);
* the **whole pipeline** of one ``vadbench run`` (cache build, training, scoring, evaluation,
  writing) of MNAD-P's ``cpu`` profile on a synthetic scene of 4 + 4 videos, as a ratio to the
  time spent inside ``train_step`` and ``score_video`` in that run.

Weights are untrained and inputs random: run time does not depend on the values. Figures on a
shared machine are loaded-machine figures; the ratios are the fair reading::

    python benchmarks/mnad_speed.py --official ~/src/MNAD [--threads 2] [--sizes 256 128 64 32] [--json out.json]

Without a checkout the official columns stay empty and the rest is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

import official_mnad
from official_mnad import DETECTORS
from vadbench.data.cache import CachedVideo
from vadbench_mnad.detector import MNAD, make_optimizer


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each contender per round, timed in alternating order after ``warmup`` untimed calls."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    return times


def ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    """Median over rounds of ``num``'s time over ``den``'s (official / vadbench: > 1 means faster)."""
    return statistics.median(a / b for a, b in zip(times[num], times[den]))


def forward_gmac(det: MNAD, size: int) -> float:
    """GMAC of one frame through the network's convolutions, counted from their actual shapes."""
    assert det.net is not None
    macs = 0

    def count(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        kernel = module.weight[0, 0].numel()
        if isinstance(module, torch.nn.ConvTranspose2d):
            macs += inputs[0].numel() * module.out_channels * kernel  # every input pixel scatters a kernel per output channel
        else:
            macs += output.numel() * module.in_channels * kernel
    hooks = [m.register_forward_hook(count) for m in det.net.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    try:
        with torch.inference_mode():
            det.forward(torch.zeros(1, 3 * max(det.history, 1), size, size, device=det.device), update=False)
    finally:
        for hook in hooks:
            hook.remove()
    return macs / 1e9


CONV_GMAC = 64 * 64 * 9 * 256 * 256 / 1e9  # one 64-channel 3×3 convolution at 256², batch 1


class Roofline:
    """``repeats`` passes of the 64-channel 3×3 convolution at 256² in layout ``fmt``: a contender of
    every round, so each figure is read against the convolution throughput of its own round."""

    def __init__(self, fmt: torch.memory_format, repeats: int = 4) -> None:
        self.conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=fmt)
        self.x = torch.randn(1, 64, 256, 256).contiguous(memory_format=fmt)
        self.repeats, self.gmac = repeats, repeats * CONV_GMAC

    @torch.inference_mode()
    def __call__(self) -> None:
        for _ in range(self.repeats):
            self.conv(self.x)


def roofline_fraction(times: dict[str, list[float]], gmac: float) -> float:
    """Median over rounds of vadbench's GMAC/s over the channels-last convolution's in the same round."""
    conv = ROOFLINE["channels_last"].gmac
    return statistics.median((gmac / t) / (conv / c) for t, c in zip(times["ours"], times["conv"]))


ROOFLINE = {"channels_last": Roofline(torch.channels_last), "contiguous": Roofline(torch.contiguous_format)}


def measure(name: str, size: int, frames: int, steps: int, rounds: int, official: Path | None) -> dict[str, Any]:
    """Scoring (``frames`` per timed call) and training (``steps`` iterations per timed call) of ``name``
    at ``size``², vadbench against the official modules (same weights)."""
    rng = np.random.default_rng(0)
    if official is not None:
        pair = official_mnad.build(official, name, size, "cpu", threshold=float("inf"))
        det = pair.ours
    else:
        cls = DETECTORS[name]
        det = cls(cls.Config(height=size, width=size, threshold=float("inf")))
        det.build(0)
    video = CachedVideo("bench", rng.integers(0, 256, (det.history + frames, size, size, 3), np.uint8), None)
    clips = det._frames(torch.from_numpy(rng.integers(0, 256, (4, det.history + 1, size, size, 3), np.uint8)))
    x, target = det._split(clips)
    assert det.net is not None
    optimizer = make_optimizer(det.net.parameters(), det.config.lr)

    def score() -> None:
        det.net.eval()
        det.reset()
        det.score_video(video)

    def train() -> None:
        det.net.train()
        for _ in range(steps):
            det.train_step(x, target, optimizer)

    scoring: dict[str, Callable[[], object]] = {"ours": score, "conv": ROOFLINE["channels_last"]}
    training: dict[str, Callable[[], object]] = {"ours": train, "conv": ROOFLINE["channels_last"]}
    if official is not None:
        inputs, targets = pair.inputs(video.frames)
        official_optimizer = torch.optim.Adam(pair.model.parameters(), lr=det.config.lr)

        def official_score() -> None:
            pair.model.eval()
            keys = pair.keys
            for i in range(len(inputs)):
                *_, keys = pair.eval_step(inputs[i:i + 1], targets[i:i + 1], keys, float("inf"))

        def official_train() -> None:
            pair.model.train()
            for _ in range(steps):
                pair.train_step(x, target, official_optimizer)

        scoring["official"], training["official"] = official_score, official_train
    score_t = interleaved(scoring, rounds)
    train_t = interleaved(training, max(rounds - 1, 2) if size >= 256 else rounds)
    gmac = forward_gmac(det, size)
    row: dict[str, Any] = {
        "model": name, "size": size, "gmac_per_frame": gmac,
        "score_fps": frames / statistics.median(score_t["ours"]),
        "train_samples_s": 4 * steps / statistics.median(train_t["ours"]),
    }
    if official is not None:
        row.update(official_score_fps=frames / statistics.median(score_t["official"]),
                   official_train_samples_s=4 * steps / statistics.median(train_t["official"]),
                   score_ratio=ratio(score_t, "official", "ours"), train_ratio=ratio(train_t, "official", "ours"))
    conv = ROOFLINE["channels_last"].gmac
    row.update(score_gmacs=gmac * row["score_fps"], train_gmacs=3 * gmac * row["train_samples_s"],
               conv_gmacs=conv / statistics.median(score_t["conv"] + train_t["conv"]),
               score_roofline=roofline_fraction(score_t, gmac * frames),
               train_roofline=roofline_fraction(train_t, 3 * gmac * 4 * steps))
    return row


@contextmanager
def network_clock() -> Iterator[dict[str, float]]:
    """Seconds spent inside ``MNAD.train_step`` and ``MNAD.score_video`` while inside."""
    spent = {"train_step": 0.0, "score_video": 0.0}
    originals = {name: getattr(MNAD, name) for name in spent}

    def timed(name: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return wrapper

    for name in spent:
        setattr(MNAD, name, timed(name))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(MNAD, name, fn)


SCENE = {"train_videos": 4, "test_videos": 4}  # half the default synthetic scene (150-frame videos)


def pipeline() -> dict[str, float]:
    """One whole ``vadbench run`` (MNAD-P, ``cpu`` profile, a synthetic scene of :data:`SCENE`,
    fresh cache) and the network time inside it."""
    from vadbench.console import console
    from vadbench.runner import RunRequest, run

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VADBENCH_CACHE"] = str(Path(tmp) / "cache")
        console.quiet = True
        with network_clock() as spent:
            start = time.perf_counter()
            metrics = run(RunRequest("mnad-p", dataset="synthetic", dataset_options=SCENE, out=Path(tmp) / "run"))
            wall = time.perf_counter() - start
    network = spent["train_step"] + spent["score_video"]
    timings = metrics["timings"]
    return {"wall_s": wall, "network_s": network, "train_step_s": spent["train_step"],
            "score_video_s": spent["score_video"], "fit_s": timings["train_seconds"],
            "scoring_s": timings["score_seconds"],
            "cache_evaluate_write_s": wall - timings["train_seconds"] - timings["score_seconds"],
            "wall_over_network": wall / network}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", help="a checkout of cvlab-yonsei/MNAD (default: $MNAD_OFFICIAL)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128, 64, 32])
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds per figure at 256² (training: one fewer), twice as many below")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the whole-pipeline run")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    official = official_mnad.checkout(args.official)
    layouts = interleaved(ROOFLINE, rounds=2 * args.rounds, warmup=1)
    roof = {f"conv_gmacs_{name}": ROOFLINE[name].gmac / statistics.median(t) for name, t in layouts.items()}
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"
    print(f"{cpu}, torch {torch.__version__}, {args.threads} threads (OMP_WAIT_POLICY "
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}), {time.strftime('%Y-%m-%d')}, load average "
          f"{os.getloadavg()[0]:.1f}; "
          f"official modules: {official or 'not given (--official)'}")
    print(f"64-channel 3x3 conv at 256², batch 1: {roof['conv_gmacs_channels_last']:.1f} GMAC/s channels-last, "
          f"{roof['conv_gmacs_contiguous']:.1f} contiguous (interleaved, {2 * args.rounds} rounds)\n")
    print("| model | size | GMAC/frame | score fps | × official | % of roofline | train samples/s | × official "
          "| % of roofline | conv GMAC/s |\n|" + "---|" * 10, flush=True)
    rows = []
    for size in args.sizes:
        for name in DETECTORS:
            scale = max(256 // size, 1)  # about the same work per timed call at every size; more rounds below 256²
            r = measure(name, size, frames=4 * min(scale, 8), steps=min(scale, 4),
                        rounds=args.rounds if size >= 256 else 2 * args.rounds, official=official)
            cells = [name, f"{size}²", f"{r['gmac_per_frame']:.2f}", f"{r['score_fps']:.2f}",
                     f"{r['score_ratio']:.2f}" if official else "", f"{100 * r['score_roofline']:.0f} %",
                     f"{r['train_samples_s']:.2f}", f"{r['train_ratio']:.2f}" if official else "",
                     f"{100 * r['train_roofline']:.0f} %", f"{r['conv_gmacs']:.0f}"]
            print("| " + " | ".join(cells) + " |", flush=True)
            rows.append(r)
    whole = None if args.no_pipeline else pipeline()
    if whole:
        print(f"\nwhole pipeline (mnad-p, cpu profile, synthetic scene {SCENE}, fresh cache): {whole['wall_s']:.1f} s wall, "
              f"{whole['network_s']:.1f} s in train_step + score_video: {whole['wall_over_network']:.2f}× the network "
              f"time (fit {whole['fit_s']:.1f} s, scoring {whole['scoring_s']:.1f} s, cache + evaluate + write "
              f"{whole['cache_evaluate_write_s']:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                       "load_average": os.getloadavg(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
                       "official": str(official) if official else None, **roof, "rows": rows, "pipeline": whole}, f,
                      indent=2)


if __name__ == "__main__":
    main()
