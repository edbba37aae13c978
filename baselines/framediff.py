"""The trivial detector: how much the picture changes from one frame to the next.

It learns nothing, so it is the floor every learned method must clear, and the yardstick that
shows a dataset is not trivially solved by motion energy alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vadbench import Detector, VideoScores


@dataclass
class FrameDiffConfig:
    height: int = 64
    width: int = 64
    color: str = "gray"


class FrameDiff(Detector):
    """Trivial baseline: mean absolute difference to the previous frame (no training)."""

    Config = FrameDiffConfig

    def fit(self, data, trainer) -> None:  # nothing to learn
        return None

    def score_video(self, video) -> VideoScores:
        frames = video.frames.astype(np.float32)
        scores = np.full(len(frames), np.nan, dtype=np.float64)
        scores[1:] = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        return VideoScores(scores)
