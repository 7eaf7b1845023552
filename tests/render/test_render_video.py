"""VideoWriter: a clear message without imageio-ffmpeg; a playable file with it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.render.video import VideoWriter


def test_without_imageio_ffmpeg_the_message_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes the import fail as if not installed
    with pytest.raises(InputError, match="imageio-ffmpeg"):
        VideoWriter(tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == []


def test_frames_become_a_video_file(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=10) as video:
        for shade in range(0, 250, 25):
            video.write(np.full((48, 64, 3), shade, dtype=np.uint8))
        assert not path.exists()  # appears only when finished
    assert path.stat().st_size > 0
    frames = imageio_ffmpeg.count_frames_and_secs(str(path))[0]
    assert frames == 10


def test_an_unfinished_or_empty_recording_leaves_no_file(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    with VideoWriter(tmp_path / "empty.mp4"):
        pass
    with pytest.raises(RuntimeError, match="crash"):
        with VideoWriter(tmp_path / "crashed.mp4") as video:
            video.write(np.zeros((16, 16, 3), dtype=np.uint8))
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
