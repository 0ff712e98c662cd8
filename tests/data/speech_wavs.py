"""WAV writers for the speech tests: real PCM files written with Python's ``wave`` module."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000, width: int = 2, channels: int = 1) -> Path:
    """Write float samples in [-1, 1] (shape (n,) or (n, channels)) as PCM."""
    x = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    if width == 1:
        data = np.clip(np.round(x * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif width == 3:
        ints = np.clip(np.round(x * (1 << 23)), -(1 << 23), (1 << 23) - 1).astype(np.int32)
        data = np.stack([(ints >> s) & 0xFF for s in (0, 8, 16)], axis=-1).astype(np.uint8).tobytes()
    else:
        dtype = {2: "<i2", 4: "<i4"}[width]
        scale = float(1 << (8 * width - 1))
        data = np.clip(np.round(x * scale), -scale, scale - 1).astype(dtype).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return path
