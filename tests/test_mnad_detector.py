"""MNAD-P / MNAD-R as detectors: scoring semantics (docs/mnad.md §6), training, persistence, the baselines."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vadbench_mnad import MNADP, MNADR
from vadbench_mnad import memory as mem
from vadbench.data.cache import CachedVideo as Video, ClipCache, build_cache
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing
from vadbench.types import InputSpec
from vadbench.errors import ConfigError
from vadbench.registry import card_of, resolve_detector
from vadbench.training import Trainer

SIZE = 16


class Squares(DatasetAdapter):
    """A tiny scene: a grey square walks right; test videos add a fast white square (the anomaly)."""

    needs_root = False

    def listing(self, split: str) -> SplitListing:
        videos = []
        for i in range(2):
            n = 9 if split == "train" else 12
            rng = np.random.default_rng(100 * i + (split == "test"))
            base = rng.integers(40, 80, (n, SIZE, SIZE, 3), dtype=np.uint8)
            labels = np.zeros(n, np.uint8)
            for t in range(n):
                x = (t + 3 * i) % (SIZE - 4)
                base[t, 6:10, x:x + 4] = 160
                if split == "test" and t >= 7:
                    base[t, 1:5, (4 * t) % (SIZE - 4):(4 * t) % (SIZE - 4) + 4] = 255
                    labels[t] = 1
            videos.append(SourceVideo(f"{i:02d}", lambda b=base: iter(b), f"squares/{split}/{i}", n,
                                      labels if split == "test" else None))
        return SplitListing(videos)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ClipCache:
    path = build_cache(Squares(), "squares", InputSpec(SIZE, SIZE, "rgb"), tmp_path_factory.mktemp("cache"))
    with ClipCache(path) as c:
        yield c


def small(cls: type | str, **overrides: object):  # type: ignore[no-untyped-def]
    """A detector (a class, or a registered name such as a variant) at 16×16 with 64 feature
    channels (the paths of the full model, a third of the weights)."""
    if isinstance(cls, str):
        cls, _, preset = resolve_detector(cls)
        overrides = {**preset, **overrides}
    return cls(dataclasses.replace(cls.Config(), height=SIZE, width=SIZE, feature_dim=64, **overrides))


def trained(cls: type, cache: ClipCache, seed: int = 0, epochs: int = 1, **overrides: object):  # type: ignore[no-untyped-def]
    det = small(cls, **overrides)
    det.fit(cache.train_data(), Trainer(seed=seed, epochs=epochs))
    return det


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="multiples of 8"):
        MNADP.Config(height=20)
    with pytest.raises(ConfigError, match="memory=false"):
        MNADP.Config(memory=False)
    with pytest.raises(ConfigError, match="nomem_l2"):
        MNADP.Config(nomem_l2=True)
    with pytest.raises(ConfigError, match="at least 2"):
        MNADP.Config(items=1)
    assert small("mnad-r-nomem").config.alpha == 1.0 and not small("mnad-r-nomem").config.memory
    r = MNADR.Config()
    assert (r.lambda_c, r.lambda_s, r.alpha, r.threshold, r.lr) == (0.01, 0.01, 0.7, 0.015, 2e-4)
    p = MNADP.Config()
    assert (p.lambda_c, p.lambda_s, p.alpha, p.threshold, p.epochs, p.batch_size) == (0.1, 0.1, 0.6, 0.01, 60, 4)


def test_score_formula_and_alignment() -> None:
    """Anomaly = 1 − (α·minmax(PSNR) + (1 − α)·(1 − minmax(D))) per video; the first 4 frames NaN for MNAD-P."""
    rng = np.random.default_rng(0)
    stats = np.column_stack([rng.uniform(1e-3, 1e-2, 9), rng.uniform(0, 1e-3, 9), rng.uniform(0, 0.02, 9),
                             rng.integers(0, 2, 9)])
    psnr = 10 * np.log10(1 / stats[:, 0])
    p_n = (psnr - psnr.min()) / (psnr.max() - psnr.min())
    d_n = (stats[:, 1] - stats[:, 1].min()) / (stats[:, 1].max() - stats[:, 1].min())
    for cls, k, alpha in ((MNADP, 4, 0.6), (MNADR, 0, 0.7)):
        out = small(cls)._scores("v", 9 + k, stats)
        assert np.isnan(out.scores[:k]).all() and not np.isnan(out.scores[k:]).any()
        np.testing.assert_allclose(out.scores[k:], 1 - (alpha * p_n + (1 - alpha) * (1 - d_n)), atol=1e-9)
        np.testing.assert_allclose(out.extras["psnr"][k:], psnr)
        assert set(out.extras) == {"psnr", "feature_distance", "regular_score", "memory_updated"}
    only_psnr = small(MNADP, alpha=1.0)._scores("v", 13, stats)
    np.testing.assert_allclose(only_psnr.scores[4:], 1 - p_n, atol=1e-9)


def test_forward_reads_old_items_and_returns_updated_ones() -> None:
    """Order of operations (docs/mnad.md §13 check 7): the read and both losses use the items before the step."""
    det = small(MNADP)
    det.build(0)
    x = torch.randn(2, 12, SIZE, SIZE)
    old = det.memory.clone()
    out = det.forward(x)
    r = mem.read(out.z, old)
    assert torch.equal(out.read.decoder_input, r.decoder_input)
    assert torch.equal(out.compactness, mem.compactness(r, old)) and torch.equal(out.separateness, mem.separateness(r, old))
    assert torch.allclose(out.memory, mem.update(r.queries, old, r.scores, r.nearest))
    assert not torch.allclose(out.memory, old) and torch.equal(det.memory, old)  # forward installs nothing
    assert torch.equal(det.forward(x, update=False).memory, old)


def official_procedure(det, videos: list[Video]) -> tuple[list[np.ndarray], torch.Tensor]:  # type: ignore[no-untyped-def]
    """docs/mnad.md §6.8 written the official way: batch 1, the memory module per frame, Python ``if``, per-item update loop."""
    cfg, k, net = det.config, det.history, det.net
    memory = det.memory.clone()
    rows = []
    with torch.no_grad():
        for video in videos:
            bgr = torch.from_numpy(video.frames[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 127.5 - 1
            for t in range(k, len(video)):
                x = bgr[t - k:t].reshape(1, -1, SIZE, SIZE) if k else bgr[t:t + 1]
                z, skips = net.encoder(x)
                q = F.normalize(z, dim=1)
                qs = q.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
                s = qs @ memory.t()
                w = torch.softmax(s, dim=1)
                nearest = w.topk(2, dim=1).indices[:, 0]
                distance = F.mse_loss(qs, memory[nearest]).item()
                r = (w @ memory).reshape(1, z.shape[2], z.shape[3], -1).permute(0, 3, 1, 2)
                out = net.decoder(torch.cat((q, r), dim=1), skips if k else None)
                e = ((out + 1) / 2 - (bgr[t:t + 1] + 1) / 2) ** 2
                weight = 1 - torch.exp(-e)
                eps = (torch.sum(weight * e) / torch.sum(weight)).item()
                updated = eps < cfg.threshold
                if updated:
                    v = torch.softmax(s, dim=0)
                    u = torch.zeros_like(memory)
                    for m in range(memory.shape[0]):
                        idx = (nearest == m).nonzero().squeeze(1)
                        if len(idx):
                            u[m] = (v[idx, m:m + 1] / v[:, m].max() * qs[idx]).sum(0)
                    memory = F.normalize(u + memory, dim=1)
                rows.append([10 * math.log10(1 / e.mean().item()), distance, eps, float(updated)])
    return [np.array(rows)], memory


@pytest.mark.parametrize("cls", [MNADP, MNADR])
def test_scoring_matches_the_official_procedure(cls: type, cache: ClipCache) -> None:
    """Batched encoder and sync-free update give the official per-frame values and final memory."""
    probe = small(cls, threshold=math.inf)
    probe.build(0)
    eps = np.concatenate([probe.score_video(v).extras["regular_score"] for v in cache.iter_videos("test")])
    eps = np.sort(eps[~np.isnan(eps)])
    det = small(cls, threshold=float(eps[len(eps) // 2 - 1] + eps[len(eps) // 2]) / 2, score_chunk=3)
    det.build(0)
    videos = list(cache.iter_videos("test"))
    ours = [det.score_video(v) for v in videos]
    rows, memory = official_procedure(det, videos)
    got = np.concatenate([np.column_stack([o.extras[c][det.history:] for c in
                                           ("psnr", "feature_distance", "regular_score", "memory_updated")])
                          for o in ours])
    np.testing.assert_allclose(got[:, :3], rows[0][:, :3], rtol=1e-4)
    assert np.array_equal(got[:, 3], rows[0][:, 3]) and 0 < got[:, 3].sum() < len(got)
    assert torch.allclose(det.test_memory, memory, atol=1e-5)
    for o, v in zip(ours, videos):
        assert np.isnan(o.scores[:det.history]).all() and len(o.scores) == len(v)


def test_memory_is_carried_across_videos(cache: ClipCache) -> None:
    det = small(MNADP, threshold=math.inf)
    det.build(0)
    a, b = cache.video("test", "00"), cache.video("test", "01")
    after_a = (det.score_video(a).scores, det.score_video(b).scores)
    det.reset()
    b_alone = det.score_video(b).scores
    assert not np.allclose(after_a[1][4:], b_alone[4:])  # video 01 saw the updates made during video 00
    det.reset()
    assert np.array_equal(det.score_video(a).scores, after_a[0], equal_nan=True)  # reset re-installs the trained memory
    per_video = small(MNADP, threshold=math.inf, memory_reset="per_video")
    per_video.load_state_dict(det.state_dict())
    per_video.score_video(a)
    np.testing.assert_array_equal(per_video.score_video(b).scores, b_alone)


def test_no_update_keeps_memory(cache: ClipCache) -> None:
    det = small(MNADR, test_update=False)
    det.build(0)
    trained = det.memory.clone()
    out = det.score_video(cache.video("test", "00"))
    assert torch.equal(det.test_memory, trained) and not out.extras["memory_updated"].any()


def test_training_is_deterministic_and_checkpoints_round_trip(cache: ClipCache, tmp_path: Path) -> None:
    first, second = trained(MNADP, cache), trained(MNADP, cache)
    other = trained(MNADP, cache, seed=1)
    init = small(MNADP)
    init.build(0)
    assert not torch.allclose(first.memory, init.memory)  # the training updates moved the items
    for key, value in first.state_dict()["network"].items():
        assert torch.equal(value, second.state_dict()["network"][key]), key
    assert torch.equal(first.memory, second.memory)
    assert not torch.equal(first.memory, other.memory)
    torch.save(first.state_dict(), tmp_path / "model.pt")
    loaded = small(MNADP)
    loaded.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    for video in cache.iter_videos("test"):
        a, b = first.score_video(video), loaded.score_video(video)
        np.testing.assert_array_equal(a.scores, b.scores)
        np.testing.assert_array_equal(a.extras["feature_distance"], b.extras["feature_distance"])


class Interrupted(Trainer):
    """A trainer whose run is killed as the second epoch begins (after the first checkpoint)."""

    def epochs(self, detector, n_epochs, **stateful):  # type: ignore[no-untyped-def]
        for epoch in super().epochs(detector, n_epochs, **stateful):
            if epoch == 1:
                raise KeyboardInterrupt
            yield epoch


def test_resume_continues_exactly(cache: ClipCache, tmp_path: Path) -> None:
    """Two epochs in one go equal one epoch, an interruption, and a resumed second epoch."""
    whole = trained(MNADP, cache, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        small(MNADP).fit(cache.train_data(), Interrupted(seed=0, epochs=2, checkpoint=tmp_path / "ckpt.pt"))
    resumed = small(MNADP)
    resumed.fit(cache.train_data(), Trainer(seed=0, epochs=2, checkpoint=tmp_path / "ckpt.pt", resume=True))
    assert torch.equal(whole.memory, resumed.memory)
    for key, value in whole.state_dict()["network"].items():
        assert torch.equal(value, resumed.state_dict()["network"][key]), key


@pytest.mark.parametrize("name", ["mnad-p-nomem", "mnad-r-nomem"])
def test_no_memory_baselines(name: str, cache: ClipCache) -> None:
    if name == "mnad-r-nomem":
        det = trained(name, cache)
    else:
        det = small(name)
        det.build(0)
    assert det.memory is None and "memory" not in det.state_dict()
    assert det.net.decoder.moduleConv[0].in_channels == 64  # z itself (512 channels at full size), not [q, r]
    out = det.score_video(cache.video("test", "01"))
    k = det.history
    assert set(out.extras) == {"psnr"}
    psnr = out.extras["psnr"][k:]
    np.testing.assert_allclose(out.scores[k:], 1 - (psnr - psnr.min()) / (psnr.max() - psnr.min()), atol=1e-9)
    assert det.test_memory is None  # no test-time state


def test_table2_grid() -> None:
    rows = {row.label: row for row in card_of("mnad-p").ablations}
    assert len(rows) == 7 and rows["1 no memory"].detector == "mnad-p-nomem"
    assert card_of("mnad-p-nomem").reported_auc("ped2") == 94.3 and card_of("mnad-r-nomem").reported_auc("ped2") == 86.4
    assert rows["7 full model"].reported == {"ped2": 97.0}
    (psnr_only,) = [r for r in card_of("mnad-r").ablations if r.label == "6 full model, PSNR-only score"]
    assert (psnr_only.settings, psnr_only.reported) == ({"alpha": 1.0}, {"ped2": 89.0})
    for row in rows.values():  # every row is a valid configuration
        dataclasses.replace(MNADP.Config(), **row.settings)


def test_deviations_and_profiles() -> None:
    assert small(MNADP).deviations() == {}
    assert small(MNADP, update_norm="assigned", point_score="paper").deviations() == {
        "update_norm": "assigned", "point_score": "paper"}
    assert "loss_weights" in small(MNADR, lambda_c=0.02).deviations()
    assert "loss_weights" not in small(MNADP, lambda_c=0.02).deviations()  # only MNAD-R's script swapped them
    auto = card_of("mnad-p").auto_profile
    assert auto.choose(1200, "cpu") == "cpu"
    assert card_of("mnad-r").auto_profile.choose(2550, "cuda") is None
    assert auto.choose(274_515, "cuda") == "shanghaitech"
    assert resolve_detector("mnad-p-nomem")[1].auto_profile == auto  # a variant keeps its base's profiles
    cpu = dataclasses.replace(MNADP.Config(), **card_of("mnad-p").profiles["cpu"])
    changed = {f.name for f in dataclasses.fields(cpu) if getattr(cpu, f.name) != getattr(MNADP.Config(), f.name)}
    assert changed <= {"height", "width", "epochs"}  # the CPU profile changes only resolution and epochs


def test_end_to_end_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vadbench run mnad-p` on a tiny synthetic scene: frames.csv carries the components."""
    import pandas as pd

    from vadbench.runner import RunRequest, run

    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    metrics = run(RunRequest("mnad-p", dataset="synthetic", epochs=1, out=tmp_path / "run", profile="cpu",
                             dataset_options={"train_videos": 1, "test_videos": 2, "frames": 30},
                             overrides={"height": 16, "width": 16, "feature_dim": 64}))
    table = pd.read_csv(tmp_path / "run" / "frames.csv", dtype={"video": str})
    assert list(table.columns[4:]) == ["raw_score", "psnr", "feature_distance", "regular_score", "memory_updated"]
    assert np.allclose(table.raw_score, -table.psnr, equal_nan=True)  # the leak-free score is -PSNR
    assert table.groupby("video").score.apply(lambda s: s.isna().sum()).tolist() == [4, 4]
    assert metrics["frames_evaluated"] == 2 * 26 and metrics["protocol"]["normalisation"] == "none"
    assert metrics["protocol"]["detector_normalisation"].startswith("per_video_minmax")
    assert metrics["execution"] == {"float32_matmul_precision": "highest", "memory_format": "channels_last",
                                    "scoring_graph": "eager", "scoring_graph_reason": "no CUDA graphs on cpu"}


# -- the official scoring, on given streams ------------------------------------------------------
def official_normality(psnr: list[float], distance: list[float], alpha: float) -> list[float]:
    """The official evaluation's fusion, written as it is done there: Python floats, plain
    min-max without any ε, then α·P̃ + (1 − α)·(1 − D̃) per frame."""
    p_lo, p_hi, d_lo, d_hi = min(psnr), max(psnr), min(distance), max(distance)
    p_n = [(p - p_lo) / (p_hi - p_lo) for p in psnr]
    d_inv = [1 - ((d - d_lo) / (d_hi - d_lo)) for d in distance]
    return [alpha * a + (1 - alpha) * b for a, b in zip(p_n, d_inv)]


def tie_case() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Two videos whose best frames tie at s = α·1 + (1 − α)·1 in the official scores, one normal
    and one anomalous, with a feature-distance range of ~4e-7 as at initialisation."""
    psnr = [np.array([30.0, 28.5, 29.1, 31.7]), np.array([25.0, 27.25, 26.0, 24.5])]
    dist = [np.array([2.0e-4 + 4e-7, 2.0e-4 + 1e-7, 2.0e-4 + 3e-7, 2.0e-4]),
            np.array([3.0e-4 + 2e-7, 3.0e-4, 3.0e-4 + 3e-7, 3.0e-4 + 4.5e-7])]
    labels = [np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1])]  # tied: frame 3 of video 0 (normal), 1 of video 1 (anomalous)
    return psnr, dist, labels


def test_fuse_equals_the_official_scores_bit_for_bit_and_keeps_their_ties() -> None:
    from sklearn.metrics import roc_auc_score

    from vadbench_mnad import fuse

    psnr, dist, labels = tie_case()
    official = [official_normality(p.tolist(), d.tolist(), 0.6) for p, d in zip(psnr, dist)]
    ours = [fuse(p, d, 0.6) for p, d in zip(psnr, dist)]
    for o, s in zip(ours, official):
        np.testing.assert_allclose(1 - o, s, rtol=0, atol=1e-12)
    assert official[0][3] == official[1][1] == 1.0 and ours[0][3] == ours[1][1]  # the tie survives
    y = np.concatenate(labels)
    official_auc = roc_auc_score(1 - y, np.concatenate(official))
    assert roc_auc_score(y, np.concatenate(ours)) == pytest.approx(official_auc, abs=1e-15)
    # the ε the old code added to every denominator breaks the tie and moves the AUC: this test can fail
    eps = [(x - x.min()) / (x.max() - x.min() + 1e-12) for x in [*psnr, *dist]]
    shifted = [1 - (0.6 * eps[i] + 0.4 * (1 - eps[2 + i])) for i in range(2)]
    assert roc_auc_score(y, np.concatenate(shifted)) != pytest.approx(official_auc, abs=1e-6)


def test_a_zero_range_stream_is_guarded_and_recorded() -> None:
    from vadbench_mnad import fuse

    psnr, dist = np.array([20.0, 21.0, 22.0]), np.full(3, 5e-4)
    np.testing.assert_array_equal(fuse(psnr, dist, 0.6), 1 - (0.6 * np.array([0, 0.5, 1]) + 0.4))
    det = small(MNADP)
    assert "zero_range_minmax" not in det.deviations()
    stats = np.column_stack([10.0 ** (-psnr / 10), dist, np.full(3, 0.5), np.zeros(3)])
    det._scores("07", 7, stats)
    assert "07: feature_distance" in det.deviations()["zero_range_minmax"]
    det.reset()
    assert "zero_range_minmax" not in det.deviations()


def test_an_exact_prediction_gives_nan_regular_score_and_no_update(cache: ClipCache) -> None:
    """ε = 0/0 is NaN in the official code, so ``ε < γ`` is false; ``exact_prediction=update`` counts it as 0."""
    target = torch.rand(2, 3, SIZE, SIZE)
    frame = target * 2 - 1
    target01 = (frame + 1) / 2  # bit-identical to the frame's [0, 1] form: every error is exactly 0
    assert torch.isnan(small(MNADP)._errors(frame, target01)[1]).all()
    assert torch.equal(small(MNADP, exact_prediction="update")._errors(frame, target01)[1], torch.zeros(2))
    video = cache.video("test", "00")
    for setting, updates in (("no_update", False), ("update", True)):
        det = small(MNADR, threshold=math.inf, exact_prediction=setting)
        det.build(0)
        exact = det._errors
        det._errors = lambda f, t01: exact(t01 * 2 - 1, (t01 * 2 - 1 + 1) / 2)  # type: ignore[method-assign]
        trained_items = det.test_memory
        out = det.score_video(video)
        assert bool(out.extras["memory_updated"].any()) is updates
        assert torch.equal(det.test_memory, trained_items) is not updates
        assert np.isnan(out.extras["regular_score"]).all() is not updates
    assert "exact_prediction" in small(MNADP, exact_prediction="update").deviations()


def test_test_memory_is_a_read_only_copy(cache: ClipCache) -> None:
    det = small(MNADP, threshold=math.inf)
    det.build(0)
    start = det.test_memory
    assert torch.equal(start, det.memory) and start is not det.memory
    start.zero_()
    assert not torch.equal(det.test_memory, start)  # changing the copy changes nothing
    det.score_video(cache.video("test", "00"))
    assert not torch.equal(det.test_memory, det.memory)  # updated while testing
    det.reset()
    assert torch.equal(det.test_memory, det.memory)
    assert small("mnad-p-nomem").test_memory is None
