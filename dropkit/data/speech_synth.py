"""Spoken digits synthesised offline with Debian's ``espeak-ng``: a speech corpus with unheard test voices.

A :class:`SynthRecipe` fixes everything: the ten words ``zero`` … ``nine``, the espeak-ng accents
(``-v en-us`` …) and voice variants (``+m3``, ``+f2`` …), how many times each speaker says each word,
and the ranges the seeded generator draws each utterance's speaking rate (``-s``, words per minute),
pitch (``-p``, 0-99), leading silence and white-noise level (signal-to-noise ratio in dB) from.

A *speaker* is one accent + variant identity. The variants are split between train and test, so
**every test speaker is unheard in training** (and no variant is shared either): the test accuracy
measures generalisation to new voices, where a model that memorises its training voices over-fits.

The corpus is generated once into ``<cache>/<name>/`` (the user cache of :mod:`dropkit.data.locate`)
as one ``.npz`` of log-mel features (:mod:`dropkit.data.speech_audio`), written atomically, with the
recipe, its hash and the espeak-ng version stored inside. The file name carries the recipe hash and the
espeak-ng version: a changed recipe or another espeak-ng regenerates. Synthesis runs one
``espeak-ng -w FILE`` process per utterance, as many at a time as there are CPU cores.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dropkit._io import atomic_path
from dropkit.data import locate
from dropkit.data.dataset import ArrayDataset
from dropkit.data.locate import search_places
from dropkit.data.speech_audio import LogMelSpec, fix_length, log_mel, read_wav
from dropkit.data.status import DatasetNotFoundError, DatasetStatus

__all__ = [
    "DIGIT_WORDS",
    "SynthRecipe",
    "RECIPES",
    "EspeakNotFoundError",
    "espeak_version",
    "recipe_hash",
    "synthesize_corpus",
    "find_espeak_digits_cache",
    "load_espeak_digits",
    "espeak_digits_status",
]

logger = logging.getLogger(__name__)

#: The class names, in label order.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ESPEAK_RATE = 22050  # espeak-ng writes 16-bit mono WAV at 22050 Hz
_CACHE_FORMAT = 2  # bumped when the stored features change meaning (2: zero-padded STFT frames)


class EspeakNotFoundError(FileNotFoundError):
    """``espeak-ng`` is not installed (Debian/Ubuntu: ``apt-get install espeak-ng``)."""


@dataclass(frozen=True)
class SynthRecipe:
    """Everything that determines a synthesised corpus; its hash names the cache file.

    Args:
        accents: espeak-ng voices (``espeak-ng --voices=en``), every one used by every speaker side.
        train_variants: voice variants (``espeak-ng --voices=variant``) of the training speakers.
        test_variants: variants of the test speakers; none may be a training variant.
        repeats: utterances per speaker and word (default: 2).
        rate: range of the speaking rate in words per minute, drawn uniformly (default: 130-210).
        pitch: range of the pitch, 0-99 (default: 20-80).
        snr_db: range of the white-noise signal-to-noise ratio in dB (default: 0-20).
        max_offset_s: leading silence drawn uniformly in ``[0, max_offset_s]`` seconds (default: 0.1).
        seed: seeds every draw (default: 0).
        n_mels: mel bands (default: 40).
        win_ms: analysis window in ms (default: 25).
        hop_ms: frame step in ms (default: 20).
        duration_s: clip length in seconds, padded or cut (default: 0.8).
        words: the spoken words, one per class (default: ``zero`` … ``nine``).

    Example:
        >>> r = RECIPES["espeak-digits-tiny"]
        >>> r.num_speakers("train"), r.num_speakers("test"), r.num_utterances("train")
        (1, 1, 10)
    """

    accents: tuple[str, ...]
    train_variants: tuple[str, ...]
    test_variants: tuple[str, ...]
    repeats: int = 2
    rate: tuple[int, int] = (130, 210)
    pitch: tuple[int, int] = (20, 80)
    snr_db: tuple[float, float] = (0.0, 20.0)
    max_offset_s: float = 0.1
    seed: int = 0
    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 20.0
    duration_s: float = 0.8
    words: tuple[str, ...] = field(default=DIGIT_WORDS)

    def __post_init__(self) -> None:
        where = "SynthRecipe"
        for key in ("accents", "train_variants", "test_variants", "words"):
            value = getattr(self, key)
            if not value or not all(isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_-]+", v) for v in value):
                raise ValueError(f"{where}: {key} must be a non-empty tuple of espeak-ng names, got {value!r}")
        shared = sorted(set(self.train_variants) & set(self.test_variants))
        if shared:
            raise ValueError(f"{where}: train_variants and test_variants must be disjoint, got {shared} in both")
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise ValueError(f"{where}: repeats must be an integer >= 1, got {self.repeats!r}")
        if not 80 <= self.rate[0] <= self.rate[1] <= 450:
            raise ValueError(f"{where}: rate must be a range within [80, 450] words per minute, got {self.rate!r}")
        if not 0 <= self.pitch[0] <= self.pitch[1] <= 99:
            raise ValueError(f"{where}: pitch must be a range within [0, 99], got {self.pitch!r}")
        if not self.snr_db[0] <= self.snr_db[1]:
            raise ValueError(f"{where}: snr_db must be a range (low <= high), got {self.snr_db!r}")
        if not 0 <= self.max_offset_s < self.duration_s:
            raise ValueError(f"{where}: max_offset_s must be in [0, duration_s={self.duration_s:g}), got {self.max_offset_s!r}")
        self.features()  # checks n_mels, win_ms, hop_ms, duration_s

    def features(self) -> LogMelSpec:
        """The log-mel settings (at espeak-ng's 22050 Hz)."""
        return LogMelSpec(_ESPEAK_RATE, n_mels=self.n_mels, win_ms=self.win_ms, hop_ms=self.hop_ms,
                          duration_s=self.duration_s)

    def speakers(self, split: str) -> list[str]:
        """``accent+variant`` names of the ``"train"`` or ``"test"`` speakers."""
        variants = self.train_variants if split == "train" else self.test_variants
        return [f"{accent}+{variant}" for variant in variants for accent in self.accents]

    def num_speakers(self, split: str) -> int:
        """How many speakers the split has."""
        return len(self.speakers(split))

    def num_utterances(self, split: str) -> int:
        """How many utterances the split has."""
        return self.num_speakers(split) * len(self.words) * self.repeats

    def as_dict(self) -> dict[str, Any]:
        """The recipe as JSON-ready values (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))


# Variants that sound like people (the robots, whisper, croak and the like are left out). The test
# variants are a fixed mix of male and female voices; nothing of them is heard in training. Eight training
# variants (32 speakers, 640 utterances) rather than twelve: with fewer voices the model without dropout
# over-fits them more (seed 1: test 0.930, against 0.963 with twelve), the regime dropout is for.
_TRAIN_VARIANTS = ("m1", "m3", "m5", "f1", "f2", "adam", "Annie", "david")
_TEST_VARIANTS = ("m7", "m8", "f4", "f5", "michel", "norbert", "paul", "quincy")

#: The named corpora: ``espeak-digits`` (the default) and ``espeak-digits-tiny`` (for tests and smoke runs).
RECIPES: dict[str, SynthRecipe] = {
    "espeak-digits": SynthRecipe(
        accents=("en-us", "en-gb", "en-gb-scotland", "en-029"),
        train_variants=_TRAIN_VARIANTS,
        test_variants=_TEST_VARIANTS,
    ),
    "espeak-digits-tiny": SynthRecipe(accents=("en-us",), train_variants=("m3",), test_variants=("f2",), repeats=1),
}


def _espeak_binary() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise EspeakNotFoundError(
            "espeak-ng: the espeak-ng program is not on PATH; install it (Debian/Ubuntu: apt-get install espeak-ng)"
        )
    return found


def espeak_version() -> str:
    """The installed espeak-ng's version, e.g. ``"1.51"``.

    Raises:
        EspeakNotFoundError: espeak-ng is not installed.
    """
    return _version(_espeak_binary())


@functools.lru_cache(maxsize=4)
def _version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"text-to-speech:\s*(\S+)", out)
    return found.group(1) if found else out.strip().split()[-1]


def recipe_hash(recipe: SynthRecipe) -> str:
    """Hex SHA-256 of the recipe's canonical JSON and the cache format (the espeak-ng version is added to the
    cache key separately).

    Example:
        >>> len(recipe_hash(RECIPES["espeak-digits"]))
        64
    """
    key = {"recipe": recipe.as_dict(), "format": _CACHE_FORMAT}  # the format: how features are computed and stored
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _cache_name(name: str, recipe: SynthRecipe, version: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9.]+", "_", version)
    return f"{name}-{recipe_hash(recipe)[:16]}-espeak{safe}.npz"


@dataclass(frozen=True)
class _Utterance:
    index: int
    split: str
    speaker: str
    label: int
    rate: int
    pitch: int
    snr_db: float
    offset: int


def _utterances(recipe: SynthRecipe) -> list[_Utterance]:
    """Every utterance with its drawn rate, pitch, noise level and offset, in a fixed order."""
    rng = np.random.default_rng(recipe.seed)
    max_offset = int(round(recipe.max_offset_s * _ESPEAK_RATE))
    out = []
    for split in ("train", "test"):
        for speaker in recipe.speakers(split):
            for label in range(len(recipe.words)):
                for _ in range(recipe.repeats):
                    out.append(_Utterance(
                        len(out), split, speaker, label, int(rng.integers(recipe.rate[0], recipe.rate[1] + 1)),
                        int(rng.integers(recipe.pitch[0], recipe.pitch[1] + 1)),
                        float(rng.uniform(*recipe.snr_db)), int(rng.integers(0, max_offset + 1)),
                    ))  # fmt: skip
    return out


def _check_voices(binary: str, recipe: SynthRecipe) -> None:
    """espeak-ng falls back silently on unknown names: refuse them here instead."""
    listing = subprocess.run([binary, "--voices"], capture_output=True, text=True, check=True).stdout
    voices = {line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1}
    variants_out = subprocess.run([binary, "--voices=variant"], capture_output=True, text=True, check=True).stdout
    variants = {line.split()[-1].split("/")[-1] for line in variants_out.splitlines()[1:] if line.split()}
    for accent in recipe.accents:
        if accent not in voices:
            raise ValueError(f"espeak-digits: accent {accent!r} is not an espeak-ng {_version(binary)} voice (espeak-ng --voices)")
    for variant in (*recipe.train_variants, *recipe.test_variants):
        if variant not in variants:
            raise ValueError(
                f"espeak-digits: variant {variant!r} is not an espeak-ng {_version(binary)} variant (espeak-ng --voices=variant)"
            )


def _speak(binary: str, word: str, u: _Utterance, folder: str) -> np.ndarray:
    path = os.path.join(folder, f"u{u.index}.wav")
    cmd = [binary, "-v", u.speaker, "-s", str(u.rate), "-p", str(u.pitch), "-w", path, word]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"espeak-ng failed (exit {done.returncode}) on {' '.join(cmd[1:])}: {done.stderr.strip()}")
    samples, _ = read_wav(path, sample_rate=_ESPEAK_RATE)
    os.unlink(path)
    return samples


def _with_noise(samples: np.ndarray, u: _Utterance, recipe: SynthRecipe, length: int) -> np.ndarray:
    clip = fix_length(samples, length, offset=u.offset)
    speech = samples[np.abs(samples) > 1e-4]
    power = float(np.mean(speech**2)) if len(speech) else 1e-6
    rng = np.random.default_rng([recipe.seed, u.index])
    noise = rng.standard_normal(length).astype(np.float32) * np.float32(np.sqrt(power / 10 ** (u.snr_db / 10)))
    return clip + noise


def synthesize_corpus(recipe: SynthRecipe, *, workers: int | None = None) -> dict[str, Any]:
    """Synthesise every utterance of ``recipe`` and compute its features (nothing is cached here).

    Args:
        recipe: what to say, by whom and how.
        workers: espeak-ng processes at a time; ``None``: the number of CPU cores (default: None).

    Returns:
        ``train_x`` / ``test_x`` ``(N, frames, n_mels)`` float32, ``train_y`` / ``test_y`` int64,
        ``train_speaker`` / ``test_speaker`` (speaker names per row) and ``seconds`` (wall time).

    Raises:
        EspeakNotFoundError: espeak-ng is not installed.
        ValueError: an accent or variant espeak-ng does not have.
    """
    binary = _espeak_binary()
    _check_voices(binary, recipe)
    spec = recipe.features()
    todo = _utterances(recipe)
    t0 = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="dropkit-espeak-") as folder, \
            concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        waves = list(pool.map(lambda u: _speak(binary, recipe.words[u.label], u, folder), todo))
    clips = np.stack([_with_noise(w, u, recipe, spec.num_samples) for w, u in zip(waves, todo)])
    feats = log_mel(clips, spec).numpy()
    out: dict[str, Any] = {}
    for split in ("train", "test"):
        rows = [u.index for u in todo if u.split == split]
        out[f"{split}_x"] = feats[rows]
        out[f"{split}_y"] = np.array([todo[i].label for i in rows], dtype=np.int64)
        out[f"{split}_speaker"] = np.array([todo[i].speaker for i in rows])
    out["seconds"] = time.perf_counter() - t0
    return out


_ARRAYS = ("train_x", "train_y", "test_x", "test_y", "train_speaker", "test_speaker")


def _read_cache(path: Path, recipe: SynthRecipe) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if meta.get("format") != _CACHE_FORMAT or meta.get("recipe_sha256") != recipe_hash(recipe):
                logger.warning("ignoring %s: made from another recipe", path)
                return None
            return {k: f[k] for k in _ARRAYS}, meta
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable speech corpus cache %s: %s", path, exc)
        return None


def _find_cache(name: str, recipe: SynthRecipe, data_dir: Path | None) -> tuple[Path | None, list[str]]:
    """The cache file for this recipe and the installed espeak-ng; without espeak-ng, one of any version."""
    try:
        patterns = [_cache_name(name, recipe, espeak_version())]
    except EspeakNotFoundError:
        patterns = [f"{name}-{recipe_hash(recipe)[:16]}-espeak*.npz"]
    searched = []
    for place in search_places(name, data_dir):
        found = sorted(place.path.glob(patterns[0])) if place.path.is_dir() else []
        if found:
            searched.append(f"{place}: {found[-1].name}")
            return found[-1], searched
        searched.append(f"{place}: no {patterns[0]}")
    return None, searched


def find_espeak_digits_cache(name: str = "espeak-digits", data_dir: Path | None = None) -> Path | None:
    """The cached corpus file of recipe ``name`` in the search places, or ``None``."""
    return _find_cache(name, _recipe(name), data_dir)[0]


def _recipe(name: str) -> SynthRecipe:
    if name not in RECIPES:
        raise ValueError(f"espeak-digits: name must be one of {', '.join(map(repr, RECIPES))}, got {name!r}")
    return RECIPES[name]


def load_espeak_digits(name: str = "espeak-digits", data_dir: Path | None = None, *,
                       recipe: SynthRecipe | None = None) -> ArrayDataset:
    """Load the synthesised spoken-digits corpus, generating and caching it on first use.

    Args:
        name: ``"espeak-digits"`` or ``"espeak-digits-tiny"`` (:data:`RECIPES`); also the cache folder.
        data_dir: an existing folder searched first (``<data_dir>/<name>/`` or ``<data_dir>/``), or ``None``.
        recipe: another recipe cached under ``name`` (default: None, ``RECIPES[name]``).

    Returns:
        An :class:`ArrayDataset` of log-mel features ``(N, frames, n_mels)`` float32, classes ``zero`` …
        ``nine``; ``details`` holds the recipe hash, the espeak-ng version and the speaker counts.

    Raises:
        DatasetNotFoundError: no cached corpus and espeak-ng is not installed.

    Example:
        >>> ds = load_espeak_digits("espeak-digits-tiny")  # doctest: +SKIP
        >>> ds.input_shape, ds.class_names[:3]  # doctest: +SKIP
        ((41, 40), ('zero', 'one', 'two'))
    """
    recipe = recipe or _recipe(name)
    path, searched = _find_cache(name, recipe, data_dir)
    loaded = _read_cache(path, recipe) if path is not None else None
    if loaded is None:
        try:
            version = espeak_version()
        except EspeakNotFoundError as exc:
            raise DatasetNotFoundError(
                f"load_dataset: {name} is not cached and cannot be generated: {exc}. Searched:\n  "
                + "\n  ".join(searched)
            ) from None
        logger.info("synthesising %s with espeak-ng %s (%d utterances)", name, version,
                    recipe.num_utterances("train") + recipe.num_utterances("test"))
        made = synthesize_corpus(recipe)
        meta = {"format": _CACHE_FORMAT, "name": name, "recipe": recipe.as_dict(), "recipe_sha256": recipe_hash(recipe),
                "espeak_ng": version, "seconds": round(made["seconds"], 2), "features": recipe.features().as_dict(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        path = locate.cache_dir() / name / _cache_name(name, recipe, version)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare path
                np.savez(f, meta=np.array(json.dumps(meta, sort_keys=True)), **{k: made[k] for k in _ARRAYS})
        logger.info("%s: %.1f s, cached in %s", name, made["seconds"], path)
        arrays, cache = {k: made[k] for k in _ARRAYS}, "written"
    else:
        (arrays, meta), cache = loaded, "hit"
    return ArrayDataset(
        name=name,
        train_x=torch.from_numpy(np.ascontiguousarray(arrays["train_x"], dtype=np.float32)),
        train_y=torch.from_numpy(arrays["train_y"].astype(np.int64)),
        test_x=torch.from_numpy(np.ascontiguousarray(arrays["test_x"], dtype=np.float32)),
        test_y=torch.from_numpy(arrays["test_y"].astype(np.int64)),
        num_classes=len(recipe.words),
        input_shape=tuple(arrays["train_x"].shape[1:]),
        class_names=recipe.words,
        source=f"{path} (espeak-ng {meta['espeak_ng']}, recipe {meta['recipe_sha256'][:12]})",
        details={"cache": cache, "recipe_sha256": meta["recipe_sha256"], "espeak_ng": meta["espeak_ng"],
                 "train_speakers": len(set(arrays["train_speaker"].tolist())),
                 "test_speakers": len(set(arrays["test_speaker"].tolist()))},
    )


def espeak_digits_status(name: str = "espeak-digits", data_dir: Path | None = None) -> DatasetStatus:
    """Whether the corpus is cached, its size and sample counts; never synthesises anything."""
    recipe = _recipe(name)
    path, searched = _find_cache(name, recipe, data_dir)
    loaded = _read_cache(path, recipe) if path is not None else None
    if loaded is None:
        return DatasetStatus(
            name=name, found=False, location=None if path is None else str(path), searched=tuple(searched),
            size_bytes=None, num_train=None, num_test=None, checksum="not checked",
            detail=f"synthesised with espeak-ng on first load ({recipe.num_utterances('train')} train / "
                   f"{recipe.num_utterances('test')} test utterances) into {locate.cache_dir() / name}",
        )  # fmt: skip
    arrays, meta = loaded
    return DatasetStatus(
        name=name, found=True, location=str(path), searched=tuple(searched), size_bytes=path.stat().st_size,
        num_train=len(arrays["train_y"]), num_test=len(arrays["test_y"]), checksum="not checked",
        detail=f"synthesised by espeak-ng {meta['espeak_ng']}, recipe {meta['recipe_sha256'][:12]}",
    )  # fmt: skip
