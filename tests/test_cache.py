import json
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from vadbench import ClipSpec, InputSpec
from vadbench.data import cache as cache_module
from vadbench.data.cache import FORMAT, ClipCache, CorruptCacheError, attributes, build_cache, clip_index, is_current
from vadbench.data.compression import NAMES as COMPRESSIONS
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing
from vadbench.errors import CacheError, ConfigError, DatasetError

from conftest import TinyAdapter
from test_cli import STRIPES, assert_one_line_error, vadbench

SPEC = InputSpec(16, 20, "gray")


def test_layout_labels_masks_and_attributes(isolated_cache):
    path = build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)
    with h5py.File(path) as f:
        assert sorted(f["train"]) == ["00", "01", "02"] and sorted(f["test"]) == ["00", "01"]
        frames = f["train/00/frames"]
        assert frames.shape == (12, 16, 20, 1) and frames.dtype == np.uint8 and frames.chunks == (1, 16, 20, 1)
        assert f["test/01/labels"][()].tolist() == [0] * 7 + [1] * 7
        assert f["test/01/masks"].shape == (14, 24, 32)  # masks stay at source resolution
        attrs = attributes(f)  # text is stored as fixed-length UTF-8 bytes: in the checksummed header
        assert attrs["complete"] and attrs["color"] == "gray" and attrs["fingerprint"] and attrs["partial"] == 0
        assert f.attrs.get_id("color").dtype.kind == "S" and attributes(f["train/00"])["origin"] == "tiny/train/0"
        assert f["train/00"].attrs["source_height"] == 24 and attrs["format"] == FORMAT
        for dataset in ("train/00/frames", "test/01/labels", "test/01/masks"):
            assert f[dataset].fletcher32, dataset
    assert not list(isolated_cache.glob("*.tmp*"))
    with ClipCache(path) as cache:
        video = cache.video("test", "00")
        assert len(video) == 10 and video.masks().any(axis=(1, 2)).tolist() == video.labels.astype(bool).tolist()


def test_reused_when_current_and_rebuilt_when_the_source_changes(isolated_cache):
    path = build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)
    stamp = path.stat().st_mtime_ns
    assert build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache).stat().st_mtime_ns == stamp
    changed = TinyAdapter(lengths=(12, 9, 16))
    path2 = build_cache(changed, "tiny", SPEC, isolated_cache)
    with ClipCache(path2) as cache:
        assert cache.lengths("train").tolist() == [12, 9, 16]


def test_truncated_cache_is_detected_on_open(isolated_cache):
    path = build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CacheError, match="corrupt or truncated"):
        ClipCache(path)
    # and a build notices it is not current and rebuilds it
    ClipCache(build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)).close()


def test_label_count_mismatch_names_both_numbers_and_the_video(isolated_cache):
    adapter = TinyAdapter()
    listing = adapter.listing

    def bad(split):
        out = listing(split)
        if split == "test":
            out.videos[1].labels = out.videos[1].labels[:-2]
        return out

    adapter.listing = bad
    with pytest.raises(DatasetError, match=r"label count 12 differs from frame count 14 in video '01'"):
        build_cache(adapter, "tiny", SPEC, isolated_cache)
    assert not list(isolated_cache.glob("*.h5*[!k]"))  # nothing half-written left (only the lock)


def test_clip_index_never_crosses_videos():
    spec = ClipSpec(length=5, stride=2, skips=(1, 2))
    index = clip_index(np.array([6, 4, 13]), spec)
    # skip 1 (span 5): video 0 starts 0; video 1 none; video 2 starts 0,2,4,6,8
    # skip 2 (span 9): video 2 starts 0,2,4
    assert index.tolist() == [[0, 0, 1]] + [[2, s, 1] for s in (0, 2, 4, 6, 8)] + [[2, s, 2] for s in (0, 2, 4)]
    lengths = np.array([6, 4, 13])
    ends = index[:, 1] + (spec.length - 1) * index[:, 2]
    assert (ends < lengths[index[:, 0]]).all()


def test_clip_dataset_in_worker_processes(isolated_cache):
    path = build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)
    with ClipCache(path) as cache:
        data = cache.train_data()
        ds = data.clips(ClipSpec(length=3, skips=(2,)))
        direct = [ds[i] for i in range(len(ds))]
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
        batches = torch.cat(list(loader))
    assert batches.shape == (len(ds), 3, 16, 20, 1) and batches.dtype == torch.uint8
    assert torch.equal(batches, torch.stack(direct))
    with h5py.File(path) as f:  # clip i of video 0 = frames start, start+2, start+4
        assert np.array_equal(direct[1].numpy(), f["train/00/frames"][1:6:2])


class _IncompleteTiny(TinyAdapter):
    """TinyAdapter on a copy that lacks training video 02 (as a layout reports it)."""

    def listing(self, split):
        out = super().listing(split)
        if split == "train" and self.options.get("incomplete", True):
            out.videos, out.missing = out.videos[:2], ["02"]
        return out


def test_partial_is_part_of_the_identity(isolated_cache):
    path = build_cache(_IncompleteTiny(), "tiny", SPEC, isolated_cache, partial=True)
    with ClipCache(path) as cache:
        assert cache.missing == {"train": ["02"]} and cache.attrs["partial"]
    stamp = path.stat().st_mtime_ns
    with pytest.raises(DatasetError, match=r"tiny: 1 video\(s\) missing, e\.g\. train video '02'; pass --partial"):
        build_cache(_IncompleteTiny(), "tiny", SPEC, isolated_cache)  # refused exactly as a first build is
    assert build_cache(_IncompleteTiny(), "tiny", SPEC, isolated_cache, partial=True).stat().st_mtime_ns == stamp
    # a --partial build of a complete copy is the same cache as a plain one: reused both ways
    complete = build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache, partial=True)
    stamp = complete.stat().st_mtime_ns
    assert build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache).stat().st_mtime_ns == stamp


def test_stale_cache_is_rebuilt_and_named_by_info(isolated_cache):
    from typer.testing import CliRunner

    from vadbench.cli_datasets import app

    path = build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)
    with h5py.File(path, "r+") as f:
        f.attrs["format"] = FORMAT - 1  # what a cache of the previous vadbench looks like
    result = CliRunner().invoke(app, ["info", "tiny"])
    assert isinstance(result.exception, CacheError)
    assert str(result.exception) == (
        f"no usable cache of 'tiny', only stale or corrupt ones: cache file {path} is stale or incomplete "
        f"(format {FORMAT - 1}, this vadbench reads format {FORMAT}); rebuild it with "
        "`vadbench datasets prepare tiny --size 16x20 --color gray --rebuild`")
    other = build_cache(TinyAdapter(), "tiny", InputSpec(8, 8, "gray"), isolated_cache)
    result = CliRunner().invoke(app, ["info", "tiny"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert str(other) in result.output and f"stale or corrupt: cache file {path} is stale" in result.output
    result = CliRunner().invoke(app, ["info", "tiny", "--size", "8x8"])
    assert result.exit_code == 0 and "stale or corrupt" not in result.output
    ClipCache(build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)).close()  # a plain build rebuilds it
    assert "stale or corrupt" not in CliRunner().invoke(app, ["info", "tiny"]).output


def test_without_a_lock_a_current_cache_is_used_and_a_build_refused(isolated_cache):
    path = build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache)
    lock = isolated_cache / f"{path.name}.lock"
    lock.unlink()
    lock.mkdir()  # the lock cannot be opened (as in a directory this user cannot write)
    assert build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache) == path
    with pytest.raises(CacheError, match=rf"cannot build {path.name}: the cache directory {isolated_cache} "
                                         r"is not writable \(Is a directory\); set VADBENCH_CACHE"):
        build_cache(TinyAdapter(), "tiny", SPEC, isolated_cache, rebuild=True)


class _HugeClaims(DatasetAdapter):
    """A listing whose frame counts promise far more data than any disk holds (nothing is decoded)."""

    needs_root = False

    def listing(self, split):
        return SplitListing([SourceVideo("00", lambda: iter([]), "huge/00", n_frames=10**12)])


def test_free_space_is_checked_before_building(isolated_cache):
    with pytest.raises(CacheError, match=rf"not enough space in {isolated_cache}: the cache needs about "
                                         r"[\d.]+ TiB, [\d.]+ [KMGT]?i?B free; free some space"):
        build_cache(_HugeClaims(), "huge", SPEC, isolated_cache)
    assert sorted(p.name for p in isolated_cache.iterdir()) == ["huge-16x20-gray.h5.lock"]


# -- compression --------------------------------------------------------------------------------
class _Scene(DatasetAdapter):
    """Compressible videos, as camera frames are: a fixed gradient with a bright square moving on it."""

    needs_root = False

    @dataclass
    class Options:
        lengths: tuple[int, ...] = (6, 5)

    def listing(self, split):
        background = np.add.outer(np.arange(24), np.arange(32)).astype(np.uint8) * 3
        videos = []
        for i, n in enumerate(self.settings.lengths):
            frames = np.repeat(background[None, :, :, None], 3, axis=3).repeat(n, axis=0)
            for t in range(n):
                frames[t, 4:10, 2 + 3 * t:8 + 3 * t] = 250
            labels = np.arange(n, dtype=np.uint8) % 2 if split == "test" else None
            videos.append(SourceVideo(f"{i:02d}", lambda f=frames: iter(f), f"scene/{split}/{i}", n, labels))
        return SplitListing(videos)


CODEC = {  # the first filter of the frames' pipeline, and Blosc's compressor code (c-blosc's BLOSC_LZ4...)
    "none": None, "lzf": (h5py.h5z.FILTER_LZF, None), "gzip": (h5py.h5z.FILTER_DEFLATE, None),
    "blosc-lz4": (32001, 1), "blosc-lz4hc": (32001, 2), "blosc-zstd": (32001, 5),
}
RGB = InputSpec(24, 32, "rgb")


def _pipeline(ds: h5py.Dataset) -> list[tuple[int, tuple[int, ...]]]:
    plist = ds.id.get_create_plist()
    return [plist.get_filter(i)[::2] for i in range(plist.get_nfilters())]  # (filter id, its parameters)


@pytest.mark.parametrize("name", list(CODEC))
def test_each_compression_stores_the_same_frames_under_its_own_name(isolated_cache, name):
    assert set(CODEC) == set(COMPRESSIONS)
    path = build_cache(_Scene(), "scene", RGB, isolated_cache, compression=name)
    assert path.name == ("scene-24x32-rgb.h5" if name == "none" else f"scene-24x32-rgb-{name}.h5")
    expected = list(_Scene().listing("train").videos[1].frames())
    with ClipCache(path) as cache:
        assert cache.compression == name and cache.attrs["compression"] == name
        assert np.array_equal(cache.video("train", "01").frames, np.stack(expected))  # lossless
        clip = cache.train_data().clips(ClipSpec(length=3))[0]
        assert np.array_equal(clip.numpy(), np.stack(expected[:3]))
        frames = cache.file["train/01/frames"]
        pipeline = _pipeline(frames)
        # the checksum comes last: written over the compressed bytes, verified before decoding them
        assert pipeline[-1][0] == h5py.h5z.FILTER_FLETCHER32 and frames.chunks == (1, 24, 32, 3)
        stored = [frames.id.get_chunk_info(i).size for i in range(frames.id.get_num_chunks())]
    if name == "none":
        assert len(pipeline) == 1 and stored == [24 * 32 * 3 + 4] * 5  # raw bytes and the 4-byte checksum
        return
    (codec, params), compressor = pipeline[0], CODEC[name][1]
    assert len(pipeline) == 2 and codec == CODEC[name][0] and (compressor is None or params[6] == compressor)
    assert max(stored) < 24 * 32 * 3 / 2  # really compressed


@pytest.mark.parametrize("name", [n for n in CODEC if n != "none"])
def test_a_flipped_byte_in_a_compressed_chunk_is_a_corrupt_cache(isolated_cache, name):
    path = build_cache(_Scene(), "scene", RGB, isolated_cache, compression=name)
    with h5py.File(path) as f:
        info = f["train/01/frames"].id.get_chunk_info(2)
    with open(path, "r+b") as f:
        f.seek(info.byte_offset + info.size // 2)
        byte = f.read(1)[0]
        f.seek(-1, 1)
        f.write(bytes([byte ^ 0x10]))
    expected = (rf"cache file {path} is corrupt or truncated at video train/01 \(.*\); rebuild it with "
                rf"`vadbench datasets prepare scene --size 24x32 --color rgb --compression {name} --rebuild`")
    with ClipCache(path) as cache:
        assert cache.video("train", "00").frames.shape == (6, 24, 32, 3)  # the other chunks read fine
        with pytest.raises(CorruptCacheError, match=expected):
            cache.video("train", "01")
        clips = cache.train_data().clips(ClipSpec(length=2))
    hit = next(i for i, (video, start, _) in enumerate(clips.index) if video == 1 and start == 1)
    with pytest.raises(CorruptCacheError, match=expected):
        clips[hit]


def test_a_cache_is_only_reused_under_the_compression_it_was_built_with(isolated_cache):
    plain = build_cache(_Scene(), "scene", RGB, isolated_cache)
    lz4 = build_cache(_Scene(), "scene", RGB, isolated_cache, compression="blosc-lz4")
    stamps = plain.stat().st_mtime_ns, lz4.stat().st_mtime_ns
    # asking for one leaves the other in place, and each is reused as it is
    assert build_cache(_Scene(), "scene", RGB, isolated_cache) == plain
    assert build_cache(_Scene(), "scene", RGB, isolated_cache, compression="blosc-lz4") == lz4
    assert (plain.stat().st_mtime_ns, lz4.stat().st_mtime_ns) == stamps
    # a file whose recorded compression is not its name's is not current: rebuilt, never read as the other
    shutil.copyfile(lz4, plain)
    fingerprint = _Scene().fingerprint()
    assert not is_current(plain, fingerprint, RGB) and is_current(plain, fingerprint, RGB, compression="blosc-lz4")
    with ClipCache(build_cache(_Scene(), "scene", RGB, isolated_cache)) as cache:
        assert cache.compression == "none" and len(_pipeline(cache.file["train/00/frames"])) == 1
    with pytest.raises(ConfigError, match=r"--compression must be one of none, lzf, gzip, blosc-lz4, blosc-lz4hc, "
                                          r"blosc-zstd; got 'lz4'"):
        build_cache(_Scene(), "scene", RGB, isolated_cache, compression="lz4")


def test_a_build_holds_at_most_a_block_of_frames_per_worker(isolated_cache, monkeypatch):
    """Frames taken from the source but not yet in the file stay under ``workers × _BLOCK``, however
    long the videos: the build streams, and never holds a video (or a split) whole."""
    lengths = (5 * cache_module._BLOCK, 3 * cache_module._BLOCK + 7, 4 * cache_module._BLOCK)
    counts = {"read": 0, "written": 0, "most": 0}
    lock = threading.Lock()

    class Counted(_Scene):
        def listing(self, split):
            out = super().listing(split)
            for video in out.videos:
                video.frames = lambda frames=video.frames: self.count(frames())
            return out

        @staticmethod
        def count(frames):
            for frame in frames:
                with lock:
                    counts["read"] += 1
                    counts["most"] = max(counts["most"], counts["read"] - counts["written"])
                yield frame

    append = cache_module._append

    def counted_append(ds, block):
        append(ds, block)
        if ds.name.endswith("/frames"):
            with lock:
                counts["written"] += len(block)

    monkeypatch.setattr(cache_module, "_append", counted_append)
    workers = 2
    path = build_cache(Counted(lengths=lengths), "scene", InputSpec(8, 8, "gray"), isolated_cache, workers=workers)
    assert counts["read"] == counts["written"] == 2 * sum(lengths)
    assert cache_module._BLOCK < counts["most"] <= workers * cache_module._BLOCK
    with ClipCache(path) as cache:
        assert cache.lengths("train").tolist() == list(lengths)


def test_compression_from_the_command_line_names_the_cache_and_the_run_records_it(tmp_path, isolated_cache):
    plugin = tmp_path / "stripes.py"
    plugin.write_text(STRIPES)
    prepared = vadbench("datasets", "prepare", "stripes", "--plugin", plugin, "--size", "16x16", "--color", "gray",
                        "--compression", "blosc-zstd")
    assert prepared.returncode == 0, prepared.stderr
    assert "stripes-16x16-gray-blosc-zstd.h5" in prepared.stderr and "compression blosc-zstd" in prepared.stderr
    out = tmp_path / "run"
    ran = vadbench("run", "framediff", "--dataset", "stripes", "--plugin", plugin, "--compression", "gzip",
                   "--out", out)
    assert ran.returncode == 0, ran.stderr
    cache = json.loads((out / "config.json").read_text())["cache"]
    assert cache["compression"] == "gzip" and Path(cache["path"]).name.endswith("-gzip.h5")
    with ClipCache(Path(cache["path"])) as built:
        assert built.compression == "gzip"
    before = sorted(p.name for p in isolated_cache.glob("*.h5"))
    evaluated = vadbench("eval", out, "--plugin", plugin)
    assert evaluated.returncode == 0, evaluated.stderr
    assert sorted(p.name for p in isolated_cache.glob("*.h5")) == before  # eval reads the run's own cache
    refused = vadbench("run", "framediff", "--dataset", "stripes", "--plugin", plugin, "--compression", "zip",
                       cwd=tmp_path)
    assert_one_line_error(refused, "--compression must be one of none, lzf, gzip, blosc-lz4, blosc-lz4hc, "
                                   "blosc-zstd; got 'zip'")
    assert not (tmp_path / "runs").exists()


def test_a_compressed_build_that_would_not_fit_uncompressed_is_started_with_a_note(isolated_cache, capsys):
    with pytest.raises(DatasetError, match="video '00' has no frames"):  # it started: the listing's video is read
        build_cache(_HugeClaims(), "huge", SPEC, isolated_cache, compression="blosc-zstd")
    note = " ".join(capsys.readouterr().err.split())
    assert re.search(r"note: uncompressed, the cache would need about [\d.]+ TiB, and .* has [\d.]+ [KMGT]?i?B "
                     r"free; building it with blosc-zstd, whose size is known only once written", note), note
