"""One run: prepare the cache, train, score every test video, evaluate, write the run directory.

A run directory holds::

    config.json    the resolved run: detector (+ source), profile, config, dataset (+ options,
                   cache, preprocessing), seed, epochs, device, protocol
    env.json       versions and hardware
    checkpoint.pt  training state after the last finished epoch (``--resume`` continues from it);
                   removed when the run finishes unless ``--keep-checkpoint`` (model.pt suffices)
    model.pt       the trained detector's state_dict (``vadbench eval`` scores it again)
    train_log.csv  one row per epoch: losses and seconds
    frames.csv     one row per test frame: video, frame, label, score (+ the detector's extras);
                   every metric can be recomputed from it (``vadbench metrics``)
    metrics.json   metrics, protocol record, provenance and timings; written last, so its
                   presence means the run is complete

Every file is written atomically, and the output folder is checked to be writable before any
work starts. ``vadbench eval`` never touches these files: it writes its own frames.csv and
metrics.json into ``evals/<checkpoint>-<protocol>/`` inside the run (or ``--out``).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from vadbench.config import apply_overrides, to_dict
from vadbench.console import console, progress
from vadbench.data.cache import ClipCache
from vadbench.data.prepare import make_adapter, prepare, resolve_root
from vadbench.detector import Detector
from vadbench.errors import ConfigError, RunError
from vadbench.metrics import evaluate
from vadbench.protocols import Protocol, get_protocol
from vadbench.registry import detectors
from vadbench.store import atomic_open, atomic_torch_save, check_writable, load_torch, read_json, restore, write_json
from vadbench.tables import METRICS_KEYS
from vadbench.training import Trainer, environment, seed_everything

RESERVED_ROW_KEYS = ("detector", "reported")
CONFIG_KEYS = ("detector", "detector_source", "config", "dataset", "dataset_options", "input", "seed", "epochs",
               "device", "protocol")  # what eval and --resume read from config.json



@dataclass
class RunRequest:
    """Everything ``vadbench run`` was asked for."""

    detector: str
    dataset: str = "synthetic"
    root: str | None = None
    seed: int = 0
    epochs: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None
    device: str = "cpu"
    out: Path | None = None
    resume: bool = False
    overwrite: bool = False
    protocol: str | None = None  # None: the mnad protocol with the detector's own defaults
    protocol_overrides: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    workers: int = 0
    pixel: bool = False
    keep_checkpoint: bool = False
    label: str | None = None  # a row name (ablation grids)


def _resolve_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device here")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; use cpu or cuda")
    return device


def _known_train_frames(dataset: str, root: str | None, options: dict[str, Any]) -> int:
    """Training frames as the adapter lists them (videos of unknown length count 0)."""
    listing = make_adapter(dataset, root, **options).listing("train")
    return sum(v.n_frames or 0 for v in listing.videos)


def build_detector(cls: type[Detector], profile: str | None, overrides: dict[str, Any]) -> Detector:
    """Instantiate ``cls`` with a profile's overrides, then the user's, both validated."""
    config = cls.Config()
    if profile is not None:
        if profile not in cls.profiles:
            known = ", ".join(cls.profiles) or "none"
            raise ConfigError(f"unknown profile {profile!r} for {cls.__name__}; known: {known}")
        config = apply_overrides(config, cls.profiles[profile])
    return cls(apply_overrides(config, overrides))


DETECTOR_FACTS = ("detector_normalisation",)  # protocol fields that state what a detector's score is, not a choice


def resolve_protocol(name: str | None, cls: type[Detector], overrides: dict[str, Any]) -> Protocol:
    """The protocol a run applies, named honestly.

    With no name: the ``mnad`` protocol with the detector's literature defaults (MNAD-R scores
    every frame, so it drops none); where they differ from ``mnad`` the record says ``mnad*`` and
    lists the changed fields. With a name, the user's protocol wins: only the detector's
    statement of what its score already is (``detector_normalisation``) is added. The user's
    ``--protocol-set`` overrides come last.
    """
    base = get_protocol(name or "mnad")
    defaults = {k: v for k, v in cls.protocol_defaults.items() if name is None or k in DETECTOR_FACTS}
    return dataclasses.replace(base, **defaults).with_overrides(overrides)


def default_out(req: RunRequest, profile: str | None) -> Path:
    tag = f"-{profile}" if profile else ""
    return Path("runs") / req.dataset / f"{req.label or req.detector}{tag}-s{req.seed}"


IDENTITY = ("detector", "config", "dataset", "seed", "epochs")  # what a resumed run must share with the stored one


def _check_run_dir(out: Path, req: RunRequest, identity: dict[str, Any]) -> None:
    """Refuse to mix runs: an existing directory needs --resume (same identity) or --overwrite."""
    if not out.exists() or not any(out.iterdir()):
        return
    if req.overwrite:
        shutil.rmtree(out)
        return
    if not req.resume:
        state = "a finished" if (out / "metrics.json").exists() else "an unfinished"
        raise RunError(f"{out} holds {state} run; pass --resume to continue it (a finished one is reported "
                       "as it is) or --overwrite to replace it")
    if (out / "config.json").exists():
        old = read_json(out / "config.json", CONFIG_KEYS)
        changed = [k for k in IDENTITY if old.get(k) != identity[k]]
        if changed:
            raise RunError(f"cannot resume {out}: {', '.join(changed)} differ from the stored run")


def run(req: RunRequest) -> dict[str, Any]:
    """Train, score and evaluate; returns the metrics (also written to ``metrics.json``).

    Everything that can be refused is checked before any work: the device, the detector and its
    config, the protocol, the epochs and the output folder. ``--resume`` on a finished run
    returns its stored metrics and recomputes nothing.
    """
    device = _resolve_device(req.device)
    if req.epochs is not None and req.epochs < 0:
        raise ConfigError(f"--epochs must be >= 0 (0 scores the untrained detector), got {req.epochs}")
    cls = detectors.get(req.detector)
    options = {**req.dataset_options}
    profile = req.profile
    if profile is None and cls.profiles:
        profile = cls.auto_profile(_known_train_frames(req.dataset, req.root, options), device)
    seed_everything(req.seed)  # before the detector exists: weights made in __init__ are seeded too
    detector = build_detector(cls, profile, req.overrides)
    protocol = resolve_protocol(req.protocol, cls, req.protocol_overrides)
    spec = detector.input_spec()
    root = resolve_root(req.dataset, req.root)
    out = Path(req.out) if req.out else default_out(req, profile)
    check_writable(out)
    identity = {"detector": req.detector, "config": to_dict(detector.config), "dataset": req.dataset,
                "seed": req.seed, "epochs": req.epochs}
    _check_run_dir(out, req, identity)
    if req.resume and (out / "metrics.json").exists():
        console.print(f"{out} is finished; its stored metrics follow (nothing was rerun)")
        return read_json(out / "metrics.json", METRICS_KEYS)

    with progress() as bar:
        task = None

        def on_start(n: int) -> None:
            nonlocal task
            task = bar.add_task(f"cache {req.dataset} {spec.key}", total=n, losses="")

        def on_video(split: str, name: str, frames: int) -> None:
            bar.update(task, advance=1, losses=f"{split}/{name}: {frames} frames")

        cache = prepare(req.dataset, spec, root, partial=req.partial, on_start=on_start,
                        on_video=on_video, **options)
    train = cache.train_data()
    config = {
        **identity, "detector_source": f"{cls.__module__}:{cls.__qualname__}", "label": req.label,
        "profile": profile, "root": str(root) if root else None, "dataset_options": options,
        "input": dataclasses.asdict(spec),
        "cache": {"path": str(cache.path), "fingerprint": cache.attrs["fingerprint"], "missing": cache.missing},
        "device": device, "protocol": protocol.record(), "deviations": detector.deviations(),
    }
    write_json(out / "config.json", config)
    write_json(out / "env.json", environment(device))
    console.print(f"[bold]{req.detector}[/] on [bold]{req.dataset}[/] ({spec.key}, profile {profile or 'default'}, "
                  f"seed {req.seed}, {train.n_frames} training frames) -> {out}")

    detector.to(device)
    timings: dict[str, float] = {}
    began = time.perf_counter()
    if req.resume and (out / "model.pt").exists():  # interrupted after training: score the stored model
        load_detector_state(detector, out / "model.pt", device)
        history = _read_history(out)
    else:
        with progress() as bar:
            trainer = Trainer(device=device, seed=req.seed, epochs=req.epochs, checkpoint=out / "checkpoint.pt",
                              resume=req.resume, workers=req.workers, progress=bar)
            detector.fit(train, trainer)
        history = trainer.history
        atomic_torch_save(detector.state_dict(), out / "model.pt")
        _write_history(out, history)
    timings["train_seconds"] = round(time.perf_counter() - began, 3)
    metrics = score_and_evaluate(detector, cache, protocol, out, pixel=req.pixel)
    metrics["timings"].update(timings)
    metrics["epochs_trained"] = len(history)
    result = _provenance(metrics, {**config, "deviations": detector.deviations()})  # with what scoring met
    write_json(out / "metrics.json", result)
    cache.close()
    if not req.keep_checkpoint:
        (out / "checkpoint.pt").unlink(missing_ok=True)
    return result


def load_detector_state(detector: Detector, path: Path, device: str) -> None:
    """Load a ``model.pt`` (or a resume checkpoint's detector part) into ``detector``, or say why not."""
    state = load_torch(path, device)
    if isinstance(state, dict) and "detector" in state and "epoch" in state:
        state = state["detector"]
    restore(detector, state, path)


def _provenance(metrics: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """metrics.json: the numbers plus what a table needs to say where they come from."""
    missing = config["cache"]["missing"]
    return {
        **metrics,
        "detector": config["detector"], "label": config.get("label"), "profile": config["profile"],
        "dataset": config["dataset"], "dataset_options": config["dataset_options"],
        "input": config["input"], "seed": config["seed"],
        "epochs": config["epochs"] if config["epochs"] is not None else config["config"].get("epochs"),
        "device": config["device"], "deviations": config.get("deviations", {}),
        "missing_videos": missing, "comparable": not any(missing.values()),
    }


def score_and_evaluate(detector: Detector, cache: ClipCache, protocol: Protocol, out: Path, *,
                       pixel: bool = False) -> dict[str, Any]:
    """Score every test video in sorted order, write ``frames.csv``, compute the metrics."""
    detector.reset()
    names = cache.videos("test")
    frames, pairs, raws, maps, masks = [], [], [], [], []
    scoring = 0.0
    total = int(cache.lengths("test").sum())
    with progress() as bar, torch.inference_mode():
        task = bar.add_task("scoring", total=total, losses="")
        for name in names:
            video = cache.video("test", name)
            t0 = time.perf_counter()
            result = detector.score_video(video)
            scoring += time.perf_counter() - t0
            result.check(len(video), name)
            table = pd.DataFrame({"video": name, "frame": np.arange(len(video)), "label": video.labels,
                                  "score": np.asarray(result.scores, dtype=np.float64)})
            if result.raw is not None:
                table["raw_score"] = np.asarray(result.raw, dtype=np.float64)
                raws.append(table["raw_score"].to_numpy())
            for key, column in result.extras.items():
                table[key] = np.asarray(column)
            frames.append(table)
            pairs.append((table["score"].to_numpy(), video.labels))
            if pixel and result.maps is not None and video.has_masks:
                maps.append(result.maps)
                masks.append(video.masks())
            bar.update(task, advance=len(video), losses=name)
    with atomic_open(out / "frames.csv") as f:
        pd.concat(frames, ignore_index=True).to_csv(f, index=False, float_format="%.9g")
    metrics = evaluate(pairs, protocol, raws if len(raws) == len(pairs) else None)
    if maps:
        from vadbench.pixel import pixel_metrics

        metrics.update(pixel_metrics(maps, masks))
    metrics["protocol"] = {**protocol.record(), **cache.protocol,
                           "state_reset": "never (memory carried across videos)" if detector.stateful_test else "n/a",
                           "video_order": "sorted"}
    metrics["timings"] = {"score_seconds": round(scoring, 3), "score_fps": round(total / max(scoring, 1e-9), 2)}
    return metrics


def read_frames(run_dir: Path) -> pd.DataFrame:
    """A run's ``frames.csv``, checked: the columns every metric needs, labels 0/1, one row per frame."""
    path = Path(run_dir) / "frames.csv"
    if not path.exists():
        raise RunError(f"no frames.csv in {run_dir}")
    try:
        table = pd.read_csv(path, dtype={"video": str})
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise RunError(f"{path} is not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ("video", "frame", "label", "score") if c not in table]
    if missing:
        raise RunError(f"{path} lacks the column(s) {', '.join(missing)}")
    if not table["label"].isin([0, 1]).all() or not pd.api.types.is_numeric_dtype(table["score"]):
        raise RunError(f"{path} has labels other than 0/1 or non-numeric scores; it is corrupt")
    return table


def recorded_protocol(run_dir: Path) -> Protocol:
    """The protocol a finished run was evaluated under (from its metrics.json)."""
    return Protocol.from_record(read_json(Path(run_dir) / "metrics.json", METRICS_KEYS)["protocol"])


def metrics_from_frames(run_dir: Path, protocol: Protocol) -> dict[str, Any]:
    """Recompute the metrics of a finished run from its ``frames.csv`` (no detector needed)."""
    table = read_frames(run_dir)
    groups = [g for _, g in table.groupby("video", sort=True)]
    pairs = [(g["score"].to_numpy(np.float64), g["label"].to_numpy()) for g in groups]
    raws = [g["raw_score"].to_numpy(np.float64) for g in groups] if "raw_score" in table else None
    return evaluate(pairs, protocol, raws)


def evaluate_checkpoint(run_dir: Path, checkpoint: Path | None = None, device: str = "cpu",
                        protocol_name: str | None = None, out: Path | None = None,
                        overwrite: bool = False) -> dict[str, Any]:
    """Score a saved model again (``vadbench eval``) into an evaluation folder of its own.

    The run's own files (its training record, metrics.json and frames.csv) are never changed:
    the evaluation goes to ``<run>/evals/<checkpoint>-<protocol>/`` or ``out``, and its
    metrics.json carries the run's training figures, marked ``evaluation_of`` the run.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise RunError(f"{run_dir} is not a run directory (no config.json)")
    config = read_json(run_dir / "config.json", CONFIG_KEYS)
    device = _resolve_device(device)
    cls = detectors.get(config["detector"] if config["detector"] in detectors.names() else config["detector_source"])
    detector = cls(apply_overrides(cls.Config(), config["config"]))
    path = Path(checkpoint) if checkpoint else run_dir / "model.pt"
    protocol = (resolve_protocol(protocol_name, cls, {}) if protocol_name
                else Protocol.from_record(config["protocol"]))
    target = Path(out) if out else run_dir / "evals" / f"{path.stem}-{protocol.label.replace('*', '_')}"
    if target.resolve() == run_dir.resolve():
        raise RunError(f"--out {target} is the run directory itself; an evaluation never replaces the run's files")
    if (target / "metrics.json").exists() and not overwrite:
        raise RunError(f"{target} holds an evaluation already; pass --overwrite to replace it or --out elsewhere")
    check_writable(target)
    load_detector_state(detector, path, device)
    detector.to(device)
    spec = detector.input_spec()
    cache = prepare(config["dataset"], spec, config.get("root"), **config["dataset_options"])
    metrics = score_and_evaluate(detector, cache, protocol, target)
    trained = _training_record(run_dir)
    metrics["timings"].update({k: v for k, v in trained.get("timings", {}).items() if k == "train_seconds"})
    if "epochs_trained" in trained:
        metrics["epochs_trained"] = trained["epochs_trained"]
    result = _provenance({**metrics, "checkpoint": str(path), "evaluation_of": str(run_dir)},
                         {**config, "deviations": detector.deviations()})
    write_json(target / "metrics.json", result)
    cache.close()
    return result


def _training_record(run_dir: Path) -> dict[str, Any]:
    """The finished run's metrics.json (for its training figures), or {} if it never finished."""
    path = run_dir / "metrics.json"
    return read_json(path, METRICS_KEYS) if path.exists() else {}


def _write_history(out: Path, history: list[dict[str, float]]) -> None:
    with atomic_open(out / "train_log.csv") as f:
        pd.DataFrame(history).to_csv(f, index=False)


def _read_history(out: Path) -> list[dict[str, float]]:
    path = out / "train_log.csv"
    if not path.exists() or not path.stat().st_size:
        return []
    try:
        return pd.read_csv(path).to_dict("records")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise RunError(f"{path} is not a readable CSV ({str(exc).splitlines()[0]})") from None


def ablation_rows(cls: type[Detector]) -> dict[str, dict[str, Any]]:
    """A detector's ablation grid, or an error if it has none."""
    if not cls.ablations:
        raise ConfigError(f"{cls.__name__} defines no ablation grid")
    return cls.ablations


def ablate(req: RunRequest) -> list[dict[str, Any]]:
    """Run every row of the detector's ablation grid into ``<out>/<row>``."""
    cls = detectors.get(req.detector)
    base = Path(req.out) if req.out else Path("runs") / req.dataset / f"{req.detector}-ablation"
    results = []
    for label, row in ablation_rows(cls).items():
        overrides = {k: v for k, v in row.items() if k not in RESERVED_ROW_KEYS}
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in label).strip("_")
        sub = dataclasses.replace(req, detector=row.get("detector", req.detector), label=label,
                                  overrides={**overrides, **req.overrides}, out=base / slug)
        if sub.resume and (sub.out / "metrics.json").exists():
            results.append(read_json(sub.out / "metrics.json", METRICS_KEYS))
            continue
        console.rule(f"ablation row: {label}")
        results.append(run(sub))
    return results
