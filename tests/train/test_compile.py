"""``compile: true`` (``dropkit train --compile true``): Inductor on the training forward.

A compiled run is reproducible and resumes bit-identically (Inductor draws its masks from the
generator the checkpoint restores), records the measured drop rate, writes the eager model's keys,
and compiles a fixed number of graphs however long the run and however often the scheduled rate changes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dropkit.cli.main import main
from dropkit.train.run_dir import read_config, read_metrics

# 60 steps of 100 on 1437 digits: the batch size changes at the epoch's last batch (37 rows).
FLAGS = ["--dataset", "digits", "--hidden", "32", "--p", "0.5", "--steps", "60", "--eval-every", "20",
         "--checkpoint-every", "40", "--p-schedule", "linear", "--threads", "2", "--no-progress"]


def _graphs() -> int:
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


def _same(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.xdist_group("compile")
def test_compiled_run_is_reproducible_resumable_and_compiles_a_bounded_number_of_graphs(tmp_path: Path) -> None:
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    assert main(["train", *FLAGS, "--compile", "true", "--out", str(tmp_path / "a")]) == 0
    # Graphs: the first batch size, the dynamic one after the epoch's short batch, the rate as a symbol
    # after the schedule's first change, and the forward that records the measured rate.
    graphs = _graphs()
    assert 1 <= graphs <= 4, graphs
    assert read_config(tmp_path / "a").compile is True
    rows = read_metrics(tmp_path / "a")
    assert [r["step"] for r in rows] == [0, 20, 40, 60]
    for r in rows[1:]:  # recorded under compile too; binomial bound on the dropped fraction of 100 x 32 units
        assert abs(r["p_measured"] - r["p"]) < 5 * (r["p"] * (1 - r["p"]) / 3200) ** 0.5 + 1e-9
    assert rows[-1]["test_acc"] > 0.3  # it learns (chance: 0.1)

    # The same config again: the same weights, and no new graph.
    assert main(["train", *FLAGS, "--compile", "true", "--out", str(tmp_path / "b")]) == 0
    assert _same(tmp_path / "a", tmp_path / "b")
    assert _graphs() == graphs

    # Resume from step 40 as after a crash: the same weights as the uninterrupted run.
    resumed = tmp_path / "c"
    shutil.copytree(tmp_path / "a", resumed)
    (resumed / "checkpoints/step_00000060.safetensors").unlink()
    (resumed / "model.safetensors").unlink()
    (resumed / "summary.json").write_text(json.dumps({"status": "running", "step": 40}))
    assert main(["train", "--resume", "--out", str(resumed)]) == 0
    assert _same(tmp_path / "a", resumed)
    assert _graphs() == graphs

    # The eager run writes the same keys (no "_orig_mod." prefix) and refuses to resume a compiled one.
    assert main(["train", *FLAGS, "--out", str(tmp_path / "e")]) == 0
    assert load_file(str(tmp_path / "e/model.safetensors")).keys() == load_file(str(tmp_path / "a/model.safetensors")).keys()
    assert main(["train", "--resume", "--compile", "false", "--out", str(resumed)]) == 2
