"""MemAE (Gong et al., ICCV 2019) and its no-memory twin AE-Conv3D, on 16-frame grayscale clips.

``docs/baselines.md`` §4.4: the released model and training, one score per clip (the mean absolute
residual in [-1, 1] space), assigned to the clip's centre frame j + 8, so the first 8 and last 7
frames of a video are NaN and filled by the harness. The released per-video normalisation
p = 1 - (e - min e)/(max e - min e) is the harness's ``per_video_minmax`` of e (the default
``mnad`` protocol), so the detector returns e; the ``memae`` protocol adds the paper's alignment
(drop the first 8 and last 7 frames). ``memae-nomem`` is the same detector with ``memory = false``, scored by the same rule
(the released test script scores its AE with an MSE in [0, 1] space instead; recorded here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch

from vadbench import ClipSpec, ConfigError, Range, VideoScores, to_network
from vadbench_baselines.memae.model import CLIP, SIDE_MULTIPLE, MemAENet, entropy
from vadbench_baselines.sliding import NetworkDetector, window_scores


@dataclass
class MemAEConfig:
    height: int = 256
    width: int = 256
    color: Literal["gray"] = "gray"
    memory: bool = True  # false: AE-Conv3D, the same network without the memory
    memory_items: Annotated[int, Range(ge=1)] = 2000
    shrink: Annotated[float, Range(ge=0, lt=1)] = 0.0025  # hard-shrinkage threshold lambda (released scripts); 0 = none
    entropy_weight: Annotated[float, Range(ge=0)] = 0.0002
    stride: Annotated[int, Range(ge=1)] = 1  # a training clip starts every `stride` frames
    epochs: Annotated[int, Range(ge=0)] = 60
    batch_size: Annotated[int, Range(ge=1)] = 14
    lr: Annotated[float, Range(gt=0)] = 1e-4
    score_batch: Annotated[int, Range(ge=1)] = 16



class MemAE(NetworkDetector):
    """MemAE (Gong et al. 2019): 3-D conv AE whose latent is read from a sparse memory of normal items."""

    Config = MemAEConfig

    def __init__(self, config: MemAEConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.height % SIDE_MULTIPLE or cfg.width % SIDE_MULTIPLE or min(cfg.height, cfg.width) < SIDE_MULTIPLE:
            raise ConfigError(f"memae needs frame sides that are positive multiples of {SIDE_MULTIPLE}, "
                              f"got {cfg.height}x{cfg.width}")
        self.net = self._network()

    def _network(self) -> MemAENet:
        cfg = self.config
        return MemAENet(cfg.memory_items if cfg.memory else 0, cfg.shrink)

    # -- training -------------------------------------------------------------------------------
    def fit(self, data, trainer) -> None:
        cfg = self.config
        with trainer.seeded():  # initial weights from the run's seed alone, on any device
            self.net = self._network().to(self.device)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        loader = trainer.loader(data.clips(ClipSpec(CLIP, stride=cfg.stride)), cfg.batch_size)
        net = trainer.parallel(self.net)
        self.net.train()
        for epoch in trainer.epochs(self, trainer.n_epochs(cfg.epochs), optimizer=opt):
            for batch in trainer.track(loader, f"epoch {epoch + 1}"):
                x = self._inputs(batch)
                recon, w = net(x)
                mse = (recon - x).square().mean()
                loss = mse if w is None else mse + cfg.entropy_weight * entropy(w)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                trainer.log(loss=loss, mse=mse)

    def _inputs(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 16, H, W, 1]`` -> float ``[B, 1, 16, H, W]`` in [-1, 1] (mean 0.5, std 0.5)."""
        return to_network(clips, self.device).transpose(1, 2)

    # -- testing --------------------------------------------------------------------------------
    def score_video(self, video) -> VideoScores:
        self.net.eval()
        return VideoScores(window_scores(video.frames, CLIP, CLIP // 2, self.config.score_batch, self._errors))

    def _errors(self, clips: torch.Tensor) -> torch.Tensor:
        """Per clip: the per-pixel residual norm over channels (|r| for gray), averaged over T x H x W."""
        x = self._inputs(clips)
        recon, _ = self.net(x)
        return (recon - x).abs().mean(dim=(1, 2, 3, 4))

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
