"""Frame discovery and reading: numeric order, stray files, colour order, corrupt files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fabricate import H, W, value, write_frames, write_video
from vadbench.data.frames import FrameSource, image_files, number, numbering_gaps, video_entries
from vadbench.errors import DatasetError


def test_number_reads_the_trailing_digits():
    assert number("frame012.bmp") == 12
    assert number("001.tif") == 1
    assert number("01_0014") == 14
    assert number("Thumbs.db") is None


@pytest.mark.parametrize("name, first", [("{:03d}", 0), ("{:03d}", 1), ("frame{}", 1), ("img_{:05d}", 7)])
def test_frames_are_ordered_by_number_not_by_name(tmp_path, name, first):
    write_frames(tmp_path / "v", 3, 12, name=name, ext=".png", first=first)
    (tmp_path / "v" / "Thumbs.db").write_bytes(b"x")
    (tmp_path / "v" / "._001.png").write_bytes(b"resource fork")
    (tmp_path / "v" / "notes.txt").write_text("x")
    frames = list(FrameSource(tmp_path / "v", "v").read())
    assert [int(f[0, 0]) for f in frames] == [value(3, i) for i in range(12)]
    assert FrameSource(tmp_path / "v", "v").count() == 12
    assert [number(p) for p in image_files(tmp_path / "v")] == list(range(first, first + 12))


def test_repeated_or_missing_numbers_are_errors(tmp_path):
    write_frames(tmp_path / "v", 1, 2, ext=".png")
    cv2.imwrite(str(tmp_path / "v" / "1.png"), np.zeros((4, 4), np.uint8))  # same number as 001.png
    with pytest.raises(DatasetError, match="same frame number 1"):
        image_files(tmp_path / "v")
    (tmp_path / "v" / "1.png").unlink()
    cv2.imwrite(str(tmp_path / "v" / "cover.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetError, match="'cover.png' has no frame number"):
        image_files(tmp_path / "v")


def test_numbering_gaps(tmp_path):
    write_frames(tmp_path / "v", 1, 5, ext=".png")
    (tmp_path / "v" / "002.png").unlink()
    assert numbering_gaps(image_files(tmp_path / "v")) == [2]


def test_colour_frames_come_out_rgb(tmp_path):
    write_frames(tmp_path / "v", 2, 1, ext=".png", color=True)  # written BGR, content R > G > B
    (f,) = FrameSource(tmp_path / "v", "v").read()
    assert f.shape == (H, W, 3) and f[0, 0, 0] > f[0, 0, 1] > f[0, 0, 2]


def test_gray_tif_and_bmp_stay_single_channel(tmp_path):
    write_frames(tmp_path / "a", 1, 2, ext=".tif", first=1)
    write_frames(tmp_path / "b", 1, 2, ext=".bmp", first=1)
    for folder in ("a", "b"):
        frames = list(FrameSource(tmp_path / folder, folder).read())
        assert [f.shape for f in frames] == [(H, W)] * 2 and int(frames[1][0, 0]) == value(1, 1)


def test_corrupt_frame_names_file_video_and_position(tmp_path):
    write_frames(tmp_path / "v", 1, 4)
    (tmp_path / "v" / "002.jpg").write_bytes(b"garbage")
    frames = FrameSource(tmp_path / "v", "Test007").read()
    next(frames), next(frames)
    with pytest.raises(DatasetError, match=r"frame 2 of video 'Test007'.*002\.jpg"):
        next(frames)


def test_video_file_decodes_every_frame_in_order(tmp_path):
    write_video(tmp_path / "01.avi", 5, 7)
    source = FrameSource(tmp_path / "01.avi", "01")
    frames = list(source.read())
    assert source.count() == 7 and len(frames) == 7
    assert frames[0].shape == (H, W, 3) and frames[0][0, 0, 0] > frames[0][0, 0, 2]  # RGB
    assert [abs(int(f[0, 0, 0]) - value(5, i)) <= 3 for i, f in enumerate(frames)] == [True] * 7


def test_truncated_video_is_an_error_naming_it(tmp_path):
    write_video(tmp_path / "01.avi", 5, 7)
    data = (tmp_path / "01.avi").read_bytes()
    (tmp_path / "01.avi").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="video 'cam'.*01.avi"):
        list(FrameSource(tmp_path / "01.avi", "cam").read())


def test_video_entries_lists_videos_and_frame_folders(tmp_path):
    write_video(tmp_path / "b.avi", 1, 2)
    write_frames(tmp_path / "a", 1, 2)
    (tmp_path / "empty").mkdir()  # listed, so that the adapter reports it by name (tests/test_bad_inputs.py)
    (tmp_path / ".cache").mkdir()
    (tmp_path / "readme.txt").write_text("x")
    assert [p.name for p in video_entries(tmp_path)] == ["a", "b.avi", "empty"]
