"""MNAD's networks against docs/mnad.md §3 (13.1, 13.2) and loading official-format weights."""

from __future__ import annotations

import pytest
import torch

from vadbench.registry import create_detector
from vadbench_mnad import MNADP, MNADR, load_official
from vadbench_mnad.network import MNADNet
from vadbench.errors import ConfigError


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("frames_in, skips, memory, expected", [
    (4, True, True, 15_650_819),    # MNAD-P without the official encoder's unused BN (15,651,843 with it)
    (1, False, True, 17_195_267),   # MNAD-R (17,196,291 with it)
    (4, True, False, 13_291_523),   # MNAD-P-nomem
    (1, False, False, 14_835_971),  # MNAD-R-nomem
])
def test_parameter_counts(frames_in: int, skips: bool, memory: bool, expected: int) -> None:
    with torch.device("meta"):
        net = MNADNet(frames_in, skips, memory=memory)
    assert n_params(net) == expected
    assert len(net.state_dict()) == 130  # the official 135 minus the unused BN's 5


@pytest.mark.parametrize("size", [256, 64])
def test_shapes(size: int) -> None:
    with torch.device("meta"):
        for frames_in, skips in ((4, True), (1, False)):
            net = MNADNet(frames_in, skips)
            z, (s1, s2, s3) = net.encoder(torch.empty(1, 3 * frames_in, size, size))
            assert z.shape == (1, 512, size // 8, size // 8)
            assert (s1.shape[1:], s2.shape[1:], s3.shape[1:]) == ((64, size, size), (128, size // 2, size // 2),
                                                                  (256, size // 4, size // 4))
            out = net.decoder(torch.empty(1, 1024, size // 8, size // 8), (s1, s2, s3) if skips else None)
            assert out.shape == (1, 3, size, size)


def test_skip_is_concatenated_first() -> None:
    """Swapping the concatenation to [up, skip] changes the prediction (13.2)."""
    torch.manual_seed(0)
    net = MNADNet(4, True, feature_dim=64).eval()
    x = torch.randn(1, 12, 16, 16)
    with torch.no_grad():
        z, skips = net.encoder(x)
        d = torch.randn(1, 128, 2, 2)
        out = net.decoder(d, skips)
        dec = net.decoder
        y = dec.moduleConv(d)
        for up, conv, skip in ((dec.moduleUpsample4, dec.moduleDeconv3, skips[2]),
                               (dec.moduleUpsample3, dec.moduleDeconv2, skips[1]),
                               (dec.moduleUpsample2, dec.moduleDeconv1, skips[0])):
            y = up(y)
            first, swapped = conv(torch.cat((skip, y), 1)), conv(torch.cat((y, skip), 1))
            assert not torch.allclose(first, swapped)
            y = first
        assert torch.equal(out, y)


# -- official-format weights ----------------------------------------------------------------------
def _conv(sd: dict, key: str, i: int, o: int, transposed: bool = False) -> None:
    sd[f"{key}.weight"] = torch.randn((i, o, 3, 3) if transposed else (o, i, 3, 3)) * 0.05
    sd[f"{key}.bias"] = torch.randn(o) * 0.05


def _bn(sd: dict, key: str, c: int) -> None:
    sd[f"{key}.weight"], sd[f"{key}.bias"] = 1 + 0.1 * torch.randn(c), 0.1 * torch.randn(c)
    sd[f"{key}.running_mean"], sd[f"{key}.running_var"] = 0.1 * torch.randn(c), 1 + 0.1 * torch.rand(c)
    sd[f"{key}.num_batches_tracked"] = torch.tensor(1000)


def official_state_dict(task: str) -> dict[str, torch.Tensor]:
    """A state dict with the official key names and shapes (docs/mnad.md §3.2-3.4), written out independently."""
    torch.manual_seed(1)
    sd: dict[str, torch.Tensor] = {}

    def basic(key: str, i: int, o: int, last: bool = True) -> None:
        _conv(sd, f"{key}.0", i, o)
        _bn(sd, f"{key}.1", o)
        _conv(sd, f"{key}.3", o, o)
        if last:
            _bn(sd, f"{key}.4", o)

    basic("encoder.moduleConv1", 12 if task == "p" else 3, 64)
    basic("encoder.moduleConv2", 64, 128)
    basic("encoder.moduleConv3", 128, 256)
    basic("encoder.moduleConv4", 256, 512, last=False)
    _bn(sd, "encoder.moduleBatchNorm", 512)
    basic("decoder.moduleConv", 1024, 512)
    for k, i in zip((4, 3, 2), (512, 256, 128)):
        up = i // 2 if task == "p" else i  # prediction: the skip restores the halved channels
        _conv(sd, f"decoder.moduleUpsample{k}.0", i, up, transposed=True)
        _bn(sd, f"decoder.moduleUpsample{k}.1", up)
        if k > 2:
            basic(f"decoder.moduleDeconv{k - 1}", i, i // 2)
    _conv(sd, "decoder.moduleDeconv1.0", 128, 64)
    _bn(sd, "decoder.moduleDeconv1.1", 64)
    _conv(sd, "decoder.moduleDeconv1.3", 64, 64)
    _bn(sd, "decoder.moduleDeconv1.4", 64)
    _conv(sd, "decoder.moduleDeconv1.6", 64, 3)
    return sd


@pytest.mark.parametrize("cls, task, total", [(MNADP, "p", 15_651_843), (MNADR, "r", 17_196_291)])
def test_load_official(cls: type, task: str, total: int) -> None:
    sd = official_state_dict(task)
    learnable = sum(v.numel() for k, v in sd.items() if k.endswith(("weight", "bias")))
    assert len(sd) == 135 and learnable == total
    items = torch.nn.functional.normalize(torch.rand(10, 512), dim=1)
    det = cls(cls.Config(height=16, width=16))
    load_official(det, sd, items)
    ours = det.net.state_dict()
    for key, value in sd.items():
        if not key.startswith("encoder.moduleBatchNorm"):
            assert torch.equal(ours[key], value), key
    assert torch.equal(det.memory, items)
    # the loaded network runs, and our own checkpoint round-trips it
    again = cls(cls.Config(height=16, width=16))
    again.load_state_dict(det.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(again.net.state_dict().values(), ours.values()))


def test_load_official_rejects_mismatches() -> None:
    items = torch.nn.functional.normalize(torch.rand(10, 512), dim=1)
    with pytest.raises(ConfigError, match="moduleConv1.0.weight"):
        load_official(MNADP(), official_state_dict("r"), items)
    sd = official_state_dict("p")
    del sd["decoder.moduleDeconv1.6.bias"]
    with pytest.raises(ConfigError, match="lacks 1 key"):
        load_official(MNADP(), sd, items)
    with pytest.raises(ConfigError, match="memory items"):
        load_official(MNADP(), official_state_dict("p"), items[:5])
    with pytest.raises(ConfigError, match="no memory"):
        load_official(create_detector("mnad-p-nomem"), official_state_dict("p"), items)
