"""ConvAE (Hasan et al. 2016): network shapes, mean frame, cuboid alignment, regularity, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TinyAdapter

from vadbench_baselines.convae import ConvAE, ConvAEConfig, regularity
from vadbench_baselines.convae.model import ConvAENet
from vadbench import InputSpec, detectors
from vadbench.data.cache import CachedVideo as Video, ClipCache, build_cache
from vadbench.errors import ConfigError
from vadbench.metrics import minmax
from vadbench.registry import card_of, create_detector
from vadbench.training import Trainer

SMALL = ConvAEConfig(height=24, width=32, epochs=1, batch_size=16, stride=3)


def test_registered_with_cpu_profile():
    assert detectors.get("convae") is ConvAE
    card = card_of("convae")
    assert card.auto_profile.choose(1200, "cpu") == "cpu" and card.auto_profile.choose(1200, "cuda") is None
    assert set(card.profiles["cpu"]) <= {"height", "width", "stride", "epochs"}
    assert create_detector("convae", "cpu").input_spec().color == "gray"
    assert card.reported_auc("ped2") == 85.0


def test_full_size_network_matches_the_spec():
    net = ConvAENet()
    assert sum(p.numel() for p in net.parameters()) == 8_384_138
    with torch.inference_mode():
        out = net(torch.zeros(1, 10, 227, 227))
    assert out.shape == (1, 10, 227, 227)


@pytest.mark.parametrize("shape", [(23, 23), (24, 32), (75, 75), (61, 90)])
def test_any_size_reconstructs_to_its_own_shape(shape):
    with torch.inference_mode():
        assert ConvAENet(tanh_output=True)(torch.zeros(2, 10, *shape)).shape == (2, 10, *shape)


def test_unpooling_restores_values_at_the_pooled_positions():
    """The decoder's unpooling writes into the pool's argmax positions only."""
    net = ConvAENet()
    seen = {}
    net.deconv2.register_forward_hook(lambda m, i, o: seen.update(deconv2_in=i[0]))
    net.conv2.register_forward_hook(lambda m, i, o: seen.update(conv2_out=o))
    with torch.inference_mode():
        net(torch.rand(1, 10, 59, 59))
    h2 = torch.tanh(seen["conv2_out"])
    _, idx = torch.nn.functional.max_pool2d(h2, 2, return_indices=True)
    nonzero = seen["deconv2_in"].flatten(2) != 0
    assert nonzero.sum() > 0
    chosen = torch.zeros_like(nonzero).scatter_(2, idx.flatten(2), True)
    assert not (nonzero & ~chosen).any()


def test_too_small_or_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="at least 23x23"):
        ConvAE(ConvAEConfig(height=20))
    with pytest.raises(ConfigError, match="stride=0"):
        ConvAE(ConvAEConfig(stride=0))
    with pytest.raises(ConfigError, match="skips=0"):
        ConvAE(ConvAEConfig(skips=()))


def test_regularity_by_hand():
    e = np.array([2.0, 4.0, 6.0, np.nan])
    np.testing.assert_allclose(regularity(e), [1.0, 0.5, 0.0, np.nan], atol=1e-9)
    np.testing.assert_allclose(regularity(e, "max"), [1.0, 1 - 2 / 6, 1 - 4 / 6, np.nan], atol=1e-9)
    assert np.isnan(regularity(np.full(3, np.nan))).all()
    assert np.isfinite(regularity(np.ones(4))).all()


def test_harness_minmax_of_the_error_is_one_minus_regularity():
    e = np.random.default_rng(0).gamma(2.0, 3.0, 50)
    np.testing.assert_allclose(minmax(e), 1.0 - regularity(e), atol=1e-12)


def _video(n: int, hw=(24, 32)) -> Video:
    """Frame t is flat with brightness t, so a cuboid tells its start frame."""
    frames = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, *hw, 1)).copy()
    return Video("v", frames, np.zeros(n, np.uint8))


@pytest.mark.parametrize("anchor, offset", [("center", 5), ("last", 9)])
def test_cuboid_scores_are_aligned_with_their_anchor_frame(anchor, offset):
    det = ConvAE(ConvAEConfig(height=24, width=32, anchor=anchor, score_batch=4))
    det._errors = lambda clips: clips[:, 0, 0, 0, 0].double()  # a cuboid's "error" = its first frame
    n = 23
    scores = det.score_video(_video(n)).scores
    assert scores.shape == (n,)
    starts = np.arange(n - 9)
    np.testing.assert_array_equal(scores[starts + offset], starts)
    undecided = np.setdiff1d(np.arange(n), starts + offset)
    assert np.isnan(scores[undecided]).all() and len(undecided) == 9
    assert np.isnan(det.score_video(_video(9)).scores).all()


def test_errors_are_batch_independent_and_forms_agree():
    video = Video("v", np.random.default_rng(1).integers(0, 255, (14, 24, 32, 1), dtype=np.uint8), None)
    torch.manual_seed(0)
    det = ConvAE(ConvAEConfig(height=24, width=32, score_batch=1))
    one = det.score_video(video).scores
    det.config.score_batch = 3
    np.testing.assert_allclose(det.score_video(video).scores, one, rtol=1e-5)
    det.config.error = "frobenius"
    np.testing.assert_allclose(det.score_video(video).scores, np.sqrt(one), rtol=1e-5)
    det.config.error, det.config.score = "sse", "regularity"
    np.testing.assert_allclose(det.score_video(video).scores, 1 - regularity(one), atol=1e-5)


@pytest.fixture
def tiny_train(isolated_cache):
    """A cached tiny dataset at 24x32 gray: (training data, test videos)."""
    path = build_cache(TinyAdapter(lengths=(16, 13, 20)), "tiny", InputSpec(24, 32, "gray"), isolated_cache)
    with ClipCache(path) as cache:
        yield cache.train_data(), [cache.video("test", n) for n in cache.videos("test")]


def _fit(data, seed: int, epochs: int | None = None) -> ConvAE:
    det = ConvAE(SMALL)
    det.fit(data, Trainer(seed=seed, epochs=epochs))
    return det


def test_mean_frame_comes_from_every_fifth_training_frame(tiny_train):
    data, _ = tiny_train
    det = _fit(data, 0, epochs=0)
    frames = np.concatenate([f[::5, :, :, 0] for f in data.iter_frames()])
    np.testing.assert_allclose(det.mean.numpy(), frames.mean(axis=0) / 255.0, atol=1e-6)
    assert not ConvAE(ConvAEConfig(height=24, width=32, mean="scalar")).mean.ne(0.5).any()


def test_same_seed_same_model_and_scores_and_state_round_trip(tiny_train):
    data, tests = tiny_train
    a, b = _fit(data, 0), _fit(data, 0)
    for key, value in a.state_dict()["net"].items():
        assert torch.equal(value, b.state_dict()["net"][key]), key
    assert not torch.equal(a.state_dict()["net"]["conv1.weight"], _fit(data, 1, epochs=0).net.conv1.weight)
    assert not torch.equal(a.net.conv1.weight, _fit(data, 0, epochs=0).net.conv1.weight)  # training moved it
    scores = a.score_video(tests[1]).scores
    np.testing.assert_array_equal(scores, b.score_video(tests[1]).scores)
    c = ConvAE(SMALL)
    c.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(c.score_video(tests[1]).scores, scores)
