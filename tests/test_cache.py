import h5py
import numpy as np
import pytest
import torch

from vadbench import ClipSpec, InputSpec
from vadbench.data.cache import ClipCache, build_cache, clip_index, target_frames
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
        assert f.attrs["complete"] and f.attrs["color"] == "gray" and f.attrs["fingerprint"]
        assert f["train/00"].attrs["source_height"] == 24
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
    spec = ClipSpec(length=5, stride=2, skips=(1, 2), target="last")
    index = clip_index(np.array([6, 4, 13]), spec)
    # skip 1 (span 5): video 0 starts 0; video 1 none; video 2 starts 0,2,4,6,8
    # skip 2 (span 9): video 2 starts 0,2,4
    assert index.tolist() == [[0, 0, 1]] + [[2, s, 1] for s in (0, 2, 4, 6, 8)] + [[2, s, 2] for s in (0, 2, 4)]
    lengths = np.array([6, 4, 13])
    ends = index[:, 1] + (spec.length - 1) * index[:, 2]
    assert (ends < lengths[index[:, 0]]).all()
    assert target_frames(index, spec).tolist() == ends.tolist()
    assert target_frames(index, ClipSpec(5, target="center")).tolist() == (index[:, 1] + 2 * index[:, 2]).tolist()


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
