"""A complete third-party detector: how unusual each pixel is against the training frames."""

from dataclasses import dataclass

import numpy as np
import torch

from vadbench import Detector, VideoScores


@dataclass
class Config:
    height: int = 64
    width: int = 64
    color: str = "gray"
    every: int = 2  # use every 2nd training frame for the statistics


class PixelZScore(Detector):
    """Per-pixel Gaussian of the training frames; score = mean |z| of a frame."""

    Config = Config

    def fit(self, data, trainer):
        frames = np.concatenate(list(data.iter_frames(every=self.config.every))).astype(np.float32)
        self.mean, self.std = frames.mean(0), frames.std(0) + 1.0

    def score_video(self, video):
        z = np.abs((video.frames.astype(np.float32) - self.mean) / self.std)
        return VideoScores(scores=z.mean(axis=(1, 2, 3)), maps=z.mean(axis=3))

    def state_dict(self):
        return {"mean": torch.from_numpy(self.mean), "std": torch.from_numpy(self.std)}

    def load_state_dict(self, state):
        self.mean, self.std = state["mean"].numpy(), state["std"].numpy()
