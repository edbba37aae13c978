"""Scores written by other programs, evaluated by ``vadbench score-file``, and one run under every
protocol (``vadbench metrics --all-protocols``).

The reference is always a literal re-implementation of the other program's evaluation (MNAD's
official one: ``roc_auc_score(1 - labels[4:], normality)`` over concatenated per-video lists),
computed here from labels the generator or the dataset's own label file gives, not from the cache
``score-file`` reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import PED2
from vadbench.data.prepare import make_adapter
from vadbench.errors import EvaluationError, VadbenchError
from vadbench.external import ScoreFileRequest, across_protocols, score_file
from vadbench.metrics import evaluate
from vadbench.protocols import PROTOCOLS
from vadbench.runner import metrics_from_frames

BIN = Path(sys.executable).with_name("vadbench")
OPTIONS = {"train_videos": 1, "test_videos": 3, "frames": 40}
DATA = ["--dataset", "synthetic", *[a for k, v in OPTIONS.items() for a in ("--data-set", f"{k}={v}")]]
SKIP = 4  # MNAD-P cannot score the first 4 frames of a video


def vadbench(*args: object, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", "VADBENCH_CACHE": str(cache)})


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert all(f in lines[0] for f in fragments), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One label cache for the module's subprocesses (the synthetic set is generated once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def use_shared_cache(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VADBENCH_CACHE", str(shared_cache))


@pytest.fixture(scope="module")
def truth() -> tuple[list[str], list[np.ndarray]]:
    """Video names and labels straight from the synthetic generator (not through the cache)."""
    videos = make_adapter("synthetic", None, **OPTIONS).listing("test").videos
    return [v.name for v in videos], [np.asarray(v.labels) for v in videos]


@pytest.fixture(scope="module")
def official(truth: tuple[list[str], list[np.ndarray]]) -> tuple[list[np.ndarray], float]:
    """MNAD-style per-video normality lists (L − 4 each) and the AUC MNAD's evaluation gives them.

    The lists hold ties (two decimals) and values 1e-17 apart near 0, where 1 − s collapses
    them: only an exact direction flip reproduces the official number.
    """
    _, labels = truth
    rng = np.random.default_rng(7)
    lists = []
    for y in labels:
        s = rng.random(len(y) - SKIP).round(2)
        tiny = rng.random(len(s)) < 0.3
        s[tiny] = np.where(y[SKIP:][tiny] == 1, 0.0, 1e-17)  # normal frames are (barely) more normal
        lists.append(s)
    y_official = np.concatenate([y[SKIP:] for y in labels])  # labels[4 + offset : length + offset] per video
    auc = roc_auc_score(1 - y_official, np.concatenate(lists))
    assert auc != roc_auc_score(y_official, 1 - np.concatenate(lists)), "the fixture must tell -s from 1 - s"
    return lists, float(auc)


def request(path: Path, out: Path, **kw: object) -> ScoreFileRequest:
    fields = {"dataset": "synthetic", "dataset_options": dict(OPTIONS), "protocol": "raw", "skip_first": SKIP,
              "normality": True, "out": out, **kw}
    return ScoreFileRequest(scores=path, **fields)  # type: ignore[arg-type]


# -- the official MNAD evaluation, reproduced ---------------------------------------------------
def test_official_mnad_lists_reproduce_the_official_auc_through_the_console_script(tmp_path, official, truth,
                                                                                  shared_cache):
    lists, auc = official
    path = tmp_path / "mnad_scores.pkl"
    path.write_bytes(pickle.dumps([s.tolist() for s in lists]))
    out = tmp_path / "run"
    r = vadbench("score-file", path, *DATA, "--skip-first", SKIP, "--normality", "--protocol", "raw",
                 "--allow-pickle", "--out", out, "--name", "mnad-official", cache=shared_cache)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert abs(metrics["auc_micro"] - auc) < 1e-12
    assert metrics["protocol"]["name"] == "raw" and metrics["frames_evaluated"] == sum(len(s) for s in lists)
    external = metrics["external"]
    assert external["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert external["format"] == "pkl" and external["source"] == str(path)
    assert external["direction"] == "normality, negated" and external["skip_first"] == SKIP
    assert metrics["detector"] == "external" and metrics["label"] == "mnad-official"
    config = json.loads((out / "config.json").read_text())
    assert config["external"] == external and config["config"]["skip_first"] == SKIP
    frames = pd.read_csv(out / "frames.csv", dtype={"video": str})
    names, labels = truth
    assert list(frames["video"].unique()) == names and (frames["label"].to_numpy() == np.concatenate(labels)).all()
    first = frames.groupby("video").head(SKIP)
    assert first["score"].isna().all()  # aligned to the end: the first 4 frames are unscored
    scored = frames.dropna(subset=["score"])
    assert (scored["score"].to_numpy() == -np.concatenate(lists)).all()  # exact negation, bit for bit
    assert abs(metrics_from_frames(out, PROTOCOLS["raw"])["auc_micro"] - auc) < 1e-12  # recomputable like any run


def test_every_file_shape_gives_the_same_official_auc(tmp_path, official, truth):
    names, _ = truth
    lists, auc = official
    full = [np.concatenate([np.full(SKIP, np.nan), s]) for s in lists]
    ragged = np.empty(len(lists), dtype=object)
    for i, s in enumerate(lists):
        ragged[i] = s
    files = {
        "concatenated.npy": lambda p: np.save(p, np.concatenate(lists)),
        "rows.npy": lambda p: np.save(p, np.stack(lists)),  # equal lengths: a 2-D array, one row per video
        "objects.npy": lambda p: np.save(p, ragged, allow_pickle=True),
        "named.npz": lambda p: np.savez(p, **dict(zip(names, lists))),
        "positional.npz": lambda p: np.savez(p, *lists),
        "by_name.json": lambda p: p.write_text(json.dumps({n: s.tolist() for n, s in zip(names, lists)})),
        "list.json": lambda p: p.write_text(json.dumps([s.tolist() for s in lists])),
        "mnad_keys.pkl": lambda p: p.write_bytes(pickle.dumps({f"{i + 1:d}": s for i, s in enumerate(lists)})),
    }
    for name, write in files.items():
        path = tmp_path / name
        write(path)
        result = score_file(request(path, tmp_path / name.replace(".", "-"), allow_pickle=True))
        assert abs(result["auc_micro"] - auc) < 1e-12, name
    assert result["external"]["keys"] == dict(zip(["1", "2", "3"], names))  # matched in sorted order, recorded
    # ano_pred-style full-length arrays, and a CSV of the scored frames only (the rest are NaN)
    np.save(tmp_path / "full.npy", np.stack(full))
    assert abs(score_file(request(tmp_path / "full.npy", tmp_path / "full", skip_first=0))["auc_micro"] - auc) < 1e-12
    rows = pd.DataFrame({"video": np.repeat(names, [len(s) for s in full]),
                         "frame": np.concatenate([np.arange(len(s)) for s in full]), "score": np.concatenate(full)})
    rows.dropna().sample(frac=1, random_state=0).to_csv(tmp_path / "rows.csv", index=False)  # any row order
    result = score_file(request(tmp_path / "rows.csv", tmp_path / "csv", skip_first=0))
    assert abs(result["auc_micro"] - auc) < 1e-12 and result["external"]["layout"].startswith("rows")


def test_anomaly_scores_under_mnad_are_the_harness_own_numbers(tmp_path, truth):
    """Without --normality, under per-video min-max, the result is what evaluate() gives the same arrays."""
    names, labels = truth
    rng = np.random.default_rng(3)
    scores = [rng.random(len(y)) + y for y in labels]
    np.savez(tmp_path / "s.npz", **dict(zip(names, scores)))
    result = score_file(request(tmp_path / "s.npz", tmp_path / "run", protocol="mnad", skip_first=0, normality=False))
    expected = evaluate(list(zip(scores, labels)), PROTOCOLS["mnad"])
    for key in ("auc_micro", "auc_macro", "eer", "aupr", "auc_micro_raw"):
        assert result[key] == expected[key], key


def test_declared_score_normalisation_gives_no_leaky_raw_auc(tmp_path, official):
    lists, _ = official
    np.save(tmp_path / "s.npy", np.concatenate(lists))
    result = score_file(request(tmp_path / "s.npy", tmp_path / "run", score_normalisation="per_video_minmax"))
    assert np.isnan(result["auc_micro_raw"])
    assert result["protocol"]["name"] == "raw*" and result["protocol"]["changed"] == {
        "detector_normalisation": "per_video_minmax"}


@pytest.mark.slow
@pytest.mark.skipif(not PED2.is_dir(), reason=f"the real UCSD Ped2 copy is not at {PED2}")
def test_official_mnad_auc_on_real_ped2_with_its_official_label_file(tmp_path):
    """MNAD's evaluation reads ``frame_labels_ped2.npy``; score-file reads vadbench's own Ped2 labels."""
    folders = sorted(p for p in (PED2 / "testing" / "frames").iterdir() if p.is_dir())
    lengths = [len(list(p.glob("*.jpg"))) for p in folders]
    official_labels = np.load(PED2 / "frame_labels_ped2.npy")[0]
    assert len(official_labels) == sum(lengths)
    rng = np.random.default_rng(0)
    psnr = {p.name: rng.random(n - SKIP).round(3) for p, n in zip(folders, lengths)}  # MNAD keys: folder names
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    y = np.concatenate([official_labels[o + SKIP:o + n] for o, n in zip(offsets, lengths)])
    auc = roc_auc_score(1 - y, np.concatenate([psnr[p.name] for p in folders]))
    path = tmp_path / "ped2_psnr.pkl"
    path.write_bytes(pickle.dumps(psnr))
    out = tmp_path / "run"
    r = vadbench("score-file", path, "--dataset", "ped2", "--root", PED2, "--skip-first", SKIP, "--normality",
                 "--protocol", "raw", "--allow-pickle", "--out", out, cache=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert abs(metrics["auc_micro"] - auc) < 1e-12 and metrics["external"]["layout"] == "per-video, keys in sorted order"
    assert metrics["frames_evaluated"] == len(y)


# -- refusals -----------------------------------------------------------------------------------
def test_bad_files_are_one_line_errors_through_the_console_script(tmp_path, official, truth, shared_cache):
    names, labels = truth
    lists, _ = official
    pkl = tmp_path / "scores.pkl"
    pkl.write_bytes(pickle.dumps([s.tolist() for s in lists]))
    one_line_error(vadbench("score-file", pkl, *DATA, "--out", tmp_path / "a", cache=shared_cache),
                   str(pkl), "--allow-pickle", "arbitrary code")
    short = tmp_path / "short.json"
    short.write_text(json.dumps({n: s.tolist() for n, s in zip(names, lists)}))
    one_line_error(vadbench("score-file", short, *DATA, "--out", tmp_path / "b", cache=shared_cache),
                   f"video {names[0]} has {len(labels[0]) - SKIP} scores, expected {len(labels[0])}", "--skip-first 4")
    one_line_error(vadbench("score-file", short, *DATA, "--protocol", "best", cache=shared_cache), "unknown protocol")
    assert not any((tmp_path / d).exists() and any((tmp_path / d).iterdir()) for d in "ab")  # nothing written


def test_unreadable_files_and_unknown_videos_are_refused_before_anything_is_written(tmp_path, official, truth):
    names, _ = truth
    lists, _ = official
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([lists[0], lists[1][:5], lists[2]], dtype=object), allow_pickle=True)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({names[0]: lists[0].tolist(), "Test099": lists[1].tolist()}))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not a zip")
    cases = {objects: "--allow-pickle", unknown: "unknown video(s) Test099", garbage: "is not a readable npz file",
             tmp_path / "none.npy": "scores file not found", tmp_path / "s.txt": "unknown scores format '.txt'"}
    (tmp_path / "s.txt").write_text("1\n2\n")
    for path, message in cases.items():
        with pytest.raises(EvaluationError) as info:
            score_file(request(path, tmp_path / "run"))
        assert message in str(info.value) and str(path) in str(info.value), str(info.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.parametrize("content, message", [
    (lambda names, lists: {n: np.full(len(s), np.nan) if i == 1 else s for i, (n, s) in enumerate(zip(names, lists))},
     "have no score at all"),
    (lambda names, lists: lists[:2], "holds 2 per-video score lists, but the dataset has 3 test videos"),
    (lambda names, lists: {n: s for n, s in list(zip(names, lists))[:2]}, "no scores for test video(s) 03"),
    (lambda names, lists: np.concatenate(lists)[:-1], "holds one array of 107 scores, expected 108"),
    (lambda names, lists: {n: np.where(np.arange(len(s)) == 2, np.inf, s) for n, s in zip(names, lists)},
     "infinite scores"),
])
def test_scores_that_cannot_be_aligned_are_refused(tmp_path, official, truth, content, message):
    names, _ = truth
    lists, _ = official
    path = tmp_path / "s.pkl"
    path.write_bytes(pickle.dumps(content(names, lists)))
    with pytest.raises(EvaluationError) as info:
        score_file(request(path, tmp_path / "run", allow_pickle=True))
    assert message in str(info.value) and str(path) in str(info.value)
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("rows, message", [
    ("video,frame,score\n01,0,1\n01,0,2\n", "scores frame 0 of video 01 more than once"),
    ("video,frame,score\n01,40,1\n", "gives frame 40 of video 01, which has frames 0..39"),
    ("video,frame,score\n01,1.5,1\n", "gives frame 1.5"),
    ("video,frame,score\nx9,0,1\n", "unknown video(s) x9"),
    ("video,frame,score\n01,0,abc\n", "non-numeric score 'abc'"),
    ("video,score\n01,1\n", "lacks the column(s) frame"),
])
def test_bad_csv_rows_are_named(tmp_path, rows, message):
    path = tmp_path / "s.csv"
    path.write_text(rows)
    with pytest.raises(EvaluationError) as info:
        score_file(request(path, tmp_path / "run", skip_first=0))
    assert message in str(info.value)


def test_an_existing_run_is_kept_unless_overwrite(tmp_path, official):
    lists, auc = official
    np.save(tmp_path / "s.npy", np.concatenate(lists))
    score_file(request(tmp_path / "s.npy", tmp_path / "run"))
    with pytest.raises(VadbenchError, match="--overwrite"):
        score_file(request(tmp_path / "s.npy", tmp_path / "run"))
    np.save(tmp_path / "t.npy", np.concatenate(lists)[:-1])
    with pytest.raises(EvaluationError):  # a refused file leaves the earlier run as it was
        score_file(request(tmp_path / "t.npy", tmp_path / "run", overwrite=True))
    assert abs(json.loads((tmp_path / "run" / "metrics.json").read_text())["auc_micro"] - auc) < 1e-12
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("mine")
    with pytest.raises(VadbenchError, match="holds no run"):  # --overwrite never empties a folder that is no run
        score_file(request(tmp_path / "s.npy", tmp_path / "elsewhere", overwrite=True))
    assert (tmp_path / "elsewhere" / "notes.txt").read_text() == "mine"


# -- one run under every protocol ---------------------------------------------------------------
def _write_run(tmp_path: Path, truth, detector_normalisation: str = "none") -> tuple[Path, list]:
    names, labels = truth
    rng = np.random.default_rng(11)
    scores = [rng.normal(0, 1, len(y)) + 1.5 * y + i for i, y in enumerate(labels)]  # offsets between videos
    path = tmp_path / "s.npz"
    np.savez(path, **dict(zip(names, scores)))
    out = tmp_path / f"run-{detector_normalisation}"
    score_file(request(path, out, protocol=None, skip_first=0, normality=False,
                       score_normalisation=detector_normalisation))
    return out, list(zip(scores, labels))


def test_all_protocols_rows_are_each_protocol_and_the_spread(tmp_path, truth):
    out, pairs = _write_run(tmp_path, truth)
    rows = across_protocols(out)
    assert [r["protocol"] for r in rows] == [*PROTOCOLS, "spread"]
    for row, proto in zip(rows, PROTOCOLS.values()):
        expected = evaluate(pairs, proto)
        for key in ("auc_micro", "auc_macro", "eer", "aupr", "auc_micro_raw", "frames_evaluated"):
            assert row[key] == expected[key], (proto.name, key)
    for key in ("auc_micro", "eer", "frames_evaluated"):
        values = [r[key] for r in rows[:-1]]
        assert rows[-1][key] == max(values) - min(values)
    assert rows[-1]["frames_evaluated"] == 3 * (8 + 7) - 3 * 4  # memae drops 8 + 7 frames per video, the rest 4
    r = vadbench("metrics", out, "--all-protocols", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    assert "spread" in text and f"{100 * rows[-1]['auc_micro']:.2f}" in text
    assert all(f"{100 * row['auc_micro']:.2f}" in text for row in rows)
    one_line_error(vadbench("metrics", out, "--all-protocols", "--protocol", "raw", cache=tmp_path), "--all-protocols")


def test_all_protocols_keep_the_runs_detector_normalisation(tmp_path, truth):
    out, _ = _write_run(tmp_path, truth, "per_video_minmax")
    rows = across_protocols(out, {"drop_first": "0"})
    assert [r["protocol"] for r in rows[:-1]] == [f"{name}*" for name in PROTOCOLS]
    assert all(np.isnan(r["auc_micro_raw"]) for r in rows)  # no leak-free AUC from a normalised score
    assert rows[1]["frames_evaluated"] == 120 and rows[3]["frames_evaluated"] == 120 - 3 * 7  # drop_first=0 for all


def test_an_external_run_sits_in_tables_and_refuses_eval_in_one_line(tmp_path, official):
    from vadbench.runner import evaluate_checkpoint
    from vadbench.tables import render

    lists, _ = official
    np.save(tmp_path / "s.npy", np.array(lists, dtype=object), allow_pickle=True)
    score_file(request(tmp_path / "s.npy", tmp_path / "run", allow_pickle=True))
    text = render([tmp_path / "run"])
    assert "scores from a file" in text and "None×None" not in text
    with pytest.raises(VadbenchError, match="scores made elsewhere"):
        evaluate_checkpoint(tmp_path / "run")
