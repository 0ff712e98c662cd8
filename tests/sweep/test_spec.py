"""Sweep files: grid expansion, seeded random sampling, stable trial ids, and errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropkit.sweep import load_sweep, parse_sweep, sample_params
from dropkit.sweep.trial import config_hash, readable_name

BASE = {"dataset": "digits", "hidden": [32], "steps": 20}


def test_grid_is_the_cartesian_product_in_file_order() -> None:
    spec = parse_sweep({"base": BASE, "grid": {"p": [0.0, 0.5], "l2": [0.0, 1e-4, 1e-3], "seed": [0, 1]}})
    trials = spec.trials()
    assert len(trials) == 2 * 3 * 2
    assert [(t.values["p"], t.values["l2"], t.values["seed"]) for t in trials[:3]] == [(0.0, 0.0, 0), (0.0, 0.0, 1), (0.0, 1e-4, 0)]
    assert all(t.values["hidden"] == [32] and t.values["dataset"] == "digits" for t in trials)
    assert len({t.trial_id for t in trials}) == len(trials)
    assert trials[1].trial_id.startswith("p=0_l2=0_seed=1-")
    assert spec.varied_keys() == ["p", "l2", "seed"]


def test_list_valued_keys_take_lists_of_lists() -> None:
    spec = parse_sweep({"base": {**BASE, "hidden": [32, 16]}, "grid": {"hidden_p": [[0.2, 0.5], [0.5, 0.5]]}})
    assert [t.values["hidden_p"] for t in spec.trials()] == [[0.2, 0.5], [0.5, 0.5]]
    assert spec.trials()[0].trial_id.startswith("hidden_p=0.2x0.5-")


def test_preset_then_base_then_grid_and_steps_replace_preset_epochs() -> None:
    spec = parse_sweep({"preset": "mnist1d", "base": {"steps": 30}, "grid": {"p": [0.1]}})
    (trial,) = spec.trials()
    assert trial.values["hidden"] == [256, 256]  # from the preset
    assert trial.values["steps"] == 30 and trial.values["epochs"] is None
    assert trial.values["p"] == 0.1


def test_trial_id_is_a_stable_hash_of_the_config() -> None:
    a = parse_sweep({"base": BASE, "grid": {"p": [0.3]}}).trials()[0]
    b = parse_sweep({"base": {**BASE, "p": 0.3}, "grid": {"seed": [0]}}).trials()[0]
    assert a.trial_id.split("-")[-1] == b.trial_id.split("-")[-1]  # same config, same hash
    assert config_hash({**BASE, "p": 0.3}) == config_hash({**BASE, "p": 0.3, "progress": False, "threads": 4})
    assert config_hash({**BASE, "p": 0.3}) != config_hash({**BASE, "p": 0.31})
    assert readable_name({"p": 0.5, "max_norm": None, "hidden": [8, 4]}) == "p=0.5_max_norm=none_hidden=8x4"


def test_duplicate_grid_values_give_one_trial() -> None:
    assert len(parse_sweep({"base": BASE, "grid": {"p": [0.5, 0.5]}}).trials()) == 1


def test_random_sampling_is_seeded_reproducible_and_independent_of_n() -> None:
    space = {
        "lr": {"loguniform": [1e-4, 1e-2]},
        "p": {"uniform": [0.0, 0.8]},
        "batch_size": {"randint": [16, 64]},
        "hidden": {"choice": [[32], [64, 32]]},
    }
    spec = parse_sweep({"base": BASE, "random": {"n": 6, "seed": 3, "params": space}})
    again = parse_sweep({"base": BASE, "random": {"n": 6, "seed": 3, "params": space}})
    longer = parse_sweep({"base": BASE, "random": {"n": 9, "seed": 3, "params": space}})
    other = parse_sweep({"base": BASE, "random": {"n": 6, "seed": 4, "params": space}})
    ids = [t.trial_id for t in spec.trials()]
    assert ids == [t.trial_id for t in again.trials()]
    assert ids == [t.trial_id for t in longer.trials()][:6]
    assert ids != [t.trial_id for t in other.trials()]
    for t in spec.trials():
        assert 1e-4 <= t.values["lr"] < 1e-2 and 0.0 <= t.values["p"] < 0.8
        assert 16 <= t.values["batch_size"] <= 64 and t.values["hidden"] in ([32], [64, 32])
    draws = [sample_params({"x": {"uniform": [0, 1]}}, 0, i)["x"] for i in range(400)]
    assert abs(sum(draws) / 400 - 0.5) < 6 * (1 / 12 / 400) ** 0.5  # mean of U(0,1) within 6 standard errors


def test_grid_times_random_combines_every_point_with_every_sample() -> None:
    spec = parse_sweep({"base": BASE, "grid": {"seed": [0, 1]}, "random": {"n": 3, "params": {"lr": {"uniform": [1e-3, 2e-3]}}}})
    trials = spec.trials()
    assert len(trials) == 6
    assert [t.values["lr"] for t in trials[:3]] == [t.values["lr"] for t in trials[3:]]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"base": BASE, "grid": {"pp": [0.1]}}, r"unknown config key grid.pp \(did you mean 'p'\?\)"),
        ({"base": {**BASE, "hiden": [3]}, "grid": {"p": [0.1]}}, r"unknown config key base.hiden \(did you mean 'hidden'\?\)"),
        ({"base": BASE, "gird": {"p": [0.1]}}, r"unknown key 'gird' \(did you mean 'grid'\?\)"),
        ({"base": BASE, "p": 0.2, "grid": {"seed": [0]}}, r"config keys go under 'base:' or 'grid:'"),
        ({"base": BASE, "grid": {}}, "got an empty grid"),
        ({"base": BASE, "grid": {"p": []}}, r"grid.p must be a non-empty list of values, got an empty list"),
        ({"base": BASE, "grid": {"p": 0.5}}, r"grid.p must be a list of values, got 0.5"),
        ({"base": BASE}, "needs a 'grid:' and/or a 'random:' section, got neither"),
        ({"base": BASE, "grid": {"p": [1.5]}}, r"trial p=1.5: config: p must be in \[0, 1\], got 1.5"),
        ({"base": BASE, "random": {"n": 0, "params": {"p": {"uniform": [0, 1]}}}}, "random.n must be an integer >= 1, got 0"),
        ({"base": BASE, "random": {"n": 2, "params": {"p": {"unifrom": [0, 1]}}}}, r"got 'unifrom' \(did you mean 'uniform'\?\)"),
        ({"base": BASE, "random": {"n": 2, "params": {"lr": {"loguniform": [0, 1]}}}}, "loguniform low must be > 0, got 0"),
        ({"base": BASE, "grid": {"p": [0.1]}, "random": {"n": 2, "params": {"p": {"uniform": [0, 1]}}}}, "'p' is in both grid and random"),
        ({"base": BASE, "grid": {"p": [0.1]}, "executor": "rey"}, r"got 'rey' \(did you mean 'ray'\?\)"),
        ({"base": BASE, "grid": {"p": [0.1]}, "preset": "mnist1"}, r"got 'mnist1' \(did you mean 'mnist1d'\?\)"),
        ({"base": BASE, "grid": {"p": [0.1]}, "resources": {"cpu": 2}}, r"resources.cpu \(did you mean 'cpus'\?\)"),
    ],
)
def test_bad_sweep_files_raise_clear_errors(data: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_sweep(data)


def test_load_sweep_reads_yaml_and_names_the_sweep_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "my-sweep.yaml"
    path.write_text("base: {dataset: digits, steps: 5}\ngrid:\n  p: [0.1, 0.2]\n")
    spec = load_sweep(path)
    assert spec.name == "my-sweep" and len(spec.trials()) == 2
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_sweep(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_sweep(tmp_path / "bad.yaml")
