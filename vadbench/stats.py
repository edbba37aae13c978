"""Significance between runs: DeLong's test and the paired video bootstrap of ΔAUC.

Two detectors scored on the same test frames give correlated AUCs (the same hard frames are hard
for both), so a difference is judged by tests that pair the frames: DeLong's test (the
asymptotic variance of ΔAUC from the structural components of the Mann–Whitney statistic) and a
paired bootstrap that resamples whole videos, the same videos for both runs (frames of a video
are not independent; ``docs/protocols.md`` §8). :func:`compare_runs` applies both to two finished
run directories after checking that they evaluated the same frames under the same protocol; the
per-run intervals of every metrics record live in :mod:`vadbench.metrics` (``video_bootstrap``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata

from vadbench.errors import EvaluationError, RunError
from vadbench.metrics import (CI_LEVEL, CI_RESAMPLES, CI_SEED, micro_auc_of_resamples, padded_aucs, pair_counts,
                              percentile_interval, process_video_indexed, resample_videos)
from vadbench.protocols import Protocol, get_protocol
from vadbench.rundir import RunDir

Videos = Sequence[tuple[np.ndarray, np.ndarray]]


# -- DeLong ------------------------------------------------------------------------------------
def delong_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and structural components of k score rows (k × N) by the midrank algorithm.

    Sun and Xu (2014): with T_Z the midranks of all N frames, T_X those among the m anomalous and
    T_Y among the n normal frames, AUC = (Σ_pos T_Z − m(m+1)/2)/(mn), V10_i = (T_Z,i − T_X,i)/n
    (the share of normal frames below anomalous frame i, ties ½) and V01_j = 1 − (T_Z,j − T_Y,j)/m
    (the share of anomalous frames above normal frame j). Three rankings, O(N log N) each, instead
    of the m·n comparisons of the definition. Returns (aucs [k], V10 [k, m], V01 [k, n]).
    """
    labels = np.asarray(labels)
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if not m or not n:
        raise EvaluationError(f"DeLong's test needs both classes; the {len(labels)} frames hold only one")
    t_z = rankdata(scores, axis=1)
    t_x = rankdata(scores[:, positive], axis=1)
    t_y = rankdata(scores[:, ~positive], axis=1)
    v10 = (t_z[:, positive] - t_x) / n
    v01 = 1.0 - (t_z[:, ~positive] - t_y) / m
    aucs = (t_z[:, positive].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    return aucs, v10, v01


def delong_covariance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong's covariance of k AUCs: S10/m + S01/n, the sample covariances of the components."""
    return np.atleast_2d(np.cov(v10, ddof=1)) / v10.shape[1] + np.atleast_2d(np.cov(v01, ddof=1)) / v01.shape[1]


def delong(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> dict[str, float]:
    """DeLong's test of AUC(a) = AUC(b) for two score streams on the same frames (two-sided).

    z = (AUC_a − AUC_b) / sqrt(var), var = S_aa + S_bb − 2 S_ab; p = 2·(1 − Φ(|z|)). Identical
    streams (var = 0, Δ = 0) give z = 0, p = 1.
    """
    aucs, v10, v01 = delong_components(labels, np.vstack([scores_a, scores_b]))
    cov = delong_covariance(v10, v01)
    delta = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var > 0:
        z = delta / math.sqrt(var)
    else:
        z = 0.0 if delta == 0 else math.copysign(math.inf, delta)
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "delta": delta, "z": z,
            "p": float(2 * norm.sf(abs(z)))}


# -- paired video bootstrap --------------------------------------------------------------------
def paired_bootstrap(videos_a: Videos, videos_b: Videos, resamples: int = CI_RESAMPLES, seed: int = CI_SEED,
                     level: float = CI_LEVEL) -> dict[str, Any]:
    """Percentile intervals of ΔAUC = AUC(a) − AUC(b), micro and padded macro, the same videos
    drawn for both runs in every resample.

    The runs must hold the same evaluated frames and labels, video by video (what
    :func:`compare_runs` checks); only the scores differ. Pairing removes the variation both runs
    share (which videos happen to be hard), so the interval of Δ is narrower than one built from
    the two runs' own intervals.
    """
    if len(videos_a) != len(videos_b) or any(len(a) != len(b) or not np.array_equal(ya, yb)
                                             for (a, ya), (b, yb) in zip(videos_a, videos_b)):
        raise RunError("a paired bootstrap needs the same videos, frames and labels in both runs")
    keep = [i for i, (s, _) in enumerate(videos_a) if len(s)]
    counts_a, pos, neg = pair_counts([videos_a[i] for i in keep])
    counts_b, _, _ = pair_counts([videos_b[i] for i in keep])
    weights = resample_videos(len(keep), resamples, seed)
    micro = micro_auc_of_resamples(counts_a - counts_b, pos, neg, weights)  # wᵀ(Ca − Cb)w / pairs
    macro = weights @ (padded_aucs(counts_a, pos, neg) - padded_aucs(counts_b, pos, neg)) / len(keep)
    return {"delta_micro": percentile_interval(micro, level), "delta_macro": percentile_interval(macro, level),
            "level": level, "resamples": resamples, "seed": seed, "unit": "video",
            "undefined": int(np.isnan(micro).sum())}


# -- run directories ---------------------------------------------------------------------------
@dataclass
class EvaluatedRun:
    """A finished run's evaluated frames under its protocol, video by video (sorted names)."""

    path: Path
    dataset: tuple[str, Any]
    protocol: Protocol
    names: list[str]
    positions: list[np.ndarray]  # frame numbers (frames.csv's `frame`) of the evaluated frames
    videos: list[tuple[np.ndarray, np.ndarray]]  # processed (scores, labels)

    @classmethod
    def load(cls, path: Path, protocol_name: str | None = None) -> EvaluatedRun:
        """Read ``frames.csv`` and apply the recorded protocol with :func:`process_video_indexed`.

        ``protocol_name`` names another protocol to apply instead; the run keeps its
        ``detector_normalisation`` (a fact about its score), as with ``vadbench metrics --protocol``.
        """
        run = RunDir(path)
        record = run.read_metrics()
        own, table = run.protocol(), run.read_frames()
        protocol = own if protocol_name is None else own.as_named(protocol_name)
        names, positions, videos = [], [], []
        for name, group in table.groupby("video", sort=True):
            scores, labels = group["score"].to_numpy(np.float64), group["label"].to_numpy()
            s, y, kept = process_video_indexed(scores, labels, protocol)
            names.append(str(name))
            positions.append(group["frame"].to_numpy()[kept])
            videos.append((s, y))
        return cls(Path(path), (record["dataset"], record.get("dataset_options") or {}), protocol, names,
                   positions, videos)

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([y for _, y in self.videos])

    @property
    def scores(self) -> np.ndarray:
        return np.concatenate([s for s, _ in self.videos])


def check_comparable(a: EvaluatedRun, b: EvaluatedRun) -> None:
    """Refuse (one line naming both runs) unless a and b are the same dataset, protocol, frames and labels.

    A paired test is only meaningful frame by frame: a different protocol (another exclusion or
    normalisation), another video list, other frame numbers or other labels would pair unrelated
    numbers and produce a confident but meaningless p.
    """
    pair = f"{a.path} and {b.path}"
    if a.dataset != b.dataset:
        raise RunError(f"{pair} are on different datasets ({_dataset(a)} vs {_dataset(b)}); compare runs of one test set")
    differ = _differences(a.protocol, b.protocol)
    if differ:
        raise RunError(f"{pair} were evaluated under different protocols ({a.protocol.label} vs {b.protocol.label}: "
                       f"{differ}); compare them under one protocol with --protocol NAME")
    if a.names != b.names:
        only = sorted(set(a.names) ^ set(b.names))
        raise RunError(f"{pair} hold different test videos (not in both: {', '.join(only[:5])}"
                       f"{' ...' if len(only) > 5 else ''}); they cannot be paired")
    for name, pa, pb, (_, ya), (_, yb) in zip(a.names, a.positions, b.positions, a.videos, b.videos):
        if not np.array_equal(pa, pb):
            raise RunError(f"{pair} evaluate different frames of video {name} ({len(pa)} vs {len(pb)} frames "
                           "after the protocol's exclusion); they cannot be paired")
        if not np.array_equal(ya, yb):
            raise RunError(f"{pair} have different labels in video {name} ({int(ya.sum())} vs {int(yb.sum())} "
                           "anomalous frames); they cannot be paired")


def _dataset(run: EvaluatedRun) -> str:
    name, options = run.dataset
    return name + (f" {options}" if options else "")


NOT_COMPARED = ("name", "detector_normalisation")  # not compared: a name, and a fact about the score itself


def _differences(a: Protocol, b: Protocol) -> str:
    """The protocol fields that make two runs process their frames differently, as ``field a vs b``.

    The name is not one of them (``mnad*`` with ``normalisation=none`` processes like ``raw``), nor
    ``detector_normalisation``, which states what a detector's score already is and changes no step
    the harness applies; pairing MNAD (which normalises inside) with a baseline stays possible.
    """
    fields = [f.name for f in dataclasses.fields(a)
              if f.name not in NOT_COMPARED and getattr(a, f.name) != getattr(b, f.name)]
    return ", ".join(f"{f} {getattr(a, f)!r} vs {getattr(b, f)!r}" for f in fields)


def compare_evaluated(a: EvaluatedRun, b: EvaluatedRun, resamples: int = CI_RESAMPLES,
                      seed: int = CI_SEED) -> dict[str, Any]:
    """ΔAUC of two checked runs: DeLong on all evaluated frames, paired video bootstrap for the intervals."""
    check_comparable(a, b)
    test = delong(a.labels, a.scores, b.scores)
    boot = paired_bootstrap(a.videos, b.videos, resamples, seed)
    lo, hi = boot["delta_micro"]
    return {"run_a": str(a.path), "run_b": str(b.path), **test, "delta_ci": boot["delta_micro"],
            "significant": bool(test["p"] < 0.05 and not lo <= 0 <= hi),
            "delta_macro_ci": boot["delta_macro"], "level": boot["level"], "resamples": resamples, "seed": seed,
            "frames": len(a.labels), "videos": len(a.names), "protocol": a.protocol.label}


def compare_runs(run_a: Path, run_b: Path, resamples: int = CI_RESAMPLES, seed: int = CI_SEED,
                 protocol: str | None = None) -> dict[str, Any]:
    """Compare two finished runs on micro AUC: ``auc_a, auc_b, delta`` (a − b), ``delta_ci`` (paired
    video bootstrap, 95 %), DeLong's ``z`` and two-sided ``p``; plus ``delta_macro_ci``,
    ``significant`` (p < 0.05 *and* an interval that excludes 0) and what was compared.

    DeLong's test takes frames as independent; frames of a video are not, so on video data its p
    is often far smaller than the video bootstrap supports (docs/protocols.md §8.2): ``significant``
    asks both. Each run is evaluated under its recorded protocol, or both under the named
    ``protocol``. Raises a :class:`~vadbench.errors.VadbenchError` when the runs cannot be paired."""
    return compare_evaluated(EvaluatedRun.load(run_a, protocol), EvaluatedRun.load(run_b, protocol), resamples, seed)


def compare_all(paths: Sequence[Path], resamples: int = CI_RESAMPLES, seed: int = CI_SEED,
                protocol: str | None = None) -> list[dict[str, Any]]:
    """:func:`compare_runs` for every pair of ``paths`` (in the order given), each run read once."""
    if len(paths) < 2:
        raise RunError("compare needs at least two run directories")
    if protocol is not None:
        get_protocol(protocol)  # an unknown name before any file is read
    runs = [EvaluatedRun.load(p, protocol) for p in paths]
    pairs = list(itertools.combinations(runs, 2))
    for a, b in pairs:  # every refusal before any work
        check_comparable(a, b)
    return [compare_evaluated(a, b, resamples, seed) for a, b in pairs]
