"""Shared fixtures: an isolated cache, a tiny in-memory dataset and a tiny trainable detector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from vadbench import AblationRow, ClipSpec, Detector, MethodCard, Reported, VideoScores
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing
from vadbench.tensors import to_network

REPO = Path(__file__).resolve().parents[1]
PED2 = REPO.parent / "shared" / "datasets" / "ped2"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own cache directory and config file, never the user's."""
    monkeypatch.setenv("VADBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VADBENCH_CONFIG", str(tmp_path / "config.toml"))
    return tmp_path / "cache"


class TinyAdapter(DatasetAdapter):
    """Random-but-seeded videos: 3 train videos, 2 test videos with a bright square as anomaly."""

    needs_root = False

    @dataclass
    class Options:
        lengths: tuple[int, ...] = (12, 9, 15)
        test_lengths: tuple[int, ...] = (10, 14)

    def listing(self, split):
        lengths = self.settings.lengths if split == "train" else self.settings.test_lengths
        videos = []
        for i, n in enumerate(lengths):
            rng = np.random.default_rng((i, split == "test"))
            frames = rng.integers(0, 100, (n, 24, 32, 3), dtype=np.uint8)
            labels = masks = None
            if split == "test":
                labels = np.zeros(n, np.uint8)
                labels[n // 2:] = 1
                m = np.zeros((n, 24, 32), bool)
                m[n // 2:, 5:12, 5:12] = True
                frames[m] = 255
                masks = lambda m=m: iter(m)  # noqa: E731
            videos.append(SourceVideo(f"{i:02d}", lambda f=frames: iter(f), f"tiny/{split}/{i}", n, labels, masks))
        return SplitListing(videos)


@dataclass
class ToyConfig:
    height: int = 16
    width: int = 16
    color: str = "gray"
    epochs: int = 3
    lr: float = 1e-2
    batch_size: int = 4


class ToyAE(Detector):
    """A one-layer convolutional autoencoder: small enough to train in a test."""

    Config = ToyConfig
    interrupt_at: int | None = None  # tests set it to simulate a crash at the start of that epoch

    def __init__(self, config=None):
        super().__init__(config)
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(),
                                       torch.nn.Conv2d(4, 1, 3, padding=1))

    def fit(self, data, trainer):
        opt = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)
        loader = trainer.loader(data.clips(ClipSpec(1)), batch_size=self.config.batch_size)
        for epoch in trainer.epochs(self, trainer.n_epochs(self.config.epochs), optimizer=opt):
            if epoch == self.interrupt_at:
                raise KeyboardInterrupt
            for batch in trainer.track(loader, "toy"):
                x = to_network(batch[:, 0])
                loss = torch.nn.functional.mse_loss(self.net(x), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
                trainer.log(loss=loss)

    def score_video(self, video):
        x = to_network(video.frames)
        err = (self.net(x) - x).pow(2).mean(dim=(1, 2, 3))
        return VideoScores(err.numpy().astype(np.float64), extras={"mse": err.numpy()})

    def state_dict(self):
        return {k: v.clone() for k, v in self.net.state_dict().items()}

    def load_state_dict(self, state):
        self.net.load_state_dict(state)


TOY_CARD = MethodCard(
    name="toy", title="A one-layer convolutional autoencoder (tests).",
    ablations=(AblationRow("full"), AblationRow("slow lr", {"lr": 1e-3}, reported={"tiny": 50.0})),
    reported=Reported({"tiny": {"auc_micro": 61.5}}, "a test"),
)


@pytest.fixture
def tiny_registered():
    """Register TinyAdapter as `tiny`, ToyAE as `toy` and its card, through the public API, for the test."""
    from vadbench import cards, datasets, detectors, register_card, register_dataset, register_detector

    register_dataset("tiny")(TinyAdapter)
    register_detector("toy")(ToyAE)
    register_card(TOY_CARD)
    yield
    for registry, name in ((datasets, "tiny"), (detectors, "toy"), (cards, "toy")):
        registry.remove(name)
