"""The official MNAD modules (cvlab-yonsei/MNAD), run beside vadbench's in the same process.

The official repository has no licence, so nothing of it is copied here: give the path of a
checkout (``--official DIR`` or ``MNAD_OFFICIAL=DIR``; its ``model/`` folder is imported as it is).
What this file adds is the harness around those modules, written from the documented procedure
(docs/mnad.md §5 and §6.8): the evaluation step of ``Evaluate.py`` (forward with autograd on, PSNR
and feature distance read with ``.item()``, the point score, the test-time update when it is below
the threshold) and the training iteration of ``Train.py`` (forward, pixel loss plus the weighted
memory losses, backward with ``retain_graph=True``, Adam). The official code calls ``.cuda()`` on
the buffers of its memory update; on a CPU those calls are made no-ops, the only change
(docs/mnad.md §12 measured it so).

:func:`fidelity` compares the two implementations given the same weights, items and frames: every
per-frame value of a test pass with the test-time update, the final items, and the losses, items
and weights after training steps.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vadbench import stack_time
from vadbench.data.cache import CachedVideo
from vadbench_mnad import MNADP, MNADR, load_official
from vadbench_mnad.detector import MNAD, make_optimizer

MODULES = {"mnad-p": "model.final_future_prediction_with_memory_spatial_sumonly_weight_ranking_top1",
           "mnad-r": "model.Reconstruction"}
DETECTORS = {"mnad-p": MNADP, "mnad-r": MNADR}


def checkout(path: str | None) -> Path | None:
    """The official checkout to use: ``path``, else ``MNAD_OFFICIAL``; None when neither is given."""
    path = path or os.environ.get("MNAD_OFFICIAL")
    if not path:
        return None
    root = Path(path)
    if not all((root / (name.replace(".", "/") + ".py")).is_file() for name in MODULES.values()):
        raise SystemExit(f"{root} is not a checkout of cvlab-yonsei/MNAD (no {MODULES['mnad-p']}.py under it)")
    return root


@contextlib.contextmanager
def cuda_calls_to(device: str) -> Iterator[None]:
    """Inside: ``Tensor.cuda()`` is a no-op on a CPU (the official memory update allocates its buffers
    on the CPU and calls ``.cuda()`` on them); on a CUDA device it stays what it is."""
    if device.startswith("cuda"):
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


@dataclass
class Official:
    """One official network with its memory items, and the vadbench detector holding the same weights."""

    name: str
    model: torch.nn.Module
    keys: torch.Tensor
    ours: MNAD
    device: str

    @property
    def pred(self) -> bool:
        return self.name == "mnad-p"

    def inputs(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB frames ``[T, H, W, 3]`` -> the official inputs and targets of every scored frame
        (``[N, 12 or 3, H, W]`` and ``[N, 3, H, W]``, BGR in [-1, 1], as its loader makes them)."""
        x = self.ours._frames(torch.from_numpy(frames))
        k = self.ours.history
        if not k:
            return x, x
        windows = x.unfold(0, k + 1, 1).movedim(-1, 1)  # [N, k+1, 3, H, W]
        return stack_time(windows[:, :k]), windows[:, k]

    # -- the official procedure (Evaluate.py, Train.py) -------------------------------------
    def eval_step(self, x: torch.Tensor, target: torch.Tensor, keys: torch.Tensor, threshold: float
                  ) -> tuple[float, float, float, torch.Tensor]:
        """One frame of the official evaluation: (PSNR, feature distance, point score, items)."""
        with cuda_calls_to(self.device):
            out = self.model.forward(x, keys, False)
            frame, feas, compactness = out[0], out[1], out[-1]
            mse = torch.mean(F.mse_loss((frame[0] + 1) / 2, (target[0] + 1) / 2, reduction="none")).item()
            distance = compactness.item()
            error = F.mse_loss((frame[0] + 1) / 2, (target[0] + 1) / 2, reduction="none")
            normal = 1 - torch.exp(-error)
            point = (torch.sum(normal * F.mse_loss((frame[0] + 1) / 2, (target[0] + 1) / 2, reduction="none"))
                     / torch.sum(normal)).item()
            if point < threshold:
                query = F.normalize(feas, dim=1).permute(0, 2, 3, 1)
                keys = self.model.memory.update(query, keys, False)
        return 10 * math.log10(1 / mse), distance, point, keys

    def train_step(self, x: torch.Tensor, target: torch.Tensor, optimizer: torch.optim.Optimizer
                   ) -> dict[str, float | torch.Tensor]:
        """One official training iteration; the items move on in :attr:`keys`."""
        cfg = self.ours.config
        with cuda_calls_to(self.device):
            out = self.model.forward(x, self.keys, True)
            frame, self.keys = out[0], out[3]
            # MNAD-P returns (separateness, compactness), MNAD-R (compactness, separateness) in the same places
            # (docs/mnad.md §4.9): the weights below are equal by default, so the swap does not show.
            separateness, compactness = out[6], out[7]
            optimizer.zero_grad()
            pixel = torch.mean(F.mse_loss(frame, target, reduction="none"))
            loss = pixel + cfg.lambda_c * compactness + cfg.lambda_s * separateness
            loss.backward(retain_graph=True)
            optimizer.step()
        return {"loss": loss, "pixel": pixel}


def build(root: Path, name: str, size: int, device: str, seed: int = 0, **overrides: Any) -> Official:
    """The official network of ``name`` at ``size``² (PyTorch's default initialisation from ``seed``,
    the official items' draw), and an MNAD detector given the same weights through
    :func:`~vadbench_mnad.load_official`."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module(MODULES[name])
    torch.manual_seed(seed)
    model = module.convAE(3, 5, 10, 512, 512) if name == "mnad-p" else module.convAE(3, memory_size=10,
                                                                                      feature_dim=512, key_dim=512)
    keys = F.normalize(torch.rand((10, 512), dtype=torch.float), dim=1)
    cls = DETECTORS[name]
    ours = cls(cls.Config(height=size, width=size, **overrides))
    ours.to(device)
    load_official(ours, model.state_dict(), keys)
    return Official(name, model.to(device), keys.to(device), ours, device)


def official_pass(off: Official, frames: np.ndarray, threshold: float) -> tuple[np.ndarray, torch.Tensor]:
    """The official test pass over one video: rows (PSNR, feature distance, point score) and the items."""
    off.model.eval()
    x, target = off.inputs(frames)
    keys, rows = off.keys, []
    for i in range(len(x)):
        *row, keys = off.eval_step(x[i:i + 1], target[i:i + 1], keys, threshold)
        rows.append(row)
    return np.array(rows), keys


def fidelity(root: Path, name: str, size: int, device: str, frames: int = 12, train_steps: int = 2,
             seed: int = 0) -> dict[str, float]:
    """Largest differences between the official modules and vadbench on ``device`` with the same
    weights and items: per-frame PSNR, feature distance and regular score and the final items of a
    test pass (with the threshold set so that some frames update the memory and some do not), then
    the losses and items of ``train_steps`` training iterations at batch 4 and the frame each trained
    network predicts (not the weights themselves: the biases of the convolutions before a
    BatchNorm get float-noise gradients, which Adam's normalised step turns into ±lr moves)."""
    off = build(root, name, size, device, seed)
    k = off.ours.history
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, size, size, 3))
    video = np.clip(base + rng.integers(-8, 9, (k + frames, size, size, 3)), 0, 255).astype(np.uint8)
    probe, _ = official_pass(off, video, threshold=-math.inf)  # no update: where the point scores lie
    threshold = float(np.median(probe[:, 2]))  # about half the frames update
    rows, keys = official_pass(off, video, threshold)
    off.ours.config.threshold = threshold
    off.ours.reset()
    ours = off.ours.score_video(CachedVideo("fidelity", video, None)).extras
    mine = np.stack([ours[c][k:] for c in ("psnr", "feature_distance", "regular_score")], axis=1)
    updated = ours["memory_updated"][k:].astype(bool)
    result = {
        "frames": float(frames), "updates": float(updated.sum()),
        "update_decisions_differ": float((updated != (rows[:, 2] < threshold)).sum()),
        "psnr_max_abs_diff": float(np.abs(mine[:, 0] - rows[:, 0]).max()),
        "feature_distance_max_rel_diff": _rel(mine[:, 1], rows[:, 1]),
        "regular_score_max_rel_diff": _rel(mine[:, 2], rows[:, 2]),
        "test_items_max_abs_diff": float((off.ours.test_memory - keys).abs().max()),
    }
    clips = off.ours._frames(torch.from_numpy(rng.integers(0, 256, (train_steps, 4, k + 1, size, size, 3), np.uint8)))
    theirs_opt = torch.optim.Adam(off.model.parameters(), lr=off.ours.config.lr)
    ours_opt = make_optimizer(off.ours.net.parameters(), off.ours.config.lr)
    off.model.train()
    off.ours.net.train()
    loss_diff = 0.0
    for clip in clips:
        x, target = off.ours._split(clip)
        theirs = off.train_step(x, target, theirs_opt)
        mine_losses = off.ours.train_step(x, target, ours_opt)
        loss_diff = max(loss_diff, abs(float(mine_losses["loss"].detach()) / float(theirs["loss"].detach()) - 1))
    off.model.eval()
    off.ours.net.eval()
    x, _ = off.inputs(video[:k + 1])
    with torch.no_grad(), cuda_calls_to(device):
        theirs_frame = off.model.forward(x, off.keys, False)[0]
        mine_frame = off.ours.forward(x, update=False).frame
    result.update(
        train_loss_max_rel_diff=loss_diff,
        train_items_max_abs_diff=float((off.ours.memory - off.keys).abs().max()),
        trained_frame_max_abs_diff=float((mine_frame - theirs_frame).abs().max()),
    )
    return result


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b) / np.maximum(np.abs(b), 1e-12)).max())
