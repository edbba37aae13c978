"""Conversions between cached uint8 frames and network tensors, done on the target device.

Frames travel as uint8 (a quarter of the bytes of float32) and become floats only on the
device that uses them.
"""

from __future__ import annotations

import numpy as np
import torch


def to_network(frames: torch.Tensor | np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 ``[..., H, W, C]`` -> float32 ``[..., C, H, W]`` in [-1, 1] (x / 127.5 - 1).

    Frames bound for a CUDA device are page-locked first (a no-op for a DataLoader's pinned
    batches), so the copy is asynchronous: the host goes on queueing work while it runs.
    """
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    if frames.device.type == "cpu" and torch.device(device).type == "cuda":
        frames = frames.pin_memory()
    x = frames.to(device, non_blocking=True).movedim(-1, -3).float()
    return x.div_(127.5).sub_(1.0)


def stack_time(clips: torch.Tensor) -> torch.Tensor:
    """``[B, T, C, H, W]`` -> ``[B, T*C, H, W]``: frames stacked on channels, oldest first."""
    b, t, c, h, w = clips.shape
    return clips.reshape(b, t * c, h, w)
