"""The harness side of training: epochs with checkpoints and resume, seeded loaders, progress.

A detector's ``fit`` stays a plain loop::

    loader = trainer.loader(data.clips(ClipSpec(5)), batch_size=4)
    for epoch in trainer.epochs(self, n_epochs, optimizer=opt, scheduler=sched):
        for batch in trainer.track(loader, f"epoch {epoch + 1}"):
            loss = ...
            trainer.log(loss=loss)

``epochs`` restores the last checkpoint when resuming and saves one after every epoch (the
detector's ``state_dict`` plus the optimiser, scheduler and RNG states); ``track`` draws the
progress bar (loss, it/s, ETA); ``log`` takes tensors and syncs them with the host only when
the bar is redrawn, so logging costs no per-step device synchronisation.

Under ``torchrun`` the same loop trains on several processes (docs/distributed.md): the loader
gives each rank its slice of the global batches one process would see, the networks a detector
hands to ``parallel`` train through DistributedDataParallel with synchronised BatchNorm, the
logged values are averaged over the ranks, and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from vadbench import distributed
from vadbench.errors import RunError
from vadbench.store import atomic_torch_save, load_torch, restore

if TYPE_CHECKING:
    from rich.progress import Progress


class Stateful(Protocol):
    """What a checkpoint saves and restores: a detector, an optimiser, a scheduler."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draw from torch's CPU generator seeded with ``seed``, leaving the global RNG as it was.

    Detectors build their initial weights inside it (``with trainer.seeded(): ...``), so the
    weights depend on the run's seed alone, not on what ran before, on any device.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    """DataLoader worker init: derive NumPy/random seeds from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class Trainer:
    """Training services the runner hands to ``Detector.fit``."""

    def __init__(self, *, device: str = "cpu", seed: int = 0, epochs: int | None = None,
                 checkpoint: Path | None = None, resume: bool = False, workers: int = 0,
                 progress: Progress | None = None) -> None:
        self.device = device
        self.seed = seed
        self.epochs_override = epochs
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.resume = resume
        self.workers = workers
        self.progress = progress
        self.history: list[dict[str, float]] = []  # one row per finished epoch: epoch, losses, seconds
        self._generators: list[torch.Generator] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._task: Any = None
        self._parallel = 0  # networks handed to parallel()

    def seeded(self) -> AbstractContextManager[None]:
        """:func:`seeded` with the run's seed."""
        return seeded(self.seed)

    # -- data ---------------------------------------------------------------------------------
    def loader(self, dataset: Dataset, batch_size: int, *, shuffle: bool = True,
               drop_last: bool = False) -> DataLoader:
        """A DataLoader whose shuffling is reseeded from (seed, epoch) at every epoch.

        The samplers are those ``DataLoader(shuffle=..., batch_size=..., drop_last=...)`` builds,
        spelled out so that under torchrun every rank draws the same order and loads its slice of
        each global batch of ``batch_size`` (:class:`~vadbench.distributed.RankSlices`). Batches
        for a GPU come in pinned memory, so ``to_network`` copies them without blocking.
        """
        distributed.check_split(len(dataset), batch_size, drop_last, distributed.world_size())  # type: ignore[arg-type]
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        self._generators.append(generator)
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)  # type: ignore[arg-type]
        batches: torch.utils.data.Sampler[list[int]] = BatchSampler(order, batch_size, drop_last)
        if distributed.is_distributed():
            batches = distributed.RankSlices(batches, distributed.rank(), distributed.world_size())  # type: ignore[arg-type]
        return DataLoader(dataset, batch_sampler=batches, num_workers=self.workers, worker_init_fn=_seed_worker,
                          generator=generator, persistent_workers=self.workers > 0,
                          pin_memory=torch.device(self.device).type == "cuda")

    def parallel(self, module: nn.Module, forward: Callable[..., Any] | None = None) -> Callable[..., Any]:
        """What to run the training passes of ``module`` through: ``forward`` (default: the module).

        In one process that is ``forward`` itself. Under torchrun it is ``forward`` inside
        DistributedDataParallel, which averages the gradients of the ranks' equal local batches:
        the gradient of the single process's loss wherever that loss is a mean over the batch.
        ``module``'s BatchNorm layers are then synchronised, in place (state-dict names unchanged).
        Give ``forward`` when the pass is not ``module``'s own forward (MNAD reads its memory
        between encoder and decoder). Call it for every network an optimiser steps; a pass that
        must not sync gradients (a frozen network's, scoring) uses the module itself.
        """
        self._parallel += 1
        if not distributed.is_distributed():
            return forward or module
        return distributed.data_parallel(module, self.device, forward)

    # -- epochs, checkpoints, resume ------------------------------------------------------------
    def n_epochs(self, default: int) -> int:
        """The epoch count: ``--epochs`` if given, else the detector's ``default``."""
        return self.epochs_override if self.epochs_override is not None else default

    def epochs(self, detector: Stateful, n_epochs: int, **stateful: Stateful) -> Iterator[int]:
        """Yield epoch numbers, resuming after the last checkpoint and saving after each epoch.

        ``stateful`` objects (optimiser, scheduler, ...) must have ``state_dict`` and
        ``load_state_dict``; they are saved and restored with the detector.
        """
        if distributed.is_distributed() and not self._parallel:
            raise RunError(f"{type(detector).__name__} cannot train in {distributed.world_size()} processes: its fit "
                           "never hands its network to trainer.parallel, so the ranks' gradients would not be "
                           "averaged; train it in one process (without torchrun)")
        start = 0
        if self.resume and self.checkpoint is not None and self.checkpoint.exists():
            state = load_torch(self.checkpoint, self.device)
            if not isinstance(state, dict) or not {"detector", "train", "rng", "epoch"} <= set(state):
                raise RunError(f"checkpoint {self.checkpoint} is not a vadbench training checkpoint")
            restore(detector, state["detector"], self.checkpoint)
            for key, obj in stateful.items():
                if key not in state["train"]:
                    raise RunError(f"checkpoint {self.checkpoint} has no {key!r} state to resume from")
                restore(obj, state["train"][key], self.checkpoint)
            torch.set_rng_state(state["rng"]["torch"].cpu())  # the CPU generator's state, wherever it was loaded to
            self.history = [dict(row) for row in state.get("history", [])]
            start = int(state["epoch"]) + 1
        overall = self.progress.add_task("epochs", total=n_epochs, completed=start, losses="") if self.progress else None
        for epoch in range(start, n_epochs):
            for generator in self._generators:
                generator.manual_seed(self.seed * 100_003 + epoch)
            self._sums, self._count = {}, 0
            began = time.perf_counter()
            yield epoch
            self._average_over_ranks()
            row = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - began, 3)}
            row.update({k: float(v) / max(self._count, 1) for k, v in self._sums.items()})
            self.history.append(row)
            if overall is not None:
                self.progress.update(overall, advance=1, losses=f"epoch {epoch + 1}: {self.summary()}")
            if self.checkpoint is not None and distributed.rank() == 0:
                atomic_torch_save({
                    "detector": detector.state_dict(),
                    "train": {k: obj.state_dict() for k, obj in stateful.items()},
                    "rng": {"torch": torch.get_rng_state()},
                    "epoch": epoch, "history": self.history,
                }, self.checkpoint)

    def _average_over_ranks(self) -> None:
        """The epoch's logged sums averaged over the ranks: each rank logged the means of its
        equal slices, so their mean is what one process logs for the global batches."""
        if self._sums and distributed.is_distributed():
            stacked = torch.stack([v.to(self.device, torch.float64) for v in self._sums.values()])
            self._sums = dict(zip(self._sums, distributed.mean_over_ranks(stacked)))

    # -- progress -----------------------------------------------------------------------------
    def track(self, iterable: Iterable[Any], description: str, total: int | None = None) -> Iterator[Any]:
        """Iterate with a progress bar showing the running mean of logged values."""
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        if self.progress is None:
            yield from iterable
            return
        self._task = self.progress.add_task(description, total=total, losses="")
        last = 0.0
        try:
            for item in iterable:
                yield item
                now = time.monotonic()
                if now - last > 0.5:
                    last = now
                    self.progress.update(self._task, advance=0, losses=self.summary())
                self.progress.advance(self._task)
            self.progress.update(self._task, losses=self.summary())
        finally:
            self.progress.remove_task(self._task)
            self._task = None

    def log(self, **values: torch.Tensor | float) -> None:
        """Accumulate per-step values (tensors stay on their device)."""
        for key, value in values.items():
            value = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
            self._sums[key] = self._sums[key] + value if key in self._sums else value.clone()
        self._count += 1

    def summary(self) -> str:
        if not self._count:
            return ""
        return " ".join(f"{k}={float(v) / self._count:.4g}" for k, v in self._sums.items())


def load_detector_state(detector: Stateful, path: Path, device: str = "cpu") -> None:
    """Load a saved detector into ``detector``: a ``model.pt`` (its state_dict) or the detector
    part of a resume checkpoint written by :meth:`Trainer.epochs`; a file that is unsafe, damaged
    or does not fit the detector is one :class:`RunError` naming it."""
    state = load_torch(path, device)
    if isinstance(state, dict) and {"detector", "epoch"} <= set(state):
        state = state["detector"]
    restore(detector, state, path)


def _cpu_model() -> str:
    """The processor's name: float results of training differ between CPU types (kernels pick other
    instruction sets), so a run records on which one it ran."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def environment(device: str) -> dict[str, Any]:
    """Versions and hardware, recorded with every run."""
    import platform

    import cv2
    import h5py
    import sklearn

    from vadbench._version import __version__

    env: dict[str, Any] = {
        "vadbench": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "sklearn": sklearn.__version__, "h5py": h5py.__version__,
        "opencv": cv2.__version__, "platform": platform.platform(), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "device": device, "processes": distributed.world_size(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
    return env
