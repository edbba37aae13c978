import h5py
import numpy as np
import pytest
import torch

from vadbench import ClipSpec, InputSpec
from vadbench.data.cache import FORMAT, ClipCache, attributes, build_cache, clip_index
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing
from vadbench.errors import CacheError, DatasetError

from conftest import TinyAdapter

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
