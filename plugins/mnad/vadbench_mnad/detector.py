"""MNAD-P and MNAD-R (Park, Noh, Ham, CVPR 2020) as vadbench detectors; docs/mnad.md is the reference.

Defaults reproduce the official code (docs/mnad.md §0.2); each place where the paper says otherwise is a
named config switch (docs/mnad.md §8), listed in ``plugins/mnad/README.md``. Training is the official
loop (Adam, cosine annealing stepped per epoch, batch 4, drop_last, the memory carried across
batches). Scoring follows the official evaluation, batch 1 in frame order, with three changes
that alter speed and never numbers: no autograd, the encoder batched over frames (it does not
depend on the memory), and no host synchronisation per frame (the test-time update is computed
every frame and kept or dropped on the device, and the per-frame values are copied once per
video).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F

from vadbench import (ClipSpec, ConfigError, DatasetError, Detector, Range, RunError, Trainer, TrainData, Video,
                      VideoScores, all_gather_cat, autocast, graphed, minmax, seeded, stack_time, to_network)

from vadbench_mnad import memory as mem
from vadbench_mnad.network import MNADNet


@dataclass
class MNADConfig:
    """MNAD settings; defaults are the official code's (docs/mnad.md §7), names of the paper variants per docs/mnad.md §8.

    ``alpha`` is the paper's λ (score weight of PSNR), ``threshold`` its γ (the test-time update
    happens when the regular score ε is below it).
    """

    height: int = 256
    width: int = 256
    color: Literal["rgb"] = "rgb"
    channel_order: Literal["bgr", "rgb"] = "bgr"  # the official reader decodes with OpenCV: BGR
    epochs: Annotated[int, Range(ge=0)] = 60
    batch_size: Annotated[int, Range(ge=1)] = 4
    lr: Annotated[float, Range(gt=0)] = 2e-4  # the paper gives 2e-5 for MNAD-R; the official code uses 2e-4 for both
    items: Annotated[int, Range(ge=1)] = 10  # M
    feature_dim: Annotated[int, Range(ge=1)] = 512  # C
    lambda_c: Annotated[float, Range(ge=0)] = 0.1
    lambda_s: Annotated[float, Range(ge=0)] = 0.1
    alpha: Annotated[float, Range(ge=0, le=1)] = 0.6
    threshold: float = 0.01
    memory: bool = True  # False: the no-memory baseline (decoder reads z; PSNR-only score)
    nomem_l2: bool = False  # no-memory baseline only: feed the L2-normalised z instead of z
    test_update: bool = True
    memory_reset: Literal["none", "per_video"] = "none"
    update_norm: Literal["all", "assigned"] = "all"  # paper eq. 5: "assigned"
    mem_init: Literal["uniform", "normal"] = "uniform"
    compactness: Literal["mse", "l2"] = "mse"  # paper eq. 10: "l2"
    feature_distance: Literal["mse", "l2"] = "mse"  # paper eq. 14: "l2"
    point_score: Literal["code", "paper"] = "code"  # paper eq. 13: "paper"
    exact_prediction: Literal["no_update", "update"] = "no_update"  # ε = 0/0: NaN in the official code, so no update
    score_chunk: Annotated[int, Range(ge=1)] = 8  # test frames encoded together (speed and memory only)
    memory_format: Literal["channels_last", "contiguous"] = "channels_last"  # layout while scoring (speed only)
    scoring_graph: Literal["auto", "eager"] = "auto"  # auto: the per-frame test step replayed from a CUDA graph
    amp: Literal["off", "bf16"] = "off"  # bf16 autocast of encoder and decoder (the memory stays float32)

    def __post_init__(self) -> None:
        if self.height < 8 or self.width < 8 or self.height % 8 or self.width % 8:
            raise ConfigError(f"height and width must be multiples of 8 (three poolings), got {self.height}x{self.width}")
        if self.memory and self.items < 2:
            raise ConfigError(f"items must be at least 2 (the separateness loss needs a second-nearest item), got {self.items}")
        if not self.memory and (self.alpha != 1.0 or self.test_update or self.lambda_c or self.lambda_s):
            raise ConfigError("memory=false leaves no feature distance, memory update or memory loss: also set "
                              "alpha=1 test_update=false lambda_c=0 lambda_s=0 (or run the *-nomem detector)")
        if self.memory and self.nomem_l2:
            raise ConfigError("nomem_l2 applies to the no-memory baseline only (memory=false)")


@dataclass
class MNADPConfig(MNADConfig):
    """MNAD-P: λc = λs = 0.1, α = 0.6, γ = 0.01."""


@dataclass
class MNADRConfig(MNADConfig):
    """MNAD-R (README recipe): λc = λs = 0.01, α = 0.7, γ = 0.015."""

    lambda_c: float = 0.01
    lambda_s: float = 0.01
    alpha: float = 0.7
    threshold: float = 0.015


# Settings whose non-default value is a paper variant or another deviation from the official code.
_VARIANTS = ("channel_order", "lr", "memory_reset", "update_norm", "mem_init", "compactness", "feature_distance",
             "point_score", "nomem_l2", "exact_prediction", "amp")
_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}

# The network's pass over a batch: (input, memory) -> (frame, z, read), see MNAD._network.
Pass = Callable[[torch.Tensor, "torch.Tensor | None"], "tuple[torch.Tensor, torch.Tensor, mem.Read | None]"]


@dataclass
class Forward:
    """What one forward pass computes: the frame, the raw features z, the memory read (queries,
    scores, ranked items, decoder input [q, r]), both memory losses and the items after the update.
    The memory fields are None without memory."""

    frame: torch.Tensor
    z: torch.Tensor
    read: mem.Read | None = None
    compactness: torch.Tensor | None = None
    separateness: torch.Tensor | None = None
    memory: torch.Tensor | None = None


class MNAD(Detector):
    """Shared machinery of MNAD-P and MNAD-R; subclasses set the task."""

    history: ClassVar[int]  # frames before the scored one that the network sees (4: prediction, 0: reconstruction)
    score_normalisation = "per_video_minmax per stream (PSNR; feature distance when alpha < 1), alpha-fused"  # fuse()

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.net: MNADNet | None = None
        self.memory: torch.Tensor | None = None  # the trained (or training) items, [M, C]
        self._test_memory: torch.Tensor | None = None  # carried across test videos; None = start from self.memory
        self._degenerate: list[str] = []  # "video: stream" whose per-video range was zero in this test pass
        # the per-frame test step (a CUDA graph or _frame_step itself), its record, the config it was made for
        self._step: tuple[Callable[..., tuple[torch.Tensor, torch.Tensor]], dict[str, str], str] | None = None

    # -- construction ---------------------------------------------------------------------------
    def build(self, seed: int) -> None:
        """Network and memory, drawn in the official order (network, then items) from ``seed``.

        The draws happen in a forked RNG on the CPU (as the official code draws them), so the
        initial weights depend on the seed alone, not on what ran before.
        """
        cfg = self.config
        with seeded(seed):
            self.net = MNADNet(max(self.history, 1), skips=self.history > 0, feature_dim=cfg.feature_dim,
                               memory=cfg.memory)
            self.memory = mem.init_memory(cfg.items, cfg.feature_dim, cfg.mem_init) if cfg.memory else None
        self._test_memory = None
        self.to(self.device)

    def to(self, device: str) -> MNAD:
        super().to(device)
        self._step = None  # a captured step holds the weights' old addresses
        if self.net is not None:
            self.net.to(device)
        if self.memory is not None:
            self.memory = self.memory.to(device)
        if self._test_memory is not None:
            self._test_memory = self._test_memory.to(device)
        return self

    def deviations(self) -> dict[str, Any]:
        """Settings that differ from the official code, and the degenerate videos scoring met (a run
        records both: the harness asks again after scoring)."""
        official = type(self.config)()
        out = {k: getattr(self.config, k) for k in _VARIANTS if getattr(self.config, k) != getattr(official, k)}
        if self._degenerate:
            out["zero_range_minmax"] = ("normalised to 0 where the official code divides 0 by 0 (NaN): "
                                        + ", ".join(self._degenerate))
        if self.history == 0 and self.config.lambda_c != self.config.lambda_s:
            out["loss_weights"] = ("unequal; the official MNAD-R script would have swapped them (docs/mnad.md §4.9): "
                                   f"lambda_c={self.config.lambda_c} applied to compactness as named")
        return out

    # -- network pieces -------------------------------------------------------------------------
    def _frames(self, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
        """uint8 ``[..., H, W, 3]`` (RGB, from the cache) -> float ``[..., 3, H, W]`` in [-1, 1], BGR by default."""
        x = to_network(frames, self.device)
        return x.flip(-3) if self.config.channel_order == "bgr" else x

    def _layout(self, scoring: bool) -> None:
        """The weights in ``memory_format`` while scoring, contiguous while training.

        Channels-last convolutions are faster on a CPU and score the same to float rounding, but a
        training trajectory amplifies rounding: two steps in channels-last drift from the
        official modules' by 5e-5 in the loss and 5e-4 in the items, contiguous ones by 1e-7 (MNAD-P
        at 32², benchmarks/official_mnad.py), so training keeps the official kernels' layout.
        """
        assert self.net is not None
        fmt = _FORMATS[self.config.memory_format] if scoring else torch.contiguous_format
        if not self.net.encoder.moduleConv1[0].weight.is_contiguous(memory_format=fmt):
            self.net.to(memory_format=fmt)
            self._step = None  # a captured step holds the weights' old addresses

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The encoder (under ``amp``): z in the input's precision for the memory, the skips as the
        decoder takes them."""
        assert self.net is not None
        with autocast(self.device, self.config.amp):
            z, skips = self.net.encoder(x)
        return z.to(x.dtype), skips

    def _decode(self, z: torch.Tensor, skips: tuple[torch.Tensor, ...], memory: torch.Tensor | None
                ) -> tuple[torch.Tensor, mem.Read | None]:
        """The frame from features: through a memory read (``[q, r]``), or from z itself without memory.

        The memory read runs in the features' precision (float32) whatever ``amp`` says: it is
        MNAD's state, and small."""
        if memory is None:
            x, read = (F.normalize(z, dim=1) if self.config.nomem_l2 else z), None
        else:
            read = mem.read(z, memory)
            x = read.decoder_input
        assert self.net is not None
        with autocast(self.device, self.config.amp):
            frame = self.net.decoder(x, skips if self.history else None)
        return frame.to(x.dtype), read

    def _split(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, L, 3, H, W]`` clips -> network input (frames stacked on channels, oldest first) and target."""
        return (stack_time(clip[:, :-1]) if self.history else clip[:, 0]), clip[:, -1]

    # -- training -------------------------------------------------------------------------------
    def fit(self, data: TrainData, trainer: Trainer) -> None:
        cfg = self.config
        self.to(trainer.device)
        self.build(trainer.seed)
        assert self.net is not None
        clips = data.clips(ClipSpec(length=self.history + 1, stride=1))
        loader = trainer.loader(clips, batch_size=cfg.batch_size, shuffle=True, drop_last=True)
        if len(loader) == 0:
            raise DatasetError(f"the training split has {len(clips)} windows of {self.history + 1} frames, fewer than "
                               f"one batch of {cfg.batch_size}")
        n_epochs = trainer.n_epochs(cfg.epochs)
        optimizer = make_optimizer(self.net.parameters(), cfg.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(n_epochs, 1))
        network = trainer.parallel(self.net, forward=self._network)
        for epoch in trainer.epochs(self, n_epochs, optimizer=optimizer, scheduler=scheduler):
            self.net.train()
            for batch in trainer.track(loader, f"epoch {epoch + 1}/{n_epochs}"):
                trainer.log(**self.train_step(*self._split(self._frames(batch)), optimizer, network))
            scheduler.step()
        self._test_memory = None

    def _network(self, x: torch.Tensor, memory: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, mem.Read | None]:
        """Encoder, memory read and decoder: the network's pass over a batch (frame, z, read)."""
        z, skips = self._encode(x)
        frame, read = self._decode(z, skips, memory)
        return frame, z, read

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, *, update: bool = True,
                network: Pass | None = None) -> Forward:
        """One pass of network and memory over a batch, as the official module's forward (docs/mnad.md §3.5, §4.7).

        ``x`` is the network input (``[B, 12, H, W]`` for MNAD-P, ``[B, 3, H, W]`` for MNAD-R, BGR
        in [-1, 1]); ``memory`` defaults to the detector's items. The losses and the read use the
        items before this step; ``update=False`` returns them unchanged (the official test forward).
        ``network`` is what the pass runs through (the trainer's :meth:`Trainer.parallel` of
        :meth:`_network` while training).

        Under torchrun ``x`` is this rank's slice of the global batch: the losses stay means over
        its own queries (DDP averages them into the global batch's), while the items are updated
        from the queries of the whole global batch, gathered in rank order, so every rank holds
        the items one process would hold (docs/distributed.md).
        """
        cfg = self.config
        memory = self.memory if memory is None else memory
        frame, z, read = (network or self._network)(x, memory)
        if read is None or memory is None:
            return Forward(frame, z)
        new = memory
        if update:
            queries, scores, nearest = (all_gather_cat(t.detach()) for t in (read.queries, read.scores, read.nearest))
            new = mem.update(queries, memory, scores, nearest, cfg.update_norm)
        return Forward(frame, z, read, mem.compactness(read, memory, cfg.compactness), mem.separateness(read, memory),
                       new)

    def train_step(self, x: torch.Tensor, target: torch.Tensor, optimizer: torch.optim.Optimizer,
                   network: Pass | None = None) -> dict[str, torch.Tensor]:
        """One official training iteration (docs/mnad.md §4.7) through ``network`` (see :meth:`forward`);
        returns the losses (tensors, not synced)."""
        cfg = self.config
        self._layout(scoring=False)
        out = self.forward(x, network=network)
        pixel = F.mse_loss(out.frame, target)
        losses = {"pixel": pixel}
        loss = pixel
        if out.compactness is not None and out.separateness is not None:
            losses.update(compactness=out.compactness, separateness=out.separateness)
            loss = pixel + cfg.lambda_c * out.compactness + cfg.lambda_s * out.separateness
            self.memory = out.memory
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss, **losses}

    # -- scoring --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a fresh test pass: the next video starts from the trained memory."""
        self._test_memory = None
        self._degenerate = []

    @property
    def test_memory(self) -> torch.Tensor | None:
        """The items the next test video starts from (a copy): the trained items after
        :meth:`reset`, else those left by the videos scored since. None without memory."""
        memory = self._test_memory if self._test_memory is not None else self.memory
        return None if memory is None else memory.detach().clone()

    def _errors(self, frame: torch.Tensor, target01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per frame of a batch: pixel MSE on the [0, 1] scale and the regular score ε (docs/mnad.md §6.2).

        ε = Σ w·e / Σ w with w = 1 − exp(−e), where e is the squared error of every element
        (official code) or the L2 colour distance of every pixel (``point_score='paper'``).
        An exact prediction gives 0/0: NaN as in the official code, so ``ε < γ`` fails and the
        memory is not updated; ``exact_prediction='update'`` counts it as 0 instead.
        """
        err = ((frame + 1) / 2 - target01) ** 2
        mse = err.mean(dim=(1, 2, 3))
        if self.config.point_score == "paper":
            err = err.sum(dim=1).sqrt()
        weight = 1 - torch.exp(-err)
        eps = (weight * err).flatten(1).sum(1) / weight.flatten(1).sum(1)
        return mse, eps.nan_to_num(0.0) if self.config.exact_prediction == "update" else eps

    def _check_video(self, video: Video) -> None:
        cfg = self.config
        shape = tuple(video.frames.shape[1:])
        if shape != (cfg.height, cfg.width, 3):
            raise DatasetError(f"video {video.name!r} has frames of shape {shape}; {type(self).__name__} expects "
                               f"({cfg.height}, {cfg.width}, 3) as configured")
        if self.net is None:
            raise RunError(f"{type(self).__name__} has no trained network: fit it or load a checkpoint first")

    @torch.inference_mode()
    def score_video(self, video: Video) -> VideoScores:
        """Score one video (docs/mnad.md §6): the encoder batched over ``score_chunk`` frames, then
        :meth:`_frame_step` frame by frame (replayed from a CUDA graph where one can be captured)."""
        self._check_video(video)
        cfg, k, net = self.config, self.history, self.net
        assert net is not None
        net.eval()
        self._layout(scoring=True)
        n = max(len(video) - k, 0)  # scored frames: the targets k .. T-1
        memory = None
        if cfg.memory:
            memory = self._test_memory if cfg.memory_reset == "none" and self._test_memory is not None else self.memory
        stats = torch.zeros(n, 4, device=self.device)  # mse, feature distance, ε, updated
        frames = torch.from_numpy(video.frames)
        step = None
        for start in range(0, n, cfg.score_chunk):
            stop = min(start + cfg.score_chunk, n)
            clip = self._frames(frames[start:stop + k])
            x = torch.cat([clip[i:i + stop - start] for i in range(k)], dim=1) if k else clip
            target01 = (clip[k:] + 1) / 2
            z, skips = self._encode(x)
            if memory is None:  # no state: the whole chunk at once
                frame, _ = self._decode(z, skips, None)
                stats[start:stop, 0] = self._errors(frame, target01)[0]
                continue
            used = skips if k else ()  # MNAD-R's decoder takes no skips
            for j in range(stop - start):
                args = (memory, target01[j:j + 1], z[j:j + 1], *(s[j:j + 1] for s in used))
                if step is None:
                    step = self._scoring_step(args)
                stats[start + j], memory = step(*args)
        if memory is not None and cfg.memory_reset == "none":
            self._test_memory = memory.clone()  # a graph's output buffer is overwritten by its next replay
        return self._scores(video.name, len(video), stats.cpu().double().numpy())

    def _frame_step(self, memory: torch.Tensor, target01: torch.Tensor, z: torch.Tensor, *skips: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One test frame after the encoder: memory read, decoder, errors and the test-time update
        -> ``[mse, feature distance, ε, updated]`` and the items for the next frame.

        Pure (it only reads its arguments), so a CUDA graph can replay it; the update is computed
        every frame and kept or dropped on the device, so nothing waits for the host.
        """
        cfg = self.config
        frame, read = self._decode(z, skips, memory)
        assert read is not None
        mse, eps = self._errors(frame, target01)
        distance = mem.compactness(read, memory, cfg.feature_distance)
        if cfg.test_update:
            go = eps[0] < cfg.threshold
            memory = torch.where(go, mem.update(read.queries, memory, read.scores, read.nearest, cfg.update_norm),
                                 memory)
        else:
            go = torch.zeros_like(eps[0], dtype=torch.bool)
        return torch.stack((mse[0], distance, eps[0], go.to(mse.dtype))), memory

    def _scoring_step(self, example: tuple[torch.Tensor, ...]) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`_frame_step`, captured in a CUDA graph on the first frame scored (``scoring_graph=auto``
        on CUDA), else itself; the choice, and why, goes to :meth:`execution`. A graph holds the
        settings it was captured with, so a changed config captures it again."""
        key = repr(self.config)
        if self._step is None or self._step[2] != key:
            self._step = (*graphed(self._frame_step, example, enabled=self.config.scoring_graph == "auto"), key)
        return self._step[0]

    def execution(self) -> dict[str, Any]:
        """How the test pass computed: the per-frame step replayed from a CUDA graph or eager, the
        weights' memory format; none of it changes a number beyond float noise."""
        out: dict[str, Any] = {"memory_format": self.config.memory_format}
        if self._step is not None:
            out.update(self._step[1])
        return out

    def _scores(self, video: str, n_frames: int, stats: np.ndarray) -> VideoScores:
        """The official fusion of the per-frame streams (:func:`fuse`), NaN for the k unscored first frames."""
        cfg, k = self.config, self.history
        psnr = 10 * np.log10(1 / np.maximum(stats[:, 0], 1e-10))
        columns = {"psnr": psnr}
        distance = None
        if cfg.memory:
            columns.update(feature_distance=stats[:, 1], regular_score=stats[:, 2], memory_updated=stats[:, 3])
            distance = stats[:, 1] if cfg.alpha < 1 else None
        self._degenerate += [f"{video}: {name}" for name, x in (("psnr", psnr), ("feature_distance", distance))
                             if x is not None and len(x) and x.min() == x.max()]
        pad = np.full(min(k, n_frames), np.nan)
        extras = {name: np.concatenate([pad, column]) for name, column in columns.items()}
        return VideoScores(np.concatenate([pad, fuse(psnr, distance, cfg.alpha)]), extras=extras,
                           raw=np.concatenate([pad, -psnr]))

    # -- persistence ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self.net is None:
            raise RunError(f"{type(self).__name__} has nothing to save before it is trained or loaded")
        state: dict[str, Any] = {"network": self.net.state_dict()}
        if self.memory is not None:
            state["memory"] = self.memory.clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.net is None:
            self.build(0)  # shapes only; every value is overwritten below
        assert self.net is not None
        if self.config.memory and "memory" not in state:
            raise RunError(f"{type(self).__name__} checkpoint has no memory items (key 'memory')")
        self.net.load_state_dict(state["network"])
        if self.config.memory:
            items = state["memory"]
            expected = (self.config.items, self.config.feature_dim)
            if tuple(items.shape) != expected:
                raise RunError(f"checkpoint memory has shape {tuple(items.shape)}, the config expects {expected}")
            self.memory = items.detach().to(self.device, torch.float32).clone()
        self._test_memory = None


def make_optimizer(params: Any, lr: float) -> torch.optim.Adam:
    """The official optimiser (Adam, betas 0.9/0.999, eps 1e-8, no weight decay), fused where
    PyTorch offers it: the same update in one kernel (the step costs a sixth on a CPU)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # no fused kernel for this device / PyTorch version
        return torch.optim.Adam(params, lr=lr)


def fuse(psnr: np.ndarray, feature_distance: np.ndarray | None, alpha: float) -> np.ndarray:
    """The official score of one video from its per-frame streams: the abnormality 1 − s with
    s = α·P̃ + (1 − α)·(1 − D̃), P̃ and D̃ the per-video min-max of PSNR and feature distance.

    Computed in the official order of operations, so s equals the official normality score to
    the last bit and its ties stay ties. A stream of zero range (the official code: 0/0 = NaN)
    normalises to 0. ``feature_distance=None`` (or α = 1) scores by PSNR alone.
    """
    normality = minmax(psnr)
    if feature_distance is not None and alpha < 1:
        normality = alpha * normality + (1 - alpha) * (1 - minmax(feature_distance))
    return 1 - normality


class MNADP(MNAD):
    """MNAD-P (CVPR 2020): U-Net future-frame prediction with a 10-item memory; official-code defaults."""

    Config = MNADPConfig
    history = 4


class MNADR(MNAD):
    """MNAD-R (CVPR 2020): frame reconstruction with a 10-item memory, no skips; official-code defaults."""

    Config = MNADRConfig
    history = 0
