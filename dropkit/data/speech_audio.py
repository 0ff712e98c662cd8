"""WAV files and log-mel features for the speech datasets.

Reading uses Python's ``wave`` module (PCM, 8/16/24/32-bit, any channel count, averaged to mono);
every malformed file is a :class:`WavError` naming the file and what is wrong: not a RIFF/WAVE file,
a compressed format, a header that promises more frames than the file holds (truncated), a sample
rate other than the dataset's.

Features are log-mel spectrograms: the power spectrum of :func:`torch.stft` (Hann window, frames centred, zero padding at the ends) projected on
the mel filter bank of :func:`librosa.filters.mel` (Slaney's mel scale and area normalisation, the
filters torchaudio's ``MelSpectrogram(norm="slaney", mel_scale="slaney")`` also uses), then
``log(mel + 1e-6)``. librosa (the ``speech`` extra) is imported only to build the filter bank, once per
feature setting; the spectrogram itself is torch's. Every clip is padded with silence or cut to a fixed
duration first, so a dataset is one ``(N, frames, n_mels)`` float32 tensor.
"""

from __future__ import annotations

import functools
import os
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["WavError", "read_wav", "LogMelSpec", "log_mel", "fix_length"]


class WavError(ValueError):
    """A WAV file that cannot be used: malformed, truncated, compressed, or at the wrong sample rate."""


_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


def read_wav(path: str | os.PathLike[str], *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file as mono float32 samples in ``[-1, 1]``.

    Args:
        path: the ``.wav`` file.
        sample_rate: the rate the file must have, in Hz; ``None`` accepts any (default: None).

    Returns:
        ``(samples, rate)``: a 1-D float32 array (channels averaged) and the file's sample rate.

    Raises:
        WavError: not a RIFF/WAVE PCM file, a truncated file, no frames, or another sample rate.

    Example:
        >>> import tempfile, pathlib, wave
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.wav"
        >>> with wave.open(str(p), "wb") as w:
        ...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(b"\\x00\\x40" * 80)
        >>> x, sr = read_wav(p)
        >>> x.shape, sr, float(x[0])
        ((80,), 8000, 0.5)
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise WavError(f"read_wav: {path} is not a readable PCM WAV file ({exc})") from None
    if sample_rate is not None and rate != sample_rate:
        raise WavError(f"read_wav: {path} must have sample rate {sample_rate} Hz, got {rate} Hz")
    expected = frames * channels * width
    if len(data) < expected:
        raise WavError(
            f"read_wav: {path} is truncated: its header promises {frames} frames ({expected} bytes), "
            f"the file holds {len(data) // max(1, channels * width)} ({len(data)} bytes)"
        )
    if frames == 0:
        raise WavError(f"read_wav: {path} must hold at least one frame, got 0")
    if width == 3:  # 24-bit: little-endian triplets, sign-extended into int32
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)) << 8 >> 8
        samples = ints.astype(np.float32) / float(1 << 23)
    elif width in _DTYPES:
        ints = np.frombuffer(data, dtype=np.dtype(_DTYPES[width]).newbyteorder("<"))
        if width == 1:  # 8-bit WAV is unsigned, centred on 128
            samples = (ints.astype(np.float32) - 128.0) / 128.0
        else:
            samples = ints.astype(np.float32) / float(1 << (8 * width - 1))
    else:
        raise WavError(f"read_wav: {path} must have 1, 2, 3 or 4 bytes per sample, got {width}")
    return samples.reshape(-1, channels).mean(axis=1).astype(np.float32), int(rate)


def fix_length(samples: np.ndarray, length: int, *, offset: int = 0) -> np.ndarray:
    """``samples`` placed at ``offset`` in ``length`` samples of silence, cut at the end if longer.

    Example:
        >>> fix_length(np.ones(3, np.float32), 5, offset=1).tolist()
        [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    out = np.zeros(length, dtype=np.float32)
    offset = max(0, min(int(offset), length))
    n = min(len(samples), length - offset)
    out[offset : offset + n] = samples[:n]
    return out


@dataclass(frozen=True)
class LogMelSpec:
    """How waveforms become log-mel features.

    Args:
        sample_rate: the waveforms' rate in Hz.
        n_mels: mel bands (default: 40).
        win_ms: analysis window in milliseconds (Hann) (default: 25).
        hop_ms: frame step in milliseconds (default: 20).
        duration_s: every clip is padded with silence or cut to this many seconds (default: 1.0).
        fmax: highest filter frequency in Hz; ``None``: ``min(8000, sample_rate / 2)`` (default: None).

    Example:
        >>> spec = LogMelSpec(16000, duration_s=0.8)
        >>> spec.n_fft, spec.hop_length, spec.num_frames
        (512, 320, 41)
    """

    sample_rate: int
    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 20.0
    duration_s: float = 1.0
    fmax: float | None = None

    def __post_init__(self) -> None:
        where = "LogMelSpec"
        for key in ("sample_rate", "n_mels"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {key} must be an integer >= 1, got {value!r}")
        for key in ("win_ms", "hop_ms", "duration_s"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{where}: {key} must be a number > 0, got {value!r}")
        if self.fmax is not None and not 0 < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"{where}: fmax must be in (0, sample_rate / 2 = {self.sample_rate / 2:g}], got {self.fmax!r}")

    @property
    def win_length(self) -> int:
        """Window length in samples."""
        return max(1, round(self.sample_rate * self.win_ms / 1000))

    @property
    def n_fft(self) -> int:
        """FFT size: the next power of two of the window length."""
        return 1 << (self.win_length - 1).bit_length()

    @property
    def hop_length(self) -> int:
        """Frame step in samples."""
        return max(1, round(self.sample_rate * self.hop_ms / 1000))

    @property
    def num_samples(self) -> int:
        """Samples per clip after padding or cutting."""
        return max(1, round(self.sample_rate * self.duration_s))

    @property
    def num_frames(self) -> int:
        """Frames per clip (``torch.stft`` with ``center=True``)."""
        return 1 + self.num_samples // self.hop_length

    @property
    def max_frequency(self) -> float:
        """The top of the filter bank in Hz."""
        return float(self.fmax) if self.fmax is not None else min(8000.0, self.sample_rate / 2)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (recorded with cached features)."""
        return asdict(self)


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmax: float) -> torch.Tensor:
    try:
        import librosa.filters
    except ImportError:
        raise ImportError(
            "log_mel: the mel filter bank comes from librosa; install the speech extra: pip install 'dropkit[speech]'"
        ) from None
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=fmax)
    return torch.from_numpy(np.ascontiguousarray(basis, dtype=np.float32))


def log_mel(waves: np.ndarray | torch.Tensor, spec: LogMelSpec, *, batch_size: int = 256) -> torch.Tensor:
    """Log-mel features of waveforms already at ``spec.num_samples`` samples.

    Args:
        waves: ``(N, spec.num_samples)`` float samples.
        spec: the feature settings.
        batch_size: waveforms transformed at once (memory only; the result does not depend on it)
            (default: 256).

    Shape:
        - Input: :math:`(N, S)` with :math:`S` = ``spec.num_samples``.
        - Output: :math:`(N, T, M)` float32, :math:`T` = ``spec.num_frames``, :math:`M` = ``spec.n_mels``.

    Example:
        >>> spec = LogMelSpec(8000, n_mels=20, duration_s=0.5)
        >>> log_mel(np.zeros((2, spec.num_samples), np.float32), spec).shape
        torch.Size([2, 26, 20])
    """
    x = torch.as_tensor(waves, dtype=torch.float32)
    if x.dim() != 2 or x.shape[1] != spec.num_samples:
        raise ValueError(f"log_mel: waves must have shape (N, {spec.num_samples}), got {tuple(x.shape)}")
    basis = _mel_basis(spec.sample_rate, spec.n_fft, spec.n_mels, spec.max_frequency)
    window = torch.hann_window(spec.win_length)
    out = []
    for start in range(0, len(x), batch_size):
        stft = torch.stft(x[start : start + batch_size], spec.n_fft, hop_length=spec.hop_length,
                          win_length=spec.win_length, window=window, center=True, pad_mode="constant",
                          return_complex=True)
        power = stft.abs().pow(2)  # (B, n_fft // 2 + 1, T)
        out.append(torch.log(basis @ power + 1e-6).transpose(1, 2).contiguous())
    if not out:
        return torch.zeros(0, spec.num_frames, spec.n_mels)
    return torch.cat(out)
