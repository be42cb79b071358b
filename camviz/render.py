"""Pictures and files out: the three-panel figure, the overlay, output names, atomic writes.

The overlay is pytorch-grad-cam's `show_cam_on_image`. The figure is composed with numpy and OpenCV
(no matplotlib figure per image: that alone would cost more than the CAM of a small model).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image

from camviz.errors import writing

_UNSAFE = re.compile(r"[^\w.+-]+")  # \w: Unicode letters and digits and `_` (never a surrogate or a control)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MIN_PANEL = 224  # small model inputs are scaled up (nearest) so titles stay readable
_TITLE_BAND = 48
_COLORBAR_WIDTH = 56
_GAP = 12  # white pixels between panels


def filename_safe(name: str) -> str:
    """A class or file name made safe for any filesystem: Unicode letters and digits, `.`, `_`, `+` and `-` are
    kept (NFC), every other run of characters becomes `_`; at most `STEM_BYTES` long (see `fit_name`)."""
    safe = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip("_").lstrip(".")
    return fit_name(safe or "_")


def distinct_safe_names(names: Sequence[str]) -> dict[str, str]:
    """`filename_safe` of each name; names whose safe spellings collide (also ignoring case, as macOS and
    Windows do) get a short stable hash of the original name, so their files stay distinct."""
    spelled = {name: filename_safe(name) for name in names}
    counts = Counter(safe.casefold() for safe in spelled.values())
    return {name: safe if counts[safe.casefold()] == 1 else fit_name(f"{safe}~{_short_hash(name)}")
            for name, safe in spelled.items()}


STEM_BYTES = 200  # a stem leaves room for the longest suffix (`_overlay.webp`) under the usual 255-byte limit


def fit_name(stem: str, limit: int = STEM_BYTES) -> str:
    """`stem` if it fits in `limit` UTF-8 bytes, else its head and `~` and a stable hash of the whole."""
    if len(os.fsencode(stem)) <= limit:
        return stem
    return f"{_cut(stem, limit - 9)}~{_short_hash(stem)}"


def _cut(text: str, limit: int) -> str:
    """The longest head of `text` that fits in `limit` bytes, never splitting a character."""
    head, used = [], 0
    for char in text:
        used += len(os.fsencode(char))
        if used > limit:
            break
        head.append(char)
    return "".join(head)


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def batch_stem(method: str, index: int, true_class: str, pred_class: str) -> str:
    """`{method}_{XXXX}_true_{Class}_pred_{Class}`, the batch-mode figure name without extension."""
    return fit_name(f"{method}_{index:04d}_true_{filename_safe(true_class)}_pred_{filename_safe(pred_class)}")


def single_stem(image_path: Path, method: str) -> str:
    """`{image stem}_{method}`, the single-mode figure name without extension."""
    return fit_name(f"{filename_safe(image_path.stem)}_{method}")


def overlay(display: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """RGB uint8 overlay of a [0, 1] CAM on a float RGB image, by pytorch-grad-cam's `show_cam_on_image`."""
    return show_cam_on_image(display, cam, use_rgb=True)


def heatmap(cam: np.ndarray) -> np.ndarray:
    """RGB uint8 rendering of a [0, 1] CAM with the JET colour map (the overlay's colours)."""
    return cv2.cvtColor(cv2.applyColorMap(np.uint8(255 * cam), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def compose_figure(
    display: np.ndarray, cam: np.ndarray, overlay_rgb: np.ndarray, titles: tuple[str, str, str]
) -> np.ndarray:
    """Three panels side by side (input, heatmap with colour bar, overlay), each under its title; RGB uint8."""
    image, heat, blend = (enlarge(p) for p in (np.uint8(np.round(display * 255)), heatmap(cam), overlay_rgb))
    heat = np.hstack([heat, _colorbar(heat.shape[0])])
    return join([titled(panel, title) for panel, title in zip((image, heat, blend), titles)], axis=1)


def heatmap_figure(cam: np.ndarray, title: str) -> np.ndarray:
    """One heatmap panel with colour bar under a title (used for per-class mean heatmaps); RGB uint8."""
    panel = enlarge(heatmap(cam))
    return titled(np.hstack([panel, _colorbar(panel.shape[0])]), title)


def enlarge(panel: np.ndarray) -> np.ndarray:
    """A small model-input-size panel scaled up (nearest, integer factor) to at least 224 px, for legible figures."""
    scale = max(1, -(-_MIN_PANEL // panel.shape[0]))
    return cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale > 1 else panel


def join(parts: Sequence[np.ndarray], axis: int) -> np.ndarray:
    """Images joined along `axis` (0: rows, 1: columns) with white gaps; all have the same other size."""
    shape = list(parts[0].shape)
    shape[axis] = _GAP
    gap = np.full(shape, 255, np.uint8)
    return np.concatenate([part for item in parts for part in (gap, item)][1:], axis=axis)


@functools.lru_cache(maxsize=8)
def _colorbar(height: int) -> np.ndarray:
    """A vertical JET colour bar from 1 (top) to 0 (bottom) with tick labels, on white (drawn once per height)."""
    bar = np.full((height, _COLORBAR_WIDTH, 3), 255, np.uint8)
    ramp = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None].repeat(12, axis=1)
    bar[:, 6:18] = heatmap(ramp)
    for value in (1.0, 0.5, 0.0):
        y = int(round((1.0 - value) * (height - 1)))
        cv2.line(bar, (18, y), (22, y), (0, 0, 0), 1)
        text_y = min(max(y + 4, 10), height - 2)
        cv2.putText(bar, f"{value:.1f}", (24, text_y), _FONT, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    bar.flags.writeable = False  # shared by every figure of this height
    return bar


def titled(panel: np.ndarray, title: str) -> np.ndarray:
    """The panel under a white band holding up to two lines of title text (split at ' | ')."""
    band = np.full((_TITLE_BAND, panel.shape[1], 3), 255, np.uint8)
    for line_number, line in enumerate(title.split(" | ")[:2]):
        scale = min(0.5, 0.5 * (panel.shape[1] - 8) / max(1, cv2.getTextSize(line, _FONT, 0.5, 1)[0][0]))
        cv2.putText(band, line, (4, 18 + 20 * line_number), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([band, panel])


# --figure-format -> OpenCV's encoder parameters (PNG: OpenCV's default, its fastest RLE strategy)
FIGURE_FORMATS: dict[str, list[int]] = {
    "png": [],
    "jpg": [cv2.IMWRITE_JPEG_QUALITY, 92],
    "webp": [cv2.IMWRITE_WEBP_QUALITY, 90],
}


def encode_image(rgb: np.ndarray, figure_format: str = "png") -> bytes:
    """`png`, `jpg` or `webp` bytes of an RGB uint8 image."""
    ok, buffer = cv2.imencode(f".{figure_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), FIGURE_FORMATS[figure_format])
    if not ok:
        raise OSError(f"OpenCV could not encode the {figure_format} image")
    return buffer.tobytes()


def encode_npy(array: np.ndarray) -> bytes:
    """`.npy` bytes of an array (as `np.save` writes them)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


_PARTIAL_SUFFIX = ".part"
_PARTIAL = re.compile(r"^\..*\.(\d+)-[0-9a-f]{6}\.part$")  # `.{name}.{pid}-{random}.part`
_PARTIAL_MIN_BYTES = 40  # a temporary name may use this much even when the final name is shorter


def partial_name(name: str, pid: int | None = None) -> str:
    """The temporary name `write_atomic` uses for `name`: `.{name}.{pid}-{random}.part`, with `name` cut so the
    whole is never longer than `name` itself (or 40 bytes, for a shorter name): if the final name fits the file
    system, so does this one."""
    tag = f"{os.getpid() if pid is None else pid}-{secrets.token_hex(3)}"
    budget = max(len(os.fsencode(name)), _PARTIAL_MIN_BYTES) - len(f"..{tag}{_PARTIAL_SUFFIX}")
    return f".{_cut(name, budget)}.{tag}{_PARTIAL_SUFFIX}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename into place: a reader (or a kill) never sees half
    a file. A full disk or an unwritable folder raises a one-line `OutputError`."""
    with writing(path):
        for _ in range(100):
            temporary = path.parent / partial_name(path.name)
            try:  # the mode follows the umask, like any ordinary file
                handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"no free temporary name for {path.name}")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def remove_partial_files(folder: Path) -> None:
    """Delete temporary files of this process, or of camviz processes that are gone (killed mid-write); another
    live process's files in flight are left alone."""
    for leftover in folder.glob(f".*{_PARTIAL_SUFFIX}"):
        match = _PARTIAL.match(leftover.name)
        if match and (int(match.group(1)) == os.getpid() or not _alive(int(match.group(1)))):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine); on Windows, always assumed."""
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
