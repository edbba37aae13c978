import json
import os
import time

import numpy as np
import pandas as pd
import pytest
import torch

from vadbench.errors import ConfigError, RunError
from vadbench.protocols import Protocol
from vadbench.ablate import ablate
from vadbench.runner import RunRequest, cpu_seconds, evaluate_checkpoint, metrics_from_frames, run
from vadbench.tables import render

from conftest import ToyAE


def test_run_writes_a_complete_run_directory(tmp_path, tiny_registered):
    out = tmp_path / "run"
    m = run(RunRequest("toy", dataset="tiny", out=out, seed=1))
    for name in ("config.json", "env.json", "model.pt", "train_log.csv", "frames.csv", "metrics.json"):
        assert (out / name).exists(), name
    assert not (out / "checkpoint.pt").exists()  # a finished run needs model.pt only
    umask = os.umask(0)
    os.umask(umask)
    for name in ("metrics.json", "frames.csv", "model.pt"):  # atomic writes keep the permissions open() gives
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    kept = tmp_path / "kept"
    run(RunRequest("toy", dataset="tiny", out=kept, seed=1, keep_checkpoint=True))
    assert (kept / "checkpoint.pt").exists()
    frames = pd.read_csv(out / "frames.csv", dtype={"video": str})
    assert list(frames.columns) == ["video", "frame", "label", "score", "mse"] and len(frames) == 24
    stored = json.loads((out / "metrics.json").read_text())
    for key in ("auc_micro", "auc_macro", "eer", "aupr", "frames_evaluated", "protocol", "timings", "seed"):
        assert key in stored
    assert stored["frames_evaluated"] == 24 - 2 * 4
    assert stored["protocol"]["drop_first"] == 4 and stored["protocol"]["normalisation"] == "per_video_minmax"
    assert stored["epochs_trained"] == 3 and len(pd.read_csv(out / "train_log.csv")) == 3
    # every metric can be recomputed from frames.csv alone
    again = metrics_from_frames(out, Protocol())
    assert again["auc_micro"] == pytest.approx(m["auc_micro"]) and again["eer"] == pytest.approx(m["eer"])
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["epochs"] == 3 and config["input"] == {"height": 16, "width": 16, "color": "gray"}


def test_interrupted_run_resumes_to_the_same_model(tmp_path, tiny_registered, monkeypatch):
    straight = tmp_path / "straight"
    run(RunRequest("toy", dataset="tiny", out=straight))
    crashed = tmp_path / "crashed"
    monkeypatch.setattr(ToyAE, "interrupt_at", 2)
    with pytest.raises(KeyboardInterrupt):
        run(RunRequest("toy", dataset="tiny", out=crashed))
    assert (crashed / "checkpoint.pt").exists() and not (crashed / "metrics.json").exists()
    with pytest.raises(RunError, match="unfinished run; pass --resume"):
        run(RunRequest("toy", dataset="tiny", out=crashed))
    monkeypatch.setattr(ToyAE, "interrupt_at", None)
    run(RunRequest("toy", dataset="tiny", out=crashed, resume=True))
    a = torch.load(straight / "model.pt", weights_only=True)
    b = torch.load(crashed / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (pd.read_csv(straight / "frames.csv")["score"] == pd.read_csv(crashed / "frames.csv")["score"]).all()


def test_resume_refuses_a_changed_config(tmp_path, tiny_registered):
    out = tmp_path / "r"
    run(RunRequest("toy", dataset="tiny", out=out))
    with pytest.raises(RunError, match="config differ"):
        run(RunRequest("toy", dataset="tiny", out=out, resume=True, overrides={"lr": "0.5"}))


def test_same_seed_same_scores_and_eval_reproduces(tmp_path, tiny_registered):
    a, b = tmp_path / "a", tmp_path / "b"
    ma = run(RunRequest("toy", dataset="tiny", out=a, seed=3))
    run(RunRequest("toy", dataset="tiny", out=b, seed=3))
    assert pd.read_csv(a / "frames.csv").equals(pd.read_csv(b / "frames.csv"))
    me = evaluate_checkpoint(a, out=tmp_path / "eval")
    assert me["auc_micro"] == pytest.approx(ma["auc_micro"])


def test_eval_keeps_the_training_record_and_overwrites_nothing(tmp_path, tiny_registered):
    out = tmp_path / "run"
    trained = run(RunRequest("toy", dataset="tiny", out=out))
    before = {name: (out / name).read_bytes() for name in ("metrics.json", "frames.csv", "config.json")}
    again = evaluate_checkpoint(out, protocol_name="raw")
    assert {name: (out / name).read_bytes() for name in before} == before
    target = out / "evals" / "model-raw"
    assert (target / "metrics.json").exists() and (target / "frames.csv").exists()
    assert again["evaluation_of"] == str(out) and again["protocol"]["name"] == "raw"
    assert again["epochs_trained"] == trained["epochs_trained"] == 3
    assert again["timings"]["train_seconds"] == trained["timings"]["train_seconds"] > 0
    # os.times() counts in clock ticks (10 ms): a toy run's few milliseconds of scoring may read 0
    assert again["timings"]["train_cpu_seconds"] == trained["timings"]["train_cpu_seconds"] >= 0
    assert trained["timings"]["score_cpu_seconds"] >= 0
    with pytest.raises(RunError, match="holds an evaluation already"):
        evaluate_checkpoint(out, protocol_name="raw")
    evaluate_checkpoint(out, protocol_name="raw", overwrite=True)
    with pytest.raises(RunError, match="the run directory itself"):
        evaluate_checkpoint(out, out=out)


def test_cpu_seconds_counts_the_work_done():
    began = cpu_seconds()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert 0.2 <= cpu_seconds() - began < 5


def test_a_detector_default_protocol_is_recorded_as_changed(tmp_path, tiny_registered, monkeypatch):
    import dataclasses

    from vadbench import cards, register_card
    from conftest import TOY_CARD

    cards.remove("toy")
    register_card(dataclasses.replace(TOY_CARD, protocol={"drop_first": 0}))
    default = run(RunRequest("toy", dataset="tiny", out=tmp_path / "d", epochs=1))
    assert default["protocol"]["name"] == "mnad*" and default["protocol"]["changed"] == {"drop_first": 0}
    assert default["frames_evaluated"] == 24
    named = run(RunRequest("toy", dataset="tiny", out=tmp_path / "m", epochs=1, protocol="mnad"))
    assert named["protocol"]["name"] == "mnad" and named["frames_evaluated"] == 24 - 2 * 4  # the user's protocol won


def test_bad_settings_and_protocol_fields_are_config_errors(tmp_path, tiny_registered):
    with pytest.raises(ConfigError, match="unknown setting 'lrr'"):
        run(RunRequest("toy", dataset="tiny", out=tmp_path / "x", overrides={"lrr": "1"}))
    with pytest.raises(ConfigError, match="unknown setting 'drop'"):
        run(RunRequest("toy", dataset="tiny", out=tmp_path / "x", protocol_overrides={"drop": "1"}))
    with pytest.raises(ConfigError, match="unknown profile"):
        run(RunRequest("toy", dataset="tiny", out=tmp_path / "x", profile="gpu"))


def test_ablation_grid_and_tables(tmp_path, tiny_registered):
    rows = ablate(RunRequest("toy", dataset="tiny", out=tmp_path / "grid", epochs=1))
    assert [r["label"] for r in rows] == ["full", "slow lr"]
    assert json.loads((tmp_path / "grid" / "slow_lr" / "config.json").read_text())["config"]["lr"] == 1e-3
    text = render([tmp_path / "grid"], "ablation", tmp_path / "t.md", "vadbench table grid --layout ablation")
    assert "| slow lr | toy | 16×16 | 1 | 0 |" in text and "| 50.0 |" in text
    board = render([tmp_path / "grid"], "leaderboard", None)
    assert "reported: a test" in board and "61.5" in board


def test_regions_adds_rbdc_and_tbdc_against_mask_tracks(tmp_path, tiny_registered, monkeypatch):
    """A detector that returns maps gets region criteria with --regions, recorded with their rule."""
    from vadbench.rbdc import evaluate_videos
    from vadbench.regions import RegionRule, maps_to_regions, run_threshold
    from vadbench.tracks import tracks_from_masks
    from vadbench.types import VideoScores

    def with_maps(self, video):  # the bright anomaly square: per-pixel brightness as the map
        maps = video.frames[..., 0].astype(np.float64)
        return VideoScores(maps.mean(axis=(1, 2)), maps=maps)

    monkeypatch.setattr(ToyAE, "score_video", with_maps)
    m = run(RunRequest("toy", dataset="tiny", out=tmp_path / "r", epochs=0, regions=True))
    assert 0.0 <= m["tbdc"] <= 1.0 and 0.0 < m["rbdc"] <= 1.0
    assert m["regions"]["gt_source"] == "masks" and m["regions"]["region_rule"]["uses_test_statistics"]
    assert "pixel_auroc" not in m  # --regions alone adds no pixel metrics
    # the same numbers from the library, on the cached videos the run scored
    from vadbench.data.cache import ClipCache

    with ClipCache(json.loads((tmp_path / "r" / "config.json").read_text())["cache"]["path"]) as cache:
        videos = list(cache.iter_videos("test"))
        maps = [v.frames[..., 0].astype(np.float64) for v in videos]
        masks = [v.masks() for v in videos]
    threshold = run_threshold(maps, RegionRule().top_fraction)
    found = [maps_to_regions(a, k.shape[1:], threshold) for a, k in zip(maps, masks)]
    direct = evaluate_videos(found, [tracks_from_masks(k) for k in masks], [len(k) for k in masks])
    assert m["rbdc"] == pytest.approx(direct.rbdc) and m["tbdc"] == pytest.approx(direct.tbdc)
    assert m["regions"]["n_tracks"] == len(videos)  # one square per test video
