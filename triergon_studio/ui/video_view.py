"""Picture display. Frames are decoded on a background thread with a small LRU cache; the UI thread only
asks for a frame index and paints whatever ``QImage`` arrives (it never decodes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


def rgb_to_qimage(image: np.ndarray) -> QImage:
    """A QImage that owns its pixels (the numpy buffer may be reused by the decoder)."""
    arr = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _open_reader(path: str | Path) -> Any:
    from triergon_studio.video.reader import VideoReader

    return VideoReader(path)


class FrameProvider(QObject):
    """Decodes the most recently requested frame on its own thread.

    ``request(i)`` returns the cached ``QImage`` at once when it has it; otherwise the newest request
    replaces any older one still waiting (a fast scrub skips frames rather than queueing them) and
    ``frame_ready`` fires when it is decoded. While idle after a request it decodes a few frames ahead, so
    playback and forward scrubbing mostly hit the cache.
    """

    frame_ready = Signal(int, QImage)
    failed = Signal(str)

    def __init__(
        self,
        path: str | Path,
        cache_size: int = 48,
        prefetch: int = 6,
        reader_factory: Callable[[str | Path], Any] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.cache_size = cache_size
        self.prefetch = prefetch
        self._reader = (reader_factory or _open_reader)(path)
        info = self._reader.info
        self.frame_count = int(info.frame_count)
        self.fps = info.fps
        self.size = (int(info.width), int(info.height))
        self._cache: OrderedDict[int, QImage] = OrderedDict()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._wanted: int | None = None
        self._ahead: list[int] = []
        self._stop = False
        self.decoded = 0
        self._thread = threading.Thread(target=self._loop, name="frame-decoder", daemon=True)
        self._thread.start()

    def cached(self, index: int) -> QImage | None:
        with self._lock:
            img = self._cache.get(index)
            if img is not None:
                self._cache.move_to_end(index)
            return img

    def request(self, index: int) -> QImage | None:
        index = int(min(max(index, 0), max(self.frame_count - 1, 0)))
        with self._cond:
            img = self._cache.get(index)
            if img is not None:
                self._cache.move_to_end(index)
            else:
                self._wanted = index
            self._ahead = [
                i
                for i in range(index + 1, min(index + 1 + self.prefetch, self.frame_count))
                if i not in self._cache
            ]
            self._cond.notify()
        return img

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=5.0)
        try:
            self._reader.close()
        except Exception:  # noqa: BLE001 - closing a broken reader must not stop shutdown
            pass

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and self._wanted is None and not self._ahead:
                    self._cond.wait()
                if self._stop:
                    return
                if self._wanted is not None:
                    index, urgent = self._wanted, True
                    self._wanted = None
                else:
                    index, urgent = self._ahead.pop(0), False
                    if index in self._cache:
                        continue
            try:
                frame = self._reader.frame_at_index(index)
                img = rgb_to_qimage(frame.image)
            except Exception as exc:  # noqa: BLE001 - shown in the window as one line
                from triergon_studio.ui.worker import describe_error

                self.failed.emit(describe_error(exc))
                continue
            with self._lock:
                self._cache[index] = img
                self._cache.move_to_end(index)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
                self.decoded += 1
            if urgent:
                self.frame_ready.emit(index, img)


class VideoView(QWidget):
    """Paints the current frame letterboxed, with the timecode burnt into a corner."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("videoView")
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._image: QImage | None = None
        self._index = -1
        self._timecode = ""
        self._message = "Open a video (File > New project from video) or drop one here"
        self.frames_painted = 0
        self.provider: FrameProvider | None = None

    @property
    def current_index(self) -> int:
        return self._index

    def set_provider(self, provider: FrameProvider | None) -> None:
        if self.provider is not None:
            self.provider.frame_ready.disconnect(self._on_frame_ready)
        self.provider = provider
        self._image, self._index = None, -1
        if provider is not None:
            provider.frame_ready.connect(self._on_frame_ready)
            self._message = ""
        self.update()

    def show_frame(self, index: int, timecode: str = "") -> None:
        """Ask for a frame; cached frames appear at once, others when the decoder delivers them."""
        self._timecode = timecode
        self._wanted = index
        if self.provider is None:
            return
        img = self.provider.request(index)
        if img is not None:
            self._set_image(index, img)

    def set_message(self, text: str) -> None:
        self._message = text
        self.update()

    def _on_frame_ready(self, index: int, img: QImage) -> None:
        if index == getattr(self, "_wanted", index):
            self._set_image(index, img)

    def _set_image(self, index: int, img: QImage) -> None:
        if index == self._index and self._image is not None:
            self.update()
            return
        self._image, self._index = img, index
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#000000"))
        if self._image is not None:
            w, h = self.width(), self.height()
            iw, ih = self._image.width(), self._image.height()
            scale = min(w / iw, h / ih)
            dw, dh = iw * scale, ih * scale
            target = QRectF((w - dw) / 2, (h - dh) / 2, dw, dh)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
            p.drawImage(target, self._image)
            self.frames_painted += 1
        if self._timecode:
            font = QFont("monospace")
            font.setPointSize(11)
            p.setFont(font)
            p.setPen(QColor("#ffd54f"))
            p.drawText(
                self.rect().adjusted(8, 6, -8, -6),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                self._timecode,
            )
        if self._message and self._image is None:
            p.setPen(QColor("#9aa0a6"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
        p.end()
