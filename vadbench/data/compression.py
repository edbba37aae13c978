"""The HDF5 compressions a clip cache's frames can be stored with (``--compression``).

A leaf module (the CLI lists the names without importing h5py or torch). Each name is one fixed
setting, never a family with a level to pass, so that the name alone is the identity the cache
records: two caches of one name hold byte-identical chunks. Every codec is lossless; the frames
read back are the same whatever the name, only the size on disk and the speeds of building and
reading differ. Measured on Ped2 at 256² RGB and on fabricated camera-like frames of ShanghaiTech's
size (``benchmarks/README.md``; ratios to ``none``):

* ``none`` (the default): raw uint8 chunks. The fastest to build and to read, and readable by
  any HDF5 tool without a plugin. Ped2's cache is 0.9 GB, Avenue's about 6 GB: only ShanghaiTech
  (54 GB for its training split) makes the size matter.
* ``blosc-zstd``: Blosc's Zstandard at level 3, the one to use where the disk is short: the
  smallest both on Ped2 (0.29 of the size) and on noisy camera-like frames (0.8, where the LZ
  codecs save almost nothing), read at 0.36-0.48 of the speed, still above the JPEG loader's.
* ``blosc-lz4hc``: Blosc's LZ4HC at level 5: 0.38 of the size on Ped2, read at 0.8 of the speed,
  but little gain on noisy frames; compressing costs 3.5 times the CPU of an uncompressed build.
* ``blosc-lz4``: Blosc's LZ4 at level 9: 0.52 of the size on Ped2 at the CPU of an uncompressed
  build, read at 0.55-0.65 of the speed.
* ``lzf`` (built into h5py) and ``gzip`` (DEFLATE level 1, in every HDF5 build): for files that
  other tools must read without ``hdf5plugin``; each is larger or slower to read than a Blosc codec.

The Blosc codecs (through ``hdf5plugin``) run without shuffle, which does nothing to 1-byte data.
Their levels come from a one-off comparison on Ped2's training frames: LZ4 at 9 was both smaller
and faster to read than at 5; LZ4HC at 9 and Zstandard at 5 took 2.5 times as long to write as at
5 and 3 for files about 6 % smaller.

The Fletcher-32 checksum stays on under every codec: HDF5 runs it after compression when writing
and first when reading, so a damaged compressed chunk fails its checksum before it is decoded.
"""

from __future__ import annotations

from typing import Any, Callable

from vadbench.errors import ConfigError

DEFAULT = "none"


def _blosc(cname: str, clevel: int) -> dict[str, Any]:
    import hdf5plugin  # importing it also registers the Blosc filter, which reading needs too

    return dict(hdf5plugin.Blosc(cname=cname, clevel=clevel, shuffle=hdf5plugin.Blosc.NOSHUFFLE))


_FILTERS: dict[str, Callable[[], dict[str, Any]]] = {
    "none": dict,
    "lzf": lambda: {"compression": "lzf"},
    "gzip": lambda: {"compression": "gzip", "compression_opts": 1},
    "blosc-lz4": lambda: _blosc("lz4", 9),
    "blosc-lz4hc": lambda: _blosc("lz4hc", 5),
    "blosc-zstd": lambda: _blosc("zstd", 3),
}
NAMES = tuple(_FILTERS)


def check_compression(name: str) -> str:
    """``name`` if it is a compression; otherwise one :class:`ConfigError` line listing them."""
    if name not in _FILTERS:
        raise ConfigError(f"--compression must be one of {', '.join(NAMES)}; got {name!r}")
    return name


def frame_filters(name: str) -> dict[str, Any]:
    """The h5py ``create_dataset`` keywords that store frames compressed with ``name``."""
    return _FILTERS[check_compression(name)]()
