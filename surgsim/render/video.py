"""Writing rendered frames to a video file (``--video out.mp4``) with imageio-ffmpeg, an optional dependency.

imageio-ffmpeg brings its own ffmpeg binary. The file is written beside its destination and renamed when the writer
closes without error, so an interrupted recording leaves no broken file behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from surgsim.errors import InputError
from surgsim.fileio import atomic_output

INSTALL_HINT = "pip install 'imageio-ffmpeg>=0.5,<1'  (or: pip install 'surgsim[video]')"


def _imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise InputError("--video", f"writing video needs the imageio-ffmpeg package: {INSTALL_HINT}.") from None
    return imageio_ffmpeg


class VideoWriter:
    """Frames [H, W, 3] uint8 RGB (first row at the top, e.g. ``OffscreenViewer.read_pixels()``) → H.264 video.

    ::

        with VideoWriter("out.mp4", fps=30) as video:
            video.write(viewer.read_pixels())

    Raises :class:`InputError` naming the package to install when imageio-ffmpeg is missing. Width and height are
    taken from the first frame and must be even (H.264 with 4:2:0 chroma); every frame must have that size.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float = 30.0, quality: float = 7.0):
        self._ffmpeg = _imageio_ffmpeg()
        self.path = Path(path)
        self.fps = float(fps)
        self.quality = float(quality)
        self.frame_count = 0
        self._size: tuple[int, int] | None = None
        self._stack = contextlib.ExitStack()
        self._tmp: Path = self._stack.enter_context(atomic_output(self.path))
        self._encoder = None

    def write(self, rgb: np.ndarray) -> None:
        frame = np.ascontiguousarray(rgb, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"a video frame must have shape [H, W, 3], got {frame.shape}")
        height, width = frame.shape[:2]
        if self._encoder is None:
            if width % 2 or height % 2:
                raise ValueError(f"video frames need an even width and height, got {width}x{height}")
            self._size = (width, height)
            self._encoder = self._ffmpeg.write_frames(
                str(self._tmp), self._size, fps=self.fps, quality=self.quality, codec="libx264",
                macro_block_size=1, ffmpeg_log_level="error",
            )
            self._encoder.send(None)  # start the ffmpeg process
        elif (width, height) != self._size:
            raise ValueError(f"frame {width}x{height} differs from the video's {self._size[0]}x{self._size[1]}")
        self._encoder.send(frame.tobytes())
        self.frame_count += 1

    def close(self) -> None:
        """Finish the file (it appears at ``path`` only now; not at all when no frame was written)."""
        self._finish(keep=True)

    def _finish(self, *, keep: bool) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
        if keep and self.frame_count:
            self._stack.close()
        else:
            # Leaving atomic_output with an exception is how it is told to delete the temporary file.
            self._stack.__exit__(_Discarded, _Discarded(), None)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._finish(keep=exc_type is None)


class _Discarded(Exception):
    """Signals atomic_output to drop an unfinished recording."""
