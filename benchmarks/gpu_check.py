"""The prepared GPU check of MNAD (run through benchmarks/gpu_check.sh): fidelity, speed, Ped2, then training.

Steps, each skipped with its reason when its input is missing or the time budget would not hold it:

1. **device tests**: ``tests/test_device.py`` on this machine (on CUDA: the graph step equals the
   eager one bit for bit, and CUDA equals the CPU within float noise);
2. **fidelity**: the official modules against vadbench on the device with the same weights
   (:func:`official_mnad.fidelity`: per-frame PSNR, feature distance, regular score, items, losses),
   and vadbench on the device against vadbench on the CPU;
3. **scoring** frames/s of MNAD-P and MNAD-R (batch 1, test-time update on and forced every frame)
   for the CUDA-graph and eager steps, contiguous weights and bf16 autocast, beside the official
   evaluation step when the checkout is given (the paper reports 67 fps on a TITAN Xp);
4. **training** iterations/s at batch 4 (float32 and bf16, and the official iteration);
5. **Ped2 pipeline**: ``vadbench run mnad-p --epochs 0`` on Ped2's test set, from a cold cache and
   again from the warm one (wall time, and the scoring rate inside it);
6. **paper recipe**: as many epochs as the rest of the budget holds of ``vadbench run mnad-p`` on
   Ped2 in the paper's setting, with ``--resume``: it is interrupted (SIGINT) before the budget
   ends and the next call continues from the last finished epoch.

The summary is printed at the end and written as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import official_mnad
from official_mnad import DETECTORS
from vadbench.data.cache import CachedVideo
from vadbench.device import configure
from vadbench_mnad.detector import make_optimizer

REPO = Path(__file__).resolve().parent.parent


class Budget:
    """The wall-clock budget of the whole check; a step asks for the seconds it needs before starting."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def allows(self, seconds: float) -> bool:
        return self.left() >= seconds


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], repeats: int, device: str) -> float:
    fn()  # warm-up: allocations, cuDNN heuristics, graph capture
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def video(history: int, frames: int, size: int) -> CachedVideo:
    rng = np.random.default_rng(0)
    return CachedVideo("bench", rng.integers(0, 256, (history + frames, size, size, 3), np.uint8), None)


def scoring(device: str, size: int, frames: int, official: Path | None, quick: bool) -> dict[str, Any]:
    """Frames/s of score_video per variant, and of the official evaluation step."""
    variants = {"cuda-graph": {}, "eager": {"scoring_graph": "eager"}, "contiguous": {"memory_format": "contiguous"},
                "bf16": {"amp": "bf16"}}
    if not device.startswith("cuda"):  # no graph here: "cuda-graph" and "eager" are the same path
        variants = {"eager": {}, "bf16": {"amp": "bf16"}}
    out: dict[str, Any] = {}
    for name, cls in DETECTORS.items():
        v = video(cls.history, frames, size)
        row: dict[str, Any] = {}
        for label, settings in variants.items():
            det = cls(cls.Config(height=size, width=size, threshold=math.inf, **settings))
            det.to(device)
            det.build(0)

            def run() -> None:
                det.reset()
                det.score_video(v)
            row[label] = frames / median_seconds(run, 1 if quick else 3, device)
            row.setdefault("execution", {})[label] = det.execution().get("scoring_graph")
        if official is not None:
            pair = official_mnad.build(official, name, size, device)
            x, target = pair.inputs(v.frames)

            def official_run() -> None:
                pair.model.eval()
                keys = pair.keys
                for i in range(len(x)):
                    *_, keys = pair.eval_step(x[i:i + 1], target[i:i + 1], keys, math.inf)
            row["official"] = frames / median_seconds(official_run, 1, device)
        out[name] = row
    return out


def training(device: str, size: int, steps: int, official: Path | None) -> dict[str, Any]:
    """Training iterations/s at batch 4 (float32, bf16) and of the official iteration."""
    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for name, cls in DETECTORS.items():
        row: dict[str, Any] = {}
        uint8 = torch.from_numpy(rng.integers(0, 256, (4, cls.history + 1, size, size, 3), np.uint8))
        for label, settings in {"float32": {}, "bf16": {"amp": "bf16"}}.items():
            det = cls(cls.Config(height=size, width=size, **settings))
            det.to(device)
            det.build(0)
            x, target = det._split(det._frames(uint8))
            optimizer = make_optimizer(det.net.parameters(), det.config.lr)
            det.net.train()

            def run() -> None:
                for _ in range(steps):
                    det.train_step(x, target, optimizer)
            row[label] = steps / median_seconds(run, 2, device)
        if official is not None:
            pair = official_mnad.build(official, name, size, device)
            x, target = pair.ours._split(pair.ours._frames(uint8))
            optimizer = torch.optim.Adam(pair.model.parameters(), lr=pair.ours.config.lr)
            pair.model.train()

            def official_run() -> None:
                for _ in range(steps):
                    pair.train_step(x, target, optimizer)
            row["official"] = steps / median_seconds(official_run, 2, device)
        out[name] = row
    return out


def cross_device(size: int, device: str) -> dict[str, float]:
    """vadbench on ``device`` against vadbench on the CPU: same weights, same frames, forced updates."""
    out = {}
    for name, cls in DETECTORS.items():
        v = video(cls.history, 6, size)
        streams = []
        for where in ("cpu", device):
            det = cls(cls.Config(height=size, width=size, threshold=math.inf))
            det.to(where)
            det.build(0)
            extras = det.score_video(v).extras
            streams.append(np.stack([extras[c][cls.history:] for c in ("psnr", "feature_distance", "regular_score")]))
        out[f"{name}_max_rel_diff"] = float((np.abs(streams[0] - streams[1]) / np.abs(streams[0])).max())
    return out


def vadbench_cli(*args: str, cache: Path, timeout: float | None = None) -> tuple[int, float, str]:
    """Run the ``vadbench`` console script beside this Python with its caches in ``cache``; on
    ``timeout`` it is interrupted (SIGINT: the CLI stops, its finished epochs checkpointed).
    Returns exit code, wall seconds, output tail."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("vadbench")), *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "VADBENCH_CACHE": str(cache)})
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate()
    return proc.returncode, time.perf_counter() - start, output[-2000:]


def ped2_pipeline(root: Path, device: str, quick: bool, cache: Path) -> dict[str, Any]:
    """``vadbench run mnad-p --epochs 0`` on Ped2: the cold run builds the cache in ``cache`` (empty),
    the warm one reuses it."""
    out: dict[str, Any] = {}
    for label in ("cold", "warm") if not quick else ("cold",):
        with tempfile.TemporaryDirectory() as tmp:
            code, wall, tail = vadbench_cli("run", "mnad-p", "--dataset", "ped2", "--root", str(root), "--device", device,
                                            "--epochs", "0", "--out", f"{tmp}/run",
                                            *(["--profile", "cpu"] if quick else []), cache=cache)
            if code:
                raise RuntimeError(f"vadbench run failed ({code}): {tail}")
            metrics = json.loads(Path(f"{tmp}/run/metrics.json").read_text())
        timings = metrics["timings"]
        out[label] = {"wall_s": round(wall, 1), "score_s": timings["score_seconds"], "score_fps": timings["score_fps"],
                      "frames": metrics["frames_evaluated"], "execution": metrics.get("execution")}
    return out


def paper_recipe(root: Path, device: str, quick: bool, seconds: float, run_dir: Path, cache: Path) -> dict[str, Any]:
    """As many epochs of the paper's Ped2 MNAD-P run as ``seconds`` hold, resumable from its checkpoint
    (quick: the ``cpu`` profile's 32², for 60 epochs too)."""
    from vadbench.store import load_torch

    extra = ["--profile", "cpu", "--epochs", "60"] if quick else []
    code, wall, tail = vadbench_cli("run", "mnad-p", "--dataset", "ped2", "--root", str(root), "--device", device,
                                    "--workers", str(min(4, (os.cpu_count() or 2) - 1)), "--resume", "--out", str(run_dir), *extra, cache=cache,
                                    timeout=seconds)
    checkpoint = run_dir / "checkpoint.pt"
    done = int(load_torch(checkpoint)["epoch"]) + 1 if checkpoint.exists() else None
    finished = (run_dir / "metrics.json").exists()
    if finished:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        return {"finished": True, "auc_micro": metrics["auc_micro"], "wall_s": round(wall, 1), "run": str(run_dir)}
    return {"finished": False, "epochs_done": done, "of": 60, "wall_s": round(wall, 1), "exit": code,
            "run": str(run_dir), "resume": "run the check again: it continues from the last finished epoch",
            "tail": tail[-300:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes (32²): the CPU fallback, a few minutes")
    parser.add_argument("--budget", type=float, default=420.0, help="wall-clock seconds for the whole check")
    parser.add_argument("--ped2", help="Ped2's root (skipped when absent)")
    parser.add_argument("--official", help="a checkout of cvlab-yonsei/MNAD (default: $MNAD_OFFICIAL)")
    parser.add_argument("--paper-out", help="the paper-recipe run (default: leaderboards/ped2/runs/mnad-p-paper-s0; "
                        "with --quick a folder under --work)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "vadbench-gpu-check"),
                        help="caches and the quick runs (kept between calls, so a second call resumes)")
    parser.add_argument("--json", help="write the summary here too")
    args = parser.parse_args()
    budget = Budget(args.budget)
    device = args.device
    work = Path(args.work)
    cache = work / ("cache-quick" if args.quick else "cache")
    paper_out = REPO / (args.paper_out or (work / "mnad-p-quick" if args.quick else "leaderboards/ped2/runs/mnad-p-paper-s0"))
    configure(device)
    size = 32 if args.quick else 256
    official = official_mnad.checkout(args.official)
    ped2 = Path(args.ped2) if args.ped2 and (Path(args.ped2) / "testing").is_dir() else None
    summary: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else f"cpu ({os.cpu_count()} cores)",
        "torch": torch.__version__, "cuda": torch.version.cuda, "size": size, "quick": args.quick,
        "date": time.strftime("%Y-%m-%d"), "official": str(official) if official else None, "steps": {},
    }

    def step(name: str, needs: float, fn: Callable[[], Any], missing: str | None = None) -> None:
        began = time.perf_counter()
        if missing:
            result: Any = {"skipped": missing}
        elif not budget.allows(needs):
            result = {"skipped": f"needs about {needs:.0f} s, {budget.left():.0f} s left"}
        else:
            try:
                result = fn()
            except Exception as error:  # the summary says what failed; the other steps still run
                result = {"failed": f"{type(error).__name__}: {error}"}
        summary["steps"][name] = {"seconds": round(time.perf_counter() - began, 1), "result": result}
        print(f"== {name} ({summary['steps'][name]['seconds']} s)\n{json.dumps(result, indent=1)}", flush=True)

    step("device tests", 20, lambda: vadbench_tests())
    step("fidelity vs official", 20 if device.startswith("cuda") else 60,
         lambda: {name: official_mnad.fidelity(official, name, size, device) for name in DETECTORS},
         None if official else "no official checkout (--official or MNAD_OFFICIAL)")
    step("fidelity vs cpu", 30, lambda: cross_device(size, device),
         None if device != "cpu" else "the device is the CPU")
    step("scoring fps (batch 1, update forced)", 60,
         lambda: scoring(device, size, 16 if args.quick else 200, official, args.quick))
    step("training it/s (batch 4)", 60, lambda: training(device, size, 2 if args.quick else 20, official))
    missing = None if ped2 else f"no Ped2 at {args.ped2!r} (PED2_ROOT)"
    step("ped2 pipeline (--epochs 0)", 90 if not args.quick else 60,
         lambda: ped2_pipeline(ped2, device, args.quick, cache), missing)
    step("paper recipe (resumable)", 120 if not args.quick else 45,
         lambda: paper_recipe(ped2, device, args.quick, budget.left() - 15, paper_out, cache), missing)
    summary["total_seconds"] = round(args.budget - budget.left(), 1)
    print("\nsummary\n" + json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


def vadbench_tests() -> dict[str, Any]:
    """The device tests, on this machine (``pytest tests/test_device.py``)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_device.py"],
                          cwd=REPO, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    return {"exit": proc.returncode, "result": lines[-1] if lines else proc.stderr[-500:]}


if __name__ == "__main__":
    main()
