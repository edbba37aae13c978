"""Loading weights in the official format (cvlab-yonsei/MNAD) into our detectors (docs/mnad.md §3.4, §10.4).

The official code saves a whole pickled module (``model.pth``) and, separately, the memory items
(``keys.pt``, a 10×512 tensor). Convert the module to a state dict once where the official
source is importable (PyTorch >= 2.6 needs ``weights_only=False`` for the pickle)::

    model = torch.load("model.pth", weights_only=False)
    torch.save(model.state_dict(), "model_state.pt")

and then, anywhere::

    det = MNADP()                       # or MNADR(); the config must match the weights (items, C)
    load_official(det, torch.load("model_state.pt"), torch.load("keys.pt"))
    det.state_dict()                    # our own checkpoint format from now on

Our modules carry the official names, so the map is the identity except for the encoder's
``moduleBatchNorm``, which the official network builds and never calls; its keys are checked
and dropped.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from vadbench import ConfigError

UNUSED_PREFIX = "encoder.moduleBatchNorm."


def load_official(detector: Any, state_dict: Mapping[str, torch.Tensor] | torch.nn.Module,
                  memory_items: torch.Tensor) -> None:
    """Install official-format weights and memory items in an MNAD detector (in place).

    ``state_dict`` is the official network's state dict (or the module itself), with keys such as
    ``encoder.moduleConv1.0.weight`` and ``decoder.moduleUpsample4.0.weight``; an optional
    ``module.`` prefix (DataParallel) is stripped. ``memory_items`` is the saved ``keys.pt``
    ``[M, C]``. Every key and shape must match; ``num_batches_tracked`` buffers, which
    PyTorch < 0.4.1 did not save, may be absent. Raises :class:`ConfigError` naming the first
    mismatch (e.g. MNAD-R weights given to MNAD-P).
    """
    if isinstance(state_dict, torch.nn.Module):
        state_dict = state_dict.state_dict()
    state = {k.removeprefix("module."): v for k, v in state_dict.items()}
    name = type(detector).__name__
    if not detector.config.memory:
        raise ConfigError(f"{name} has no memory; official weights exist for MNAD-P and MNAD-R with memory only")
    if detector.net is None:
        detector.build(0)  # shapes only; every value is overwritten below
    ours = detector.net.state_dict()
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(UNUSED_PREFIX):
            continue
        if key not in ours:
            raise ConfigError(f"official key {key!r} has no counterpart in {name}'s network")
        if tuple(value.shape) != tuple(ours[key].shape):
            raise ConfigError(f"official {key!r} has shape {tuple(value.shape)}, {name} expects {tuple(ours[key].shape)} "
                              "(weights of the other task, or another memory setting?)")
        converted[key] = value
    missing = [k for k in ours if k not in converted and not k.endswith("num_batches_tracked")]
    if missing:
        raise ConfigError(f"official state dict lacks {len(missing)} key(s) of {name}, e.g. {missing[0]!r}")
    expected = (detector.config.items, detector.config.feature_dim)
    if tuple(memory_items.shape) != expected:
        raise ConfigError(f"memory items have shape {tuple(memory_items.shape)}, {name} is configured for {expected}")
    detector.load_state_dict({"network": {**ours, **converted}, "memory": memory_items})
