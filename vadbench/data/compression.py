"""The HDF5 compressions a clip cache's frames can be stored with (``--compression``).

A leaf module (the CLI lists the names without importing h5py or torch). Each name is one fixed
setting, never a family with a level to pass, so that the name alone is the identity the cache
records: two caches of one name hold byte-identical chunks. Every codec is lossless; the frames
read back are the same whatever the name, only the size on disk and the read and build speeds
differ (measured on Ped2 in ``benchmarks/README.md``, summarised in ``docs/datasets.md`` §6):

* ``none`` (the default): raw uint8 chunks. The fastest to build and to read, and readable by
  any HDF5 tool without a plugin; Ped2 at 256² RGB is under 1 GB, so only the largest datasets
  (ShanghaiTech's training split: 54 GB) need anything else.
* ``lzf``: built into h5py; fast to write, but slower to read than the Blosc codecs and larger.
* ``gzip``: DEFLATE level 1 (higher levels shrink Ped2 by under 4 % more at twice the build time).
* ``blosc-lz4``, ``blosc-lz4hc``, ``blosc-zstd``: Blosc (through ``hdf5plugin``) with LZ4 at
  level 9, LZ4HC at level 5, Zstandard at level 3; no shuffle (it does nothing to 1-byte data).
  LZ4HC takes longer to compress but decompresses almost as fast as a raw read; Zstandard is
  the smallest and the slowest to read.

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
