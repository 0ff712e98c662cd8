"""The espeak-ng spoken-digits corpus (dropkit.data.speech_synth): real espeak-ng, a tiny recipe.

The tests that synthesise need the ``espeak-ng`` program (CI installs it with apt, see .ci/run); they
skip, saying so, where it is missing.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from dropkit.data import DatasetNotFoundError, dataset_status, load_dataset
from dropkit.data import speech_synth as ss
from dropkit.data.speech_synth import RECIPES, SynthRecipe, load_espeak_digits, recipe_hash

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng; CI installs it)")
TINY = RECIPES["espeak-digits-tiny"]


@needs_espeak
def test_the_tiny_corpus_is_synthesised_once_into_the_cache_with_its_recipe(roots) -> None:
    ds = load_dataset("espeak-digits-tiny")
    assert ds.num_train == ds.num_test == 10 and ds.class_names == ss.DIGIT_WORDS
    assert ds.input_shape == (TINY.features().num_frames, TINY.n_mels)
    assert sorted(ds.train_y.tolist()) == list(range(10)) and sorted(ds.test_y.tolist()) == list(range(10))
    assert ds.details["cache"] == "written" and ds.details["recipe_sha256"] == recipe_hash(TINY)
    files = list((roots.cache / "espeak-digits-tiny").iterdir())
    version = ss.espeak_version()
    assert [f.name for f in files] == [f"espeak-digits-tiny-{recipe_hash(TINY)[:16]}-espeak{version}.npz"]
    with np.load(files[0]) as f:
        assert set(f["train_speaker"].tolist()) == {"en-us+m3"} and set(f["test_speaker"].tolist()) == {"en-us+f2"}
    again = load_espeak_digits("espeak-digits-tiny")
    assert again.details["cache"] == "hit" and np.array_equal(again.train_x.numpy(), ds.train_x.numpy())
    # the ten words are told apart by their features: no two training utterances are alike
    flat = ds.train_x.flatten(1)
    assert float(np.min(np.linalg.norm(flat[:, None] - flat[None], axis=-1)[~np.eye(10, dtype=bool)])) > 1.0
    assert dataset_status("espeak-digits-tiny").found


@needs_espeak
def test_a_changed_recipe_regenerates_under_another_name(roots) -> None:
    load_espeak_digits("espeak-digits-tiny")
    other = dataclasses.replace(TINY, seed=1)
    ds = load_espeak_digits("espeak-digits-tiny", recipe=other)
    assert ds.details["cache"] == "written" and ds.details["recipe_sha256"] == recipe_hash(other) != recipe_hash(TINY)
    assert len(list((roots.cache / "espeak-digits-tiny").glob("*.npz"))) == 2


def test_the_default_recipe_keeps_test_voices_unheard() -> None:
    r = RECIPES["espeak-digits"]
    assert not set(r.train_variants) & set(r.test_variants)
    assert not set(r.speakers("train")) & set(r.speakers("test"))
    assert (r.num_speakers("train"), r.num_speakers("test")) == (32, 32)
    assert r.num_utterances("train") == r.num_utterances("test") == 640


def test_bad_recipes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"train_variants and test_variants must be disjoint, got \['m3'\] in both"):
        SynthRecipe(accents=("en-us",), train_variants=("m3", "f1"), test_variants=("m3",))
    with pytest.raises(ValueError, match=r"pitch must be a range within \[0, 99\], got \(10, 120\)"):
        SynthRecipe(accents=("en-us",), train_variants=("m3",), test_variants=("f1",), pitch=(10, 120))
    with pytest.raises(ValueError, match="accents must be a non-empty tuple of espeak-ng names"):
        SynthRecipe(accents=("en us; rm",), train_variants=("m3",), test_variants=("f1",))


@needs_espeak
def test_a_variant_espeak_ng_does_not_have_is_refused_before_synthesis(roots) -> None:
    bad = dataclasses.replace(TINY, test_variants=("no-such-voice",))
    with pytest.raises(ValueError, match="variant 'no-such-voice' is not an espeak-ng .* variant"):
        load_espeak_digits("espeak-digits-tiny", recipe=bad)
    assert not (roots.cache / "espeak-digits-tiny").exists()


def test_without_espeak_ng_and_no_cache_the_error_says_how_to_install_it(roots, monkeypatch) -> None:
    monkeypatch.setattr(ss.shutil, "which", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match="apt-get install espeak-ng"):
        load_dataset("espeak-digits-tiny")
    assert not dataset_status("espeak-digits-tiny").found
