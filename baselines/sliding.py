"""What the clip-based baselines (ConvAE, MemAE) share: a network that moves with the detector,
and scoring a test video window by window.

Every window of ``length`` consecutive frames gets one score, which belongs to one frame of the
window (its centre for both baselines); frames that no window speaks for stay NaN, and the harness
fills them (``docs/protocols.md`` §2.3). Windows of one video are independent, so they are scored in
batches of strided views of the frame array: no window is copied before its batch is sent.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from vadbench import Detector


class NetworkDetector(Detector):
    """A detector whose model is one ``torch.nn.Module`` at ``self.net``, moved by :meth:`to`."""

    net: torch.nn.Module

    def to(self, device: str) -> NetworkDetector:
        super().to(device)
        self.net.to(device)
        return self


def window_scores(frames: np.ndarray, length: int, target: int, batch_size: int,
                  score: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Per-frame scores of a video ``uint8 [T, H, W, C]`` from its sliding windows.

    ``score`` maps a batch of windows ``uint8 [B, length, H, W, C]`` to ``[B]`` scores; the score
    of the window starting at frame ``j`` goes to frame ``j + target``. Returns float64 ``[T]``,
    NaN where no window is assigned (and everywhere when the video is shorter than a window).
    """
    out = np.full(len(frames), np.nan)
    if len(frames) < length:
        return out
    windows = torch.from_numpy(frames).unfold(0, length, 1).movedim(-1, 1)  # a view [N, L, H, W, C]
    with torch.inference_mode():
        scores = [score(windows[i:i + batch_size]) for i in range(0, len(windows), batch_size)]
    out[target:target + len(windows)] = torch.cat(scores).double().cpu().numpy()
    return out
