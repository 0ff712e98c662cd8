"""WAV reading and log-mel features (dropkit.data.speech_audio), on files written with Python's wave module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dropkit.data.speech_audio import LogMelSpec, WavError, fix_length, log_mel, read_wav
from tests.data.speech_wavs import write_wav


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_of_every_width_reads_back_to_the_written_samples(tmp_path: Path, width: int) -> None:
    x = np.sin(np.linspace(0, 20, 500)) * 0.8
    y, rate = read_wav(write_wav(tmp_path / "a.wav", x, 8000, width), sample_rate=8000)
    assert rate == 8000 and y.dtype == np.float32 and y.shape == (500,)
    assert np.abs(y - x).max() <= 1.0 / (1 << (8 * width - 1)) + 1e-6  # one quantisation step


def test_channels_are_averaged(tmp_path: Path) -> None:
    stereo = np.stack([np.full(100, 0.5), np.full(100, -0.25)], axis=1)
    y, _ = read_wav(write_wav(tmp_path / "s.wav", stereo, channels=2))
    assert np.allclose(y, 0.125, atol=1e-4)


def test_a_truncated_file_is_refused_with_both_frame_counts(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "t.wav", np.zeros(1000))
    path.write_bytes(path.read_bytes()[:-600])  # 300 frames cut off, header unchanged
    with pytest.raises(WavError, match="is truncated: its header promises 1000 frames .* the file holds 700"):
        read_wav(path)


def test_a_file_that_is_not_a_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(b"RIFX" + bytes(range(200)))
    with pytest.raises(WavError, match="noise.wav is not a readable PCM WAV file"):
        read_wav(path)


def test_a_wrong_sample_rate_names_both_rates(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "r.wav", np.zeros(100), rate=8000)
    with pytest.raises(WavError, match="must have sample rate 16000 Hz, got 8000 Hz"):
        read_wav(path, sample_rate=16000)


def test_fix_length_pads_with_silence_and_cuts() -> None:
    assert fix_length(np.arange(1, 6, dtype=np.float32), 3).tolist() == [1, 2, 3]
    assert fix_length(np.ones(2, np.float32), 4, offset=3).tolist() == [0, 0, 0, 1]


def test_log_mel_matches_a_numpy_stft_on_librosa_filters() -> None:
    librosa = pytest.importorskip("librosa")
    spec = LogMelSpec(16000, n_mels=40, duration_s=0.5)
    x = np.random.default_rng(0).standard_normal((2, spec.num_samples)) * 0.1
    # reference: zero-pad n_fft/2 each side, periodic Hann of win_length centred in n_fft, |rfft|^2
    n_fft, hop, win = spec.n_fft, spec.hop_length, spec.win_length
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    padded = np.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)))
    frames = np.stack([padded[:, i * hop : i * hop + n_fft] for i in range(spec.num_frames)], axis=1)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2  # (N, T, bins)
    basis = librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=40, fmax=8000.0)
    ref = np.log(power @ basis.T + 1e-6)
    ours = log_mel(x.astype(np.float32), spec)
    assert ours.shape == (2, spec.num_frames, 40)
    torch.testing.assert_close(ours, torch.from_numpy(ref).float(), atol=2e-3, rtol=1e-4)


def test_a_tone_lights_the_mel_band_of_its_frequency() -> None:
    librosa = pytest.importorskip("librosa")
    spec = LogMelSpec(8000, n_mels=32)
    t = np.arange(spec.num_samples) / 8000
    feats = log_mel(np.sin(2 * np.pi * 1000 * t)[None].astype(np.float32), spec)[0]
    centres = librosa.mel_frequencies(n_mels=32 + 2, fmax=4000.0)[1:-1]
    assert abs(int(feats[10:-10].mean(dim=0).argmax()) - int(np.abs(centres - 1000).argmin())) <= 1


def test_bad_settings_and_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="n_mels must be an integer >= 1, got 0"):
        LogMelSpec(16000, n_mels=0)
    with pytest.raises(ValueError, match="fmax must be in \\(0, sample_rate / 2 = 4000\\], got 6000"):
        LogMelSpec(8000, fmax=6000)
    with pytest.raises(ValueError, match=r"waves must have shape \(N, 8000\), got \(2, 10\)"):
        log_mel(np.zeros((2, 10)), LogMelSpec(8000))
