"""Fault injection: break a real artefact or the machine, then check what vadbench says and does.

Each fault is made for real: bytes overwritten in an HDF5 file, a file truncated, a build process
killed with SIGKILL, a file-size limit or a small tmpfs that fills up, a read-only mount. The
assertions are the promise of the harness: a user error is ONE line (a ``VadbenchError``; exit
code 2 from the console script), never a traceback, a crash or a silently different number, and
the next ordinary command recovers.

To add a fault, put a test under the section of the part it hits (``# -- cache faults --``,
``# -- run faults --``, ...): build the real thing with the public API or :func:`run_cli`, break
it with the helpers below (or a new, general one next to them), assert the one-line error with
:func:`error_line`, then show that the ordinary next step works. A fault that needs root or a
mount the machine does not allow skips, saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np
import pytest
import torch

from vadbench import ClipSpec, InputSpec
from vadbench.data.cache import (ClipCache, CorruptCacheError, attributes, build_cache, cache_path, convert_frame,
                                 is_current)
from vadbench.errors import CacheError

from conftest import REPO, TinyAdapter

VADBENCH = Path(sys.executable).with_name("vadbench")


# -- helpers ----------------------------------------------------------------------------------
def run(argv: list[str], *, env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None,
        timeout: float = 300) -> tuple[int, str]:
    """Run ``argv`` in the repository (the test's environment plus ``env``): (exit code, stdout + stderr)."""
    done = subprocess.run(argv, cwd=REPO, env={**os.environ, **(env or {})}, preexec_fn=preexec_fn,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return done.returncode, done.stdout


def run_cli(*args: str, env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None,
            timeout: float = 300) -> tuple[int, str]:
    """Run the installed console script ``vadbench ARGS...``: (exit code, stdout + stderr)."""
    return run([str(VADBENCH), *args], env=env, preexec_fn=preexec_fn, timeout=timeout)


def python_code(code: str) -> list[str]:
    """argv running ``code`` in this interpreter, with ``tests/`` importable (for ``conftest``)."""
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r})\n{code}"]


def error_line(output: str) -> str:
    """The single ``error:`` line of a failed command's output; fails on a traceback or none/several."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


def file_size_limit(n_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn``: writes past ``n_bytes`` fail with EFBIG (SIGXFSZ ignored, as a full disk would)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))
    return limit


def overwrite(path: Path, offset: int, n_bytes: int = 4096, seed: int = 0) -> None:
    """Overwrite ``n_bytes`` of ``path`` at ``offset`` with seeded random bytes, in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes())


def chunk(path: Path, dataset: str, index: int = 0) -> tuple[int, int]:
    """(byte offset, size) of chunk ``index`` of ``dataset`` in the HDF5 file ``path``."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(index)
    return info.byte_offset, info.size


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (`mount {' '.join(args)}`: {done.stderr.strip()})")


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` for the block (needs root; skips otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` unwritable for this process for the block: ``chmod 0o555``, or, as root (whom
    permissions do not stop), a read-only bind mount of it on itself."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,ro,bind", str(folder))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def tmp_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.tmp*"))


# -- cache faults -----------------------------------------------------------------------------
SPEC = InputSpec(32, 48, "rgb")  # a frame chunk is 4608 bytes: a 4 KiB overwrite stays inside one


def _tiny_cache(cache_dir: Path) -> Path:
    return build_cache(TinyAdapter(), "tiny", SPEC, cache_dir)


def _tiny_path(cache_dir: Path) -> Path:
    return cache_path(cache_dir, "tiny", TinyAdapter().options, SPEC)


def _expected_frames(split: str, index: int) -> np.ndarray:
    video = TinyAdapter().listing(split).videos[index]
    return np.stack([convert_frame(f, SPEC) for f in video.frames()])


def test_overwritten_frame_chunk_is_one_clean_error_everywhere_frames_are_read(isolated_cache):
    path = _tiny_cache(isolated_cache)
    offset, size = chunk(path, "train/01/frames", 3)
    assert size >= 4096
    overwrite(path, offset)
    expected = rf"cache file {path} is corrupt or truncated at video train/01 \(.*\); rebuild it with " \
               r"`vadbench datasets prepare tiny --size 32x48 --color rgb --rebuild`"
    with ClipCache(path) as cache:
        assert cache.lengths("train").tolist() == [12, 9, 15]  # the metadata is intact
        assert np.array_equal(cache.video("train", "00").frames, _expected_frames("train", 0))
        with pytest.raises(CorruptCacheError, match=expected):
            cache.video("train", "01")
        data = cache.train_data()
    with pytest.raises(CorruptCacheError, match=expected):
        list(data.iter_frames())
    clips = data.clips(ClipSpec(length=2))
    hit = next(i for i, (v, start, _) in enumerate(clips.index) if v == 1 and start == 3)
    with pytest.raises(CorruptCacheError, match=expected):
        clips[hit]
    with pytest.raises(CorruptCacheError) as raised:  # in a DataLoader worker: still one line
        list(torch.utils.data.DataLoader(clips, batch_size=len(clips), num_workers=1))
    assert "\n" not in str(raised.value) and "train/01" in str(raised.value)


def test_overwritten_labels_and_masks_name_their_video_also_in_datasets_info(isolated_cache):
    path = _tiny_cache(isolated_cache)
    overwrite(path, *chunk(path, "test/01/masks", 8))  # the masks' chunks are small: overwrite one exactly
    with ClipCache(path) as cache:
        video = cache.video("test", "01")
        with pytest.raises(CorruptCacheError, match="at video test/01"):
            video.masks()
    overwrite(path, *chunk(path, "test/00/labels"))
    with ClipCache(path) as cache, pytest.raises(CorruptCacheError, match="at video test/00"):
        cache.video("test", "00")
    code, output = run_cli("datasets", "info", "tiny")  # `info` sums the labels
    assert code == 2
    assert f"cache file {path} is corrupt or truncated at video test/00" in error_line(output)


def _metadata_offsets(path: Path) -> list[int]:
    """Offsets of 16-byte blocks of ``path`` that hold no chunk (superblock, headers, indexes, heaps)."""
    data_bytes = np.zeros(path.stat().st_size, bool)
    with h5py.File(path, "r") as f:
        def visit(_: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                for i in range(obj.id.get_num_chunks()):
                    info = obj.id.get_chunk_info(i)
                    data_bytes[info.byte_offset:info.byte_offset + info.size] = True
        f.visititems(visit)
    return [o for o in range(0, len(data_bytes) - 16, 16) if not data_bytes[o:o + 16].any()]


def _read_everything(path: Path) -> list[object]:
    with ClipCache(path) as cache:
        out: list[object] = [cache.attrs]
        for split in ("train", "test"):
            for name in cache.videos(split):
                video = cache.video(split, name)
                with cache.reading(f"{split}/{name}"):
                    attrs = attributes(cache.file[f"{split}/{name}"])
                out += [video.frames, video.labels, video.masks(), attrs]
        return out


def _headers_readable(path: Path) -> bool:
    """Whether the file's superblock, object headers and attributes read (no data is read)."""
    try:
        with ClipCache(path) as cache:
            for split in ("train", "test"):
                cache.lengths(split)
                for name in cache.videos(split):
                    with cache.reading(name):
                        group = cache.file[f"{split}/{name}"]
                        [attributes(group[key]) for key in group]  # not .values(): it hides damage as None
    except CacheError:
        return False
    return True


def _same(a: list[object], b: list[object]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) or x is None else x == y for x, y in zip(a, b))


def test_damaged_metadata_or_truncation_is_a_clean_error_and_not_current(isolated_cache):
    adapter = TinyAdapter()
    path = build_cache(adapter, "tiny", InputSpec(8, 8, "gray"), isolated_cache)
    clean, good = path.read_bytes(), _read_everything(path)
    offsets = _metadata_offsets(path)
    damages = [("superblock", 0, 48)] + [("metadata", o, 16) for o in offsets[::max(1, len(offsets) // 120)]]
    outcomes = {"error": 0, "unchanged": 0}
    for what, offset, n_bytes in damages:
        path.write_bytes(clean)
        overwrite(path, offset, n_bytes, seed=offset)
        try:
            read = _read_everything(path)
        except CacheError as exc:  # never KeyError / OSError / RuntimeError from h5py
            assert "\n" not in str(exc) and str(path) in str(exc) and "--rebuild" in str(exc)
            if not _headers_readable(path):  # damaged chunk indexes, like chunks, are found when read
                assert not is_current(path, adapter.fingerprint(), InputSpec(8, 8, "gray")), (what, offset)
            outcomes["error"] += 1
        else:  # bytes no reader uses (free space, padding): then everything reads back the same
            assert _same(read, good), (what, offset)
            outcomes["unchanged"] += 1
    assert outcomes["error"] > 20, outcomes
    for keep in (len(clean) // 2, 100, 0):
        path.write_bytes(clean[:keep])
        with pytest.raises(CacheError, match="corrupt or truncated"):
            ClipCache(path)
        assert not is_current(path, adapter.fingerprint(), InputSpec(8, 8, "gray"))
    path.write_bytes(clean)
    overwrite(path, 0, 48)
    code, output = run_cli("datasets", "info", "tiny")
    assert code == 2 and "no usable cache of 'tiny', only stale or corrupt ones" in error_line(output)
    assert f"{path} is corrupt or truncated" in error_line(output)
    rebuilt = build_cache(adapter, "tiny", InputSpec(8, 8, "gray"), isolated_cache)  # a plain prepare rebuilds
    assert _same(_read_everything(rebuilt)[1:], good[1:])  # all but the header (its `created` time)


SLOW_BUILD = """
import time
from conftest import TinyAdapter
from vadbench import InputSpec
from vadbench.data.cache import build_cache

class Slow(TinyAdapter):
    def listing(self, split):
        out = super().listing(split)
        for video in out.videos:
            video.frames = lambda frames=video.frames: (time.sleep(0.05) or f for f in frames())
        return out

build_cache(Slow(), "tiny", InputSpec(32, 48, "rgb"), {cache!r})
"""


def test_a_build_killed_by_sigkill_leaves_a_tmp_that_the_next_build_removes(isolated_cache):
    build = subprocess.Popen(python_code(SLOW_BUILD.format(cache=str(isolated_cache))), cwd=REPO)
    deadline = time.monotonic() + 120
    while not tmp_files(isolated_cache) and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the build (about 3 s of frames)
    build.send_signal(signal.SIGKILL)
    assert build.wait() == -signal.SIGKILL
    assert [p.name for p in tmp_files(isolated_cache)] == [f"{_tiny_path(isolated_cache).name}.tmp{build.pid}"]
    path = _tiny_cache(isolated_cache)
    assert tmp_files(isolated_cache) == []
    with ClipCache(path) as cache:
        assert np.array_equal(cache.video("train", "02").frames, _expected_frames("train", 2))
        assert cache.video("test", "01").labels.tolist() == [0] * 7 + [1] * 7


def test_the_tmp_of_a_live_build_is_left_and_removed_once_its_process_is_gone(isolated_cache):
    owner = subprocess.Popen(["sleep", "60"])
    try:
        isolated_cache.mkdir(parents=True)
        other = _tiny_path(isolated_cache).with_name(f"{_tiny_path(isolated_cache).name}.tmp{owner.pid}")
        other.write_bytes(b"being written by another host's build")
        path = _tiny_cache(isolated_cache)
        assert tmp_files(isolated_cache) == [other]
    finally:
        owner.kill()
        owner.wait()
    assert _tiny_cache(isolated_cache) == path  # current: reused, and the orphan is gone
    assert tmp_files(isolated_cache) == []


def test_a_current_cache_in_a_read_only_directory_is_used(isolated_cache):
    path = _tiny_cache(isolated_cache)
    (isolated_cache / f"{path.name}.lock").unlink()
    with read_only(isolated_cache):
        assert _tiny_cache(isolated_cache) == path
        with ClipCache(path) as cache:
            assert np.array_equal(cache.video("train", "01").frames, _expected_frames("train", 1))
        for other in ({"rebuild": True}, {"spec": InputSpec(16, 16, "gray")}):
            with pytest.raises(CacheError) as raised:
                build_cache(TinyAdapter(), "tiny", other.get("spec", SPEC), isolated_cache,
                            rebuild=bool(other.get("rebuild")))
            assert f"the cache directory {isolated_cache} is not writable" in str(raised.value)
    assert not (isolated_cache / f"{path.name}.lock").exists()


def test_file_size_limit_mid_build_exits_2_in_one_line_and_the_next_build_works(isolated_cache):
    code, output = run_cli("datasets", "prepare", "synthetic", "--size", "64x64", preexec_fn=file_size_limit(2**20))
    assert code == 2, output
    assert error_line(output) == (f"error: cannot write the cache in {isolated_cache}: File too large; "
                                  "free some space or set VADBENCH_CACHE to another directory")
    assert tmp_files(isolated_cache) == [] and not list(isolated_cache.glob("*.h5"))
    code, output = run_cli("datasets", "prepare", "synthetic", "--size", "64x64")
    assert code == 0, output
    with ClipCache(next(isolated_cache.glob("synthetic-*-64x64-rgb.h5"))) as cache:
        assert cache.lengths("test").tolist() == [150] * 8


def test_not_enough_space_is_refused_before_building(tmp_path):
    with small_tmpfs(tmp_path / "small") as folder:
        with pytest.raises(CacheError) as raised:
            build_cache(TinyAdapter(), "tiny", InputSpec(256, 256, "rgb"), folder)
        message = str(raised.value)
        assert message.startswith(f"not enough space in {folder}: the cache needs about 12.8 MiB, ")
        assert message.endswith(" free; free some space or set VADBENCH_CACHE to another directory")
        assert tmp_files(folder) == []


class _UncountedTiny(TinyAdapter):
    """TinyAdapter as a video-file dataset: frame counts known only after decoding."""

    def listing(self, split):
        out = super().listing(split)
        for video in out.videos:
            video.n_frames = None
        return out


def test_disk_full_mid_build_on_a_small_tmpfs_is_one_error_and_leaves_no_tmp(tmp_path, capsys):
    with small_tmpfs(tmp_path / "small") as folder:
        with pytest.raises(CacheError) as raised:
            build_cache(_UncountedTiny(), "tiny", InputSpec(128, 128, "rgb"), folder)
        assert str(raised.value) == (f"cannot write the cache in {folder}: No space left on device; "
                                     "free some space or set VADBENCH_CACHE to another directory")
        assert "frame counts are unknown before decoding; free space in" in capsys.readouterr().err
        assert tmp_files(folder) == []
        path = build_cache(_UncountedTiny(), "tiny", InputSpec(32, 32, "gray"), folder)  # what fits, builds
        with ClipCache(path) as cache:
            assert cache.lengths("test").tolist() == [10, 14]


# -- run faults ---------------------------------------------------------------------------------
# A run's faults go through the installed console script on a small plugin detector and dataset
# (PLUGIN below), so that the exit code, the one line and the files left are the ones a user gets.

PLUGIN = '''
"""A slow, tiny detector and dataset for the run-fault tests (loaded with --plugin)."""
import os
import time

import numpy as np
import torch

from vadbench import ClipSpec, Detector, VideoScores, register_dataset, register_detector
from vadbench.data.source import DatasetAdapter, SourceVideo, SplitListing
from vadbench.tensors import to_network


@register_dataset("faulty-scene")
class Scene(DatasetAdapter):
    """Seeded noise videos; the anomaly is a bright square."""

    needs_root = False

    def listing(self, split):
        videos = []
        for i, n in enumerate((12, 10) if split == "train" else (10, 14)):
            rng = np.random.default_rng((i, split == "test"))
            frames = rng.integers(0, 100, (n, 16, 16, 3), dtype=np.uint8)
            labels = None
            if split == "test":
                labels = np.zeros(n, np.uint8)
                labels[n // 2:] = 1
                frames[n // 2:, 4:10, 4:10] = 255
            videos.append(SourceVideo(f"{i:02d}", lambda f=frames: iter(f), f"scene/{split}/{i}", n, labels))
        return SplitListing(videos)


@register_detector("slow-ae")
class SlowAE(Detector):
    """A one-layer autoencoder whose epochs take a while (SLOW_AE_SECONDS each), with ballast weights."""

    def __init__(self, config=None):
        super().__init__(config)
        torch.manual_seed(0)
        self.net = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.ballast = torch.zeros(int(os.environ.get("SLOW_AE_BALLAST", "0")))

    def input_spec(self):
        from vadbench import InputSpec
        return InputSpec(16, 16, "rgb")

    def fit(self, data, trainer):
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        loader = trainer.loader(data.clips(ClipSpec(1)), batch_size=4)
        for epoch in trainer.epochs(self, trainer.n_epochs(6), optimizer=opt):
            time.sleep(float(os.environ.get("SLOW_AE_SECONDS", "0")))
            for batch in trainer.track(loader, "slow"):
                x = to_network(batch[:, 0])
                loss = torch.nn.functional.mse_loss(self.net(x), x)
                opt.zero_grad()
                loss.backward()
                opt.step()

    def score_video(self, video):
        x = to_network(video.frames)
        with torch.no_grad():
            return VideoScores((self.net(x) - x).pow(2).mean(dim=(1, 2, 3)).double().numpy())

    def state_dict(self):
        return {"net": {k: v.clone() for k, v in self.net.state_dict().items()}, "ballast": self.ballast}

    def load_state_dict(self, state):
        self.net.load_state_dict(state["net"])
        self.ballast = state["ballast"]
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plugin") / "faulty_plugin.py"
    path.write_text(PLUGIN)
    return path


@pytest.fixture(scope="module")
def finished(plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of the plugin detector, made once; tests break copies of it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    code, text = run_cli(*run_args(plugin, out), env={"VADBENCH_CACHE": str(out.parent / "cache")})
    assert code == 0, text
    return out


@pytest.fixture
def run_copy(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


def run_args(plugin: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "slow-ae", "--dataset", "faulty-scene", "--plugin", str(plugin), "--out", str(out), *extra]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["net"]


def assert_one_clean_line(code: int, text: str, *fragments: str) -> None:
    """Exit code 2 and one ``error:`` line holding every fragment."""
    line = error_line(text)
    assert code == 2 and all(fragment in line for fragment in fragments), text


def leftovers(folder: Path) -> list[str]:
    """Files a later command could mistake for results: anything but dot-named temporaries."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_kill_9_during_training_then_resume_gives_the_uninterrupted_model(plugin, tmp_path, finished):
    straight = finished
    out = tmp_path / "killed"
    proc = subprocess.Popen([str(VADBENCH), *run_args(plugin, out)], env={**os.environ, "SLOW_AE_SECONDS": "0.5"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and (out / "checkpoint.pt").exists()
    assert not (out / "metrics.json").exists() and not (out / "model.pt").exists()
    code, text = run_cli(*run_args(plugin, out))
    assert_one_clean_line(code, text, "unfinished run", "--resume")
    code, text = run_cli(*run_args(plugin, out, "--resume"))
    assert code == 0, text
    a, b = weights(straight / "model.pt"), weights(out / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (out / "frames.csv").read_bytes() == (straight / "frames.csv").read_bytes()


def test_an_unwritable_output_fails_before_any_work(plugin, tmp_path, isolated_cache):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, text = run_cli(*run_args(plugin, blocker / "run"))
    assert_one_clean_line(code, text, "cannot write to", str(blocker / "run"))
    assert not list(isolated_cache.glob("*.h5")) if isolated_cache.exists() else True


def test_a_full_disk_during_a_run_is_one_line_and_leaves_nothing_a_resume_would_trust(plugin, tmp_path):
    out = tmp_path / "full"
    env = {"SLOW_AE_BALLAST": str(300_000)}  # 1.2 MB of weights: the first checkpoint exceeds the limit
    code, text = run_cli(*run_args(plugin, out), env=env, preexec_fn=file_size_limit(1_000_000))
    assert_one_clean_line(code, text, "cannot write", "checkpoint.pt")
    assert "checkpoint.pt" not in leftovers(out) and "model.pt" not in leftovers(out)
    assert not (out / "metrics.json").exists()
    code, text = run_cli(*run_args(plugin, out, "--resume"), env=env)  # space again: it finishes
    assert code == 0, text
    assert json.loads((out / "metrics.json").read_text())["epochs_trained"] == 6


def test_a_malicious_checkpoint_is_refused_and_never_run(plugin, tmp_path, run_copy):
    out = run_copy
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # what an attacker's pickle does when it is loaded
            return (os.system, (f"touch {marker}",))

    with open(out / "model.pt", "wb") as f:
        pickle.dump(Payload(), f)
    code, text = run_cli("eval", str(out), "--plugin", str(plugin))
    assert_one_clean_line(code, text, "refused as unsafe", "model.pt")
    assert "weights_only=False" not in text and not marker.exists()
    torch.save({"net": Payload()}, out / "model.pt")  # a zip checkpoint with a pickled object inside
    code, text = run_cli("eval", str(out), "--plugin", str(plugin))
    assert_one_clean_line(code, text, "refused as unsafe")
    assert not marker.exists()


def test_a_truncated_checkpoint_is_named_as_corrupt(plugin, run_copy):
    out = run_copy
    data = (out / "model.pt").read_bytes()
    (out / "model.pt").write_bytes(data[: len(data) // 2])
    code, text = run_cli("eval", str(out), "--plugin", str(plugin))
    assert_one_clean_line(code, text, "model.pt", "corrupt or truncated")


GARBAGE = ["", "{not json", "[1, 2]", '{"detector": "slow-ae"}', "\xff\xfe"]


@pytest.mark.parametrize("content", GARBAGE)
def test_a_garbage_metrics_json_is_named(run_copy, content):
    (run_copy / "metrics.json").write_text(content, errors="surrogateescape")
    for command in ("table", "metrics"):
        code, text = run_cli(command, str(run_copy))
        assert_one_clean_line(code, text, "metrics.json")


@pytest.mark.parametrize("content", GARBAGE[:2] + GARBAGE[3:4])
def test_a_garbage_config_json_is_named(plugin, run_copy, content):
    (run_copy / "config.json").write_text(content, errors="surrogateescape")
    code, text = run_cli("eval", str(run_copy), "--plugin", str(plugin))
    assert_one_clean_line(code, text, "config.json")
    (run_copy / "metrics.json").unlink()  # an unfinished run: --resume reads config.json
    code, text = run_cli(*run_args(plugin, run_copy, "--resume"))
    assert_one_clean_line(code, text, "config.json")


def test_a_corrupt_frames_csv_is_named(run_copy):
    out = run_copy
    (out / "frames.csv").write_text("video,frame\n00,1\n")
    code, text = run_cli("metrics", str(out))
    assert_one_clean_line(code, text, "frames.csv", "lacks the column")
