"""One run: resolve it, build it, train, score every test video, evaluate, write the run directory.

The path goes one way: the request is resolved once (detector class, method card, profile,
config, protocol, dataset adapter and root, output folder), everything that can be refused is
refused before any work, then the cache is built (or reused), the detector trained, every test
video scored in sorted order and the metrics written. The files and their format belong to
:mod:`vadbench.rundir`, checkpoints to :mod:`vadbench.training`, grids to :mod:`vadbench.ablate`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from vadbench import distributed
from vadbench.card import MethodCard
from vadbench.config import apply_overrides, to_dict
from vadbench.console import console, progress
from vadbench.data.cache import ClipCache, build_cache
from vadbench.data.compression import DEFAULT as DEFAULT_COMPRESSION
from vadbench.data.compression import check_compression
from vadbench.data.prepare import cache_dir, make_adapter, prepare
from vadbench.data.source import DatasetAdapter
from vadbench.detector import Detector
from vadbench.device import configure, numerics
from vadbench.errors import ConfigError, RegistryError, RunError
from vadbench.metrics import evaluate
from vadbench.protocols import Protocol, get_protocol
from vadbench.registry import build_detector, resolve_detector
from vadbench.rundir import IDENTITY, RunDir
from vadbench.store import atomic_torch_save
from vadbench.training import Trainer, environment, load_detector_state, seed_everything

if TYPE_CHECKING:
    from vadbench.region_eval import GroundTruth


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
    protocol: str | None = None  # None: the mnad protocol with the method card's literature defaults
    protocol_overrides: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    compression: str = DEFAULT_COMPRESSION  # of the cached frames; lossless, so not part of the run's identity
    workers: int = 0
    pixel: bool = False
    regions: bool = False
    keep_checkpoint: bool = False
    label: str | None = None  # a row name (ablation grids)


def resolve_device(device: str) -> str:
    """The device a run uses, checked, with its numeric settings applied (:func:`vadbench.device.configure`)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device here")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; use cpu or cuda")
    configure(device)
    return device


def resolve_protocol(name: str | None, cls: type[Detector], card: MethodCard, overrides: dict[str, Any]) -> Protocol:
    """The protocol a run applies, named honestly.

    With no name: the ``mnad`` protocol with the method card's literature defaults (MNAD-R scores
    every frame, so it drops none); where they differ from ``mnad`` the record says ``mnad*`` and
    lists the changed fields. With a name, the user's protocol wins. Either way the detector's
    statement of what its score already is (``score_normalisation``) is recorded, and the user's
    ``--protocol-set`` overrides come last.
    """
    base = get_protocol(name or "mnad")
    defaults = dict(card.protocol) if name is None else {}
    return dataclasses.replace(base, **defaults, detector_normalisation=cls.score_normalisation).with_overrides(overrides)


def resolve_profile(profile: str | None, card: MethodCard, adapter: DatasetAdapter, device: str) -> str | None:
    """The profile a run uses: the one named, else the card's automatic choice by device and training-set
    size (unknown video lengths count 0); None for a detector without profiles."""
    if profile is None and card.profiles:
        train_frames = sum(v.n_frames or 0 for v in adapter.listing("train").videos)
        return card.auto_profile.choose(train_frames, device)
    return profile


def default_out(req: RunRequest, profile: str | None) -> Path:
    tag = f"-{profile}" if profile else ""
    return Path("runs") / req.dataset / f"{req.label or req.detector}{tag}-s{req.seed}"


def _check_run_dir(out: RunDir, req: RunRequest, identity: dict[str, Any]) -> None:
    """Refuse to mix runs: an existing directory needs --resume (same identity) or --overwrite."""
    if out.is_empty():
        return
    if req.overwrite:
        shutil.rmtree(out.path)
        return
    if not req.resume:
        state = "a finished" if out.finished else "an unfinished"
        raise RunError(f"{out.path} holds {state} run; pass --resume to continue it (a finished one is reported "
                       "as it is) or --overwrite to replace it")
    if out.is_run:
        old = out.read_config()
        changed = [k for k in IDENTITY if old.get(k) != identity[k]]
        if changed:
            raise RunError(f"cannot resume {out.path}: {', '.join(changed)} differ from the stored run")


def run(req: RunRequest) -> dict[str, Any]:
    """Train, score and evaluate; returns the metrics (also written to ``metrics.json``).

    Everything that can be refused is checked before any work: the device, the detector and its
    config, the protocol, the epochs, the dataset and the output folder. ``--resume`` on a
    finished run returns its stored metrics and recomputes nothing.

    Under torchrun every rank trains and only rank 0 writes the run directory, scores and
    evaluates; the others wait for its metrics and return them (docs/distributed.md).
    """
    device = distributed.setup(resolve_device(req.device))
    if req.epochs is not None and req.epochs < 0:
        raise ConfigError(f"--epochs must be >= 0 (0 scores the untrained detector), got {req.epochs}")
    check_compression(req.compression)
    if "tracks" in req.dataset_options and not req.regions:
        raise ConfigError("--data-set tracks=PATH gives the ground truth of the region criteria; add --regions to "
                          "compute them (without it the tracks are not used)")
    cls, card, preset = resolve_detector(req.detector)
    adapter = make_adapter(req.dataset, req.root, **with_configured_tracks(req))
    track_dir = adapter.tracks() if req.regions else None  # the folder is checked before any work
    profile = resolve_profile(req.profile, card, adapter, device)
    seed_everything(req.seed)  # before the detector exists: weights made in __init__ are seeded too
    detector = build_detector(cls, card, preset, profile, req.overrides)
    protocol = resolve_protocol(req.protocol, cls, card, req.protocol_overrides)
    spec = detector.input_spec()
    out = RunDir(Path(req.out) if req.out else default_out(req, profile))
    lead = distributed.rank() == 0
    identity = {"detector": req.detector, "config": to_dict(detector.config), "dataset": req.dataset,
                "seed": req.seed, "epochs": req.epochs}
    if lead:
        out.check_writable()
        _check_run_dir(out, req, identity)
    distributed.barrier()  # the other ranks read the directory once rank 0 has settled it (--overwrite empties it)
    if req.resume and out.finished:
        console.print(f"{out.path} is finished; its stored metrics follow (nothing was rerun)")
        return out.read_metrics()

    with progress() as bar:
        tasks: list[Any] = []
        path = build_cache(adapter, req.dataset, spec, cache_dir(), compression=req.compression, partial=req.partial,
                           on_start=lambda n: tasks.append(bar.add_task(f"cache {req.dataset} {spec.key}",
                                                                        total=n, losses="")),
                           on_video=lambda split, name, n: bar.update(tasks[0], advance=1,
                                                                      losses=f"{split}/{name}: {n} frames"))
    with ClipCache(path) as cache:
        train = cache.train_data()
        config = {
            **identity, "detector_source": f"{cls.__module__}:{cls.__qualname__}", "variant_of": card.variant_of,
            "label": req.label, "profile": profile, "root": str(adapter.root) if adapter.root else None,
            "dataset_options": adapter.options, "input": dataclasses.asdict(spec),
            "cache": {"path": str(cache.path), "fingerprint": cache.attrs["fingerprint"], "missing": cache.missing,
                      "compression": cache.compression},
            "device": device, "protocol": protocol.record(), "deviations": detector.deviations(),
        }
        truth = None
        if track_dir is not None:  # every track file is read and checked now, not after training
            from vadbench.region_eval import source_size, tracks_from_files

            truth = tracks_from_files(track_dir, [(name, int(n), source_size(cache, name)) for name, n in
                                                  zip(cache.videos("test"), cache.lengths("test"))])
            config["tracks"] = truth.record["tracks"]
        if lead:
            out.write_config(config)
            out.write_env(environment(device))
        console.print(f"[bold]{req.detector}[/] on [bold]{req.dataset}[/] ({spec.key}, profile {profile or 'default'}, "
                      f"seed {req.seed}, {train.n_frames} training frames) -> {out.path}")
        detector.to(device)
        began, began_cpu = time.perf_counter(), cpu_seconds()
        if req.resume and out.model.exists():  # interrupted after training: score the stored model
            load_detector_state(detector, out.model, device)
            history = out.read_history()
        else:
            with progress() as bar:
                trainer = Trainer(device=device, seed=req.seed, epochs=req.epochs, checkpoint=out.checkpoint,
                                  resume=req.resume, workers=req.workers, progress=bar)
                detector.fit(train, trainer)
            history = trainer.history
            if lead:
                atomic_torch_save(detector.state_dict(), out.model)
                out.write_history(history)
        train_seconds = round(time.perf_counter() - began, 3)
        train_cpu = round(cpu_seconds() - began_cpu, 3)
        if not lead:
            distributed.barrier()  # rank 0 scores, evaluates and writes alone
            return out.read_metrics()
        metrics = score_and_evaluate(detector, cache, protocol, out, pixel=req.pixel, regions=req.regions,
                                     truth=truth)
    metrics["timings"].update(train_seconds=train_seconds, train_cpu_seconds=train_cpu)
    metrics["epochs_trained"] = len(history)
    result = _provenance(metrics, {**config, "deviations": detector.deviations()})  # with what scoring met
    out.write_metrics(result)
    if not req.keep_checkpoint:
        out.drop_checkpoint()
    distributed.barrier()
    return result


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


def cpu_seconds() -> float:
    """CPU seconds this process and its finished children (DataLoader workers) used so far: the
    timings record them beside wall seconds, since wall time on a shared machine says little
    about what a run costs."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def score_and_evaluate(detector: Detector, cache: ClipCache, protocol: Protocol, out: RunDir, *,
                       pixel: bool = False, regions: bool = False, truth: GroundTruth | None = None) -> dict[str, Any]:
    """Score every test video in sorted order, write ``frames.csv``, compute the metrics.

    With ``pixel``, also the pixel metrics of detectors that return maps; with ``regions``, RBDC
    and TBDC (:mod:`vadbench.region_eval`) of the detector's own regions or of its maps, against
    ``truth`` (published tracks, read before training) or tracks derived from the pixel masks,
    and ``regions.csv`` beside ``frames.csv``.
    """
    from vadbench.region_eval import source_size

    detector.reset()
    names = cache.videos("test")
    frames, pairs, raws = [], [], []
    maps: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    given: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    scoring, scoring_cpu = 0.0, 0.0
    total = int(cache.lengths("test").sum())
    with progress() as bar, torch.inference_mode():
        task = bar.add_task("scoring", total=total, losses="")
        for name in names:
            video = cache.video("test", name)
            t0, c0 = time.perf_counter(), cpu_seconds()
            result = detector.score_video(video)
            scoring += time.perf_counter() - t0
            scoring_cpu += cpu_seconds() - c0
            result.check(len(video), name, source_size(cache, name) if result.regions is not None else None)
            lengths[name] = len(video)
            table = pd.DataFrame({"video": name, "frame": np.arange(len(video)), "label": video.labels,
                                  "score": np.asarray(result.scores, dtype=np.float64)})
            if result.raw is not None:
                table["raw_score"] = np.asarray(result.raw, dtype=np.float64)
                raws.append(table["raw_score"].to_numpy())
            for key, column in result.extras.items():
                table[key] = np.asarray(column)
            frames.append(table)
            pairs.append((table["score"].to_numpy(), video.labels))
            given[name] = result.regions
            if (pixel or regions) and result.maps is not None:
                maps[name] = result.maps
            if video.has_masks and (pixel or (regions and truth is None)):
                masks[name] = video.masks()
            bar.update(task, advance=len(video), losses=name)
    found = region_metrics(cache, names, lengths, given, maps, masks, truth) if regions else None
    out.write_frames(pd.concat(frames, ignore_index=True))
    metrics = evaluate(pairs, protocol, raws if len(raws) == len(pairs) else None)
    pixel_videos = [n for n in names if n in maps and n in masks]
    if pixel and pixel_videos:
        from vadbench.pixel import pixel_metrics

        metrics.update(pixel_metrics([maps[n] for n in pixel_videos], [masks[n] for n in pixel_videos]))
    if found is not None:
        from vadbench.region_eval import regions_table

        metrics.update(found[0])
        out.write_regions(regions_table(found[1]))
    else:
        out.regions_file.unlink(missing_ok=True)  # never a stale one beside new scores
    metrics["protocol"] = {**protocol.record(), **cache.protocol, "video_order": "sorted"}
    metrics["timings"] = {"score_seconds": round(scoring, 3), "score_cpu_seconds": round(scoring_cpu, 3),
                          "score_fps": round(total / max(scoring, 1e-9), 2)}
    metrics["execution"] = {**numerics(detector.device), **detector.execution()}  # what the timings were made with
    return metrics


def region_metrics(cache: ClipCache, names: list[str], lengths: dict[str, int], given: dict[str, Any],
                   maps: dict[str, np.ndarray], masks: dict[str, np.ndarray],
                   truth: GroundTruth | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """RBDC and TBDC of a scored test set (``docs/protocols.md`` §6.7), with the regions evaluated.

    Ground truth: ``truth`` (the published track files) or tracks derived from the pixel masks of
    the videos that have them (``gt_source=masks``, never confused with published tracks).
    Regions: the detector's own, else its maps' under the default
    :class:`~vadbench.regions.RegionRule` (recorded, with its threshold). A test set that gives no
    ground truth, or a detector that gives neither regions nor maps, is said in a note and yields None.
    """
    from vadbench.region_eval import region_metrics as criteria_of
    from vadbench.region_eval import source_size, tracks_of_masks

    truth = truth if truth is not None else tracks_of_masks(masks) if masks else None
    if truth is None:
        console.print("[yellow]note:[/] --regions: no test video has pixel masks and no track files were given "
                      "(--data-set tracks=PATH); no RBDC/TBDC")
        return None
    found = criteria_of(names, lengths, given, maps, truth, {n: source_size(cache, n) for n in truth.videos})
    if found is None:
        console.print("[yellow]note:[/] --regions: the detector returned neither regions nor anomaly maps; no RBDC/TBDC")
    return found


def with_configured_tracks(req: RunRequest) -> dict[str, Any]:
    """The dataset options of ``req``, with the config file's ``[tracks]`` folder for the dataset when
    ``--regions`` asks for region criteria and ``--data-set tracks=`` gives none (``docs/datasets.md``)."""
    from vadbench.data.prepare import configured_tracks
    from vadbench.registry import datasets

    options = dict(req.dataset_options)
    if req.regions and "tracks" not in options:
        folder = configured_tracks(req.dataset)
        fields = getattr(datasets.get(req.dataset), "Options", None)
        if folder is not None and "tracks" in getattr(fields, "__dataclass_fields__", {}):
            options["tracks"] = folder
    return options


def metrics_from_frames(run_dir: Path, protocol: Protocol) -> dict[str, Any]:
    """Recompute the metrics of a finished run from its ``frames.csv`` (no detector needed)."""
    table = RunDir(run_dir).read_frames()
    groups = [g for _, g in table.groupby("video", sort=True)]
    pairs = [(g["score"].to_numpy(np.float64), g["label"].to_numpy()) for g in groups]
    raws = [g["raw_score"].to_numpy(np.float64) for g in groups] if "raw_score" in table else None
    return evaluate(pairs, protocol, raws)


def detector_of_run(config: dict[str, Any]) -> tuple[Detector, type[Detector], MethodCard]:
    """The untrained detector a run's ``config.json`` describes, with its class and card.

    Shared by ``vadbench eval`` and the figures that need the model (``vadbench plot``), so both
    rebuild a run's detector the same way: by its registered name, or by ``module:Class`` for a
    detector run through ``--detector``; its weights are loaded by the caller.
    """
    if config.get("external"):
        raise RunError(f"this run holds scores made elsewhere ({config['external'].get('source')}); it has no model "
                       "to score again: re-evaluate it with `vadbench metrics` or `vadbench score-file`")
    try:
        cls, card, _ = resolve_detector(config["detector"])
    except RegistryError:  # a detector run through --detector module:Class
        cls, card, _ = resolve_detector(config["detector_source"])
    return cls(apply_overrides(cls.Config(), config["config"])), cls, card


def evaluate_checkpoint(run_dir: Path, checkpoint: Path | None = None, device: str = "cpu",
                        protocol_name: str | None = None, out: Path | None = None,
                        overwrite: bool = False) -> dict[str, Any]:
    """Score a saved model again (``vadbench eval``) into an evaluation folder of its own.

    The run's own files (its training record, metrics.json and frames.csv) are never changed:
    the evaluation goes to ``<run>/evals/<checkpoint>-<protocol>/`` or ``out``, and its
    metrics.json carries the run's training figures, marked ``evaluation_of`` the run.
    """
    run = RunDir(run_dir)
    config = run.read_config()
    device = resolve_device(device)
    detector, cls, card = detector_of_run(config)
    path = Path(checkpoint) if checkpoint else run.model
    protocol = (resolve_protocol(protocol_name, cls, card, {}) if protocol_name
                else Protocol.from_record(config["protocol"]))
    target = RunDir(out) if out else run.evaluation(f"{path.stem}-{protocol.label.replace('*', '_')}")
    if target.path.resolve() == run.path.resolve():
        raise RunError(f"--out {target.path} is the run directory itself; an evaluation never replaces the run's files")
    if target.finished and not overwrite:
        raise RunError(f"{target.path} holds an evaluation already; pass --overwrite to replace it or --out elsewhere")
    target.check_writable()
    load_detector_state(detector, path, device)
    detector.to(device)
    compression = config["cache"].get("compression", DEFAULT_COMPRESSION)  # runs from before it was recorded: none
    with prepare(config["dataset"], detector.input_spec(), config.get("root"), compression=compression,
                 **config["dataset_options"]) as cache:
        metrics = score_and_evaluate(detector, cache, protocol, target)
    trained = run.read_metrics() if run.finished else {}
    for key in ("train_seconds", "train_cpu_seconds"):  # the training's cost, where the run recorded it
        if key in trained.get("timings", {}):
            metrics["timings"][key] = trained["timings"][key]
    if "epochs_trained" in trained:
        metrics["epochs_trained"] = trained["epochs_trained"]
    result = _provenance({**metrics, "checkpoint": str(path), "evaluation_of": str(run.path)},
                         {**config, "deviations": detector.deviations()})
    target.write_metrics(result)
    return result
