"""DDP on CPU (gloo), two ranks on ``digits``: ranks draw different dropout masks, a restart redraws the
same ones, the ranks end with equal weights, a rerun (and a torchrun launch) ends with the same weights."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import dropkit.train.trainer as trainer
from dropkit.cli.main import main
from dropkit.train.distributed import DistContext, current_context, leave_process_group, rank_seed
from dropkit.data import load_dataset
from dropkit.train.run_dir import load_model, read_config, read_metrics

pytestmark = pytest.mark.xdist_group("ddp")

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--dataset", "digits", "--hidden", "32", "--p", "0.5", "--steps", "60", "--eval-every", "20", "--no-progress"]


@pytest.fixture
def record(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Make every rank (forked from this process) save its dropout masks and final weights under ``rec/``."""
    rec = tmp_path / "rec"
    rec.mkdir()
    build = trainer.build_model
    summary = trainer._summary

    def build_and_hook(*args: object, **kwargs: object) -> torch.nn.Module:
        model = build(*args, **kwargs)
        rank = int(os.environ.get("RANK", "0"))
        masks: list[tuple[torch.Tensor, torch.Tensor]] = []

        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
            if module.training:
                x = inputs[0]
                masks.append(((x != 0).clone(), ((output == 0) & (x != 0)).clone()))  # (nonzero in, dropped)
                torch.save(masks, rec / f"masks{rank}.pt")

        trainer.dropout_layers(model)[0].register_forward_hook(hook)
        eval_rows = [0]

        def count_eval_rows(module: torch.nn.Module, inputs: tuple[torch.Tensor]) -> None:
            if not module.training:
                eval_rows[0] += len(inputs[0])
                torch.save(eval_rows[0], rec / f"evalrows{rank}.pt")

        model.register_forward_pre_hook(count_eval_rows)
        return model

    def summary_and_save(*args: object) -> dict:
        model = args[7]
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, rec / f"final{os.environ.get('RANK', '0')}.pt")  # type: ignore[attr-defined]
        return summary(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer, "build_model", build_and_hook)
    monkeypatch.setattr(trainer, "_summary", summary_and_save)
    return rec


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _strip(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


def test_two_ranks_train_with_their_own_masks_and_end_equal(tmp_path: Path, record: Path) -> None:
    run = tmp_path / "a"
    assert main(["train", "--nproc", "2", "--out", str(run), *FLAGS]) == 0
    final = load_file(str(run / "model.safetensors"))
    w0, w1 = torch.load(record / "final0.pt"), torch.load(record / "final1.pt")
    assert _equal(w0, w1) and _equal(w0, final)  # DDP kept the replicas equal
    m0, m1 = torch.load(record / "masks0.pt"), torch.load(record / "masks1.pt")
    assert len(m0) == len(m1) == 60
    for (nz0, d0), (nz1, d1) in zip(m0, m1):
        n = min(len(d0), len(d1))  # shards of an uneven last batch differ by one row
        nz0, d0, nz1, d1 = nz0[:n], d0[:n], nz1[:n], d1[:n]
        both = nz0 & nz1  # units that reached dropout non-zero on both ranks
        m = int(both.sum())
        differ = (d0[both] != d1[both]).double().mean().item()
        # Independent masks with p = 0.5 disagree on a unit with probability 2 p (1 - p) = 1/2, so the count
        # of disagreements is Binomial(m, 1/2); equal seeds would give exactly 0.
        assert abs(differ - 0.5) <= 6 * math.sqrt(0.25 / m)
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [0, 20, 40, 60] and rows[-1]["test_acc"] > 0.3
    # Each rank evaluated half the rows; the all-reduced numbers equal one process on all of it.
    _, model = load_model(run)
    data = load_dataset("digits")
    per_eval = len(data.test_x) + len(data.train_x)  # test set + the train subset (all 1437 rows here)
    assert torch.load(record / "evalrows0.pt") + torch.load(record / "evalrows1.pt") == 4 * per_eval
    assert abs(torch.load(record / "evalrows0.pt") - torch.load(record / "evalrows1.pt")) <= 4
    loss, acc = trainer.evaluate(model, data.test_x, data.test_y, 1000)
    assert rows[-1]["test_acc"] == acc and abs(rows[-1]["test_loss"] - loss) < 1e-6  # float32 per-batch sums
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 60
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000040.safetensors", "step_00000060.safetensors"]

    # A rerun draws the same masks and ends with the same weights.
    saved = {r: torch.load(record / f"masks{r}.pt") for r in (0, 1)}
    assert main(["train", "--nproc", "2", "--out", str(tmp_path / "b"), *FLAGS]) == 0
    assert _equal(load_file(str(tmp_path / "b/model.safetensors")), final)
    for r in (0, 1):
        again = torch.load(record / f"masks{r}.pt")
        assert all(torch.equal(a[1], b[1]) for a, b in zip(again, saved[r]))
    assert _strip(read_metrics(tmp_path / "b")) == _strip(rows)

    # Resume from the step-40 checkpoint, as after a crash: the ranks redraw the masks of steps 40-59
    # and end with the same weights and metrics as the uninterrupted run.
    resumed = tmp_path / "c"
    shutil.copytree(run, resumed)
    (resumed / "checkpoints/step_00000060.safetensors").unlink()
    (resumed / "model.safetensors").unlink()
    (resumed / "summary.json").write_text(json.dumps({"status": "running", "step": 40}))
    assert main(["train", "--nproc", "2", "--resume", "--out", str(resumed)]) == 0
    assert _equal(load_file(str(resumed / "model.safetensors")), final)
    for r in (0, 1):
        tail = torch.load(record / f"masks{r}.pt")
        assert len(tail) == 20
        assert all(torch.equal(a[1], b[1]) for a, b in zip(tail, saved[r][40:]))
    assert _strip(read_metrics(resumed)) == _strip(rows)
    assert json.loads((resumed / "summary.json").read_text())["status"] == "completed"


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="needs torchrun")
def test_torchrun_launch_matches_nproc(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), "OMP_NUM_THREADS": "1",
           "PYTHONFAULTHANDLER": "1"}  # a crashing rank prints every thread's Python stack
    # --standalone: torchrun picks and holds a free port itself (a port chosen here could be taken by
    # another test's process before torchrun binds it).
    cmd = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "dropkit.cli.main"]  # type: ignore[list-item]
    # torchrun (2.14) matches abbreviated options anywhere on its command line, the script's too: "--p" is
    # ambiguous beside its --print-completion, so the rate comes in a config file (docs/guides/sweeps.md)
    i = FLAGS.index("--p")
    (tmp_path / "p.json").write_text(json.dumps({"p": float(FLAGS[i + 1])}))
    flags = [*FLAGS[:i], *FLAGS[i + 2:], "--config", str(tmp_path / "p.json")]
    res = subprocess.run([*cmd, "train", "--out", str(tmp_path / "tr"), "--threads", "1", *flags], env=env, capture_output=True, text=True, timeout=240)
    # Failures print both streams: rank 1 aborted in teardown in full parallel runs, never alone; ranks
    # now end with exit_rank (os._exit after flushing).
    report = f"torchrun exit {res.returncode}\n--- stdout ---\n{res.stdout[-2000:]}\n--- stderr ---\n{res.stderr[-3000:]}"
    assert res.returncode == 0, report
    assert res.stdout.count("test accuracy") == 1, report  # rank 0 reports, rank 1 stays quiet
    assert main(["train", "--nproc", "2", "--out", str(tmp_path / "np"), *FLAGS]) == 0, "dropkit train --nproc 2 failed"
    torchrun_model = load_file(str(tmp_path / "tr/model.safetensors"))
    nproc_model = load_file(str(tmp_path / "np/model.safetensors"))
    assert _equal(torchrun_model, nproc_model), "torchrun and --nproc runs trained different weights"


def test_ddp_with_compile_trains_and_each_rank_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.compile around DistributedDataParallel (Dynamo's DDP optimizer splits the graph at buckets);
    # evaluation and the saved weights go through the eager module, so the keys are the usual ones.
    # This process trains compiled first, with a cold cache, so it holds Inductor's compile workers: ranks
    # forked from it waited forever on their first compile (seen in CI); they are spawned now.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    assert main(["train", "--compile", "true", "--threads", "2", "--out", str(tmp_path / "single"), *FLAGS]) == 0
    assert main(["train", "--nproc", "2", "--compile", "true", "--out", str(tmp_path / "c"), *FLAGS]) == 0
    rows = read_metrics(tmp_path / "c")
    assert [r["step"] for r in rows] == [0, 20, 40, 60] and rows[-1]["test_acc"] > 0.3
    assert all(abs(r["p_measured"] - 0.5) < 0.1 for r in rows[1:])
    weights = load_file(str(tmp_path / "c/model.safetensors"))
    assert sorted(weights) == sorted(trainer.build_model(read_config(tmp_path / "c"), (64,), 10).state_dict())
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_exit_rank_flushes_output_and_skips_teardown(tmp_path: Path) -> None:
    code = (
        "import atexit, logging, sys\n"
        "from dropkit.train.distributed import exit_rank\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "logging.basicConfig(stream=sys.stderr)\n"
        "print('result', end='')\n"  # buffered: a pipe, no newline
        "logging.getLogger('dropkit').warning('logged')\n"
        "exit_rank(3)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 3
    assert res.stdout == "result"  # flushed, and no interpreter teardown (atexit did not run)
    assert "logged" in res.stderr


def test_leave_process_group_tears_down_once(tmp_path: Path) -> None:
    # The torchrun path leaves the group before exit (a rank exiting with gloo's threads alive
    # aborted in CI); leaving twice, or without a group, is a no-op.
    leave_process_group()
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        assert current_context().world_size == 1 and torch.distributed.is_initialized()
    finally:
        leave_process_group()
    assert not torch.distributed.is_initialized()
    leave_process_group()
    assert current_context() == DistContext()


def test_rank_seeds_and_shards() -> None:
    ctx = DistContext(rank=1, world_size=2)
    idx = torch.arange(7)
    assert ctx.shard(idx).tolist() == [4, 5, 6] and DistContext(0, 2).shard(idx).tolist() == [0, 1, 2, 3]
    loss = torch.tensor(2.0)
    assert ctx.scale_loss(loss, 3, 7).item() == pytest.approx(2.0 * 2 * 3 / 7)
    assert ctx.scale_loss(torch.tensor(float("nan")), 0, 1).item() == 0.0  # an empty shard adds nothing
    assert DistContext().scale_loss(loss, 3, 7) is loss and DistContext().shard(idx) is idx
    seeds = {rank_seed(0, r, s) for r in range(4) for s in range(1000)}
    assert len(seeds) == 4000 and all(0 <= x < 2**63 for x in seeds)
    assert current_context() == DistContext()  # no process group in this process


def test_nproc_must_be_positive_and_ddp_needs_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--nproc", "2", *FLAGS]) == 2
    assert "need --out DIR" in capsys.readouterr().err
    assert main(["train", "--nproc", "0", "--out", str(tmp_path / "x"), *FLAGS]) == 2
    assert "--nproc must be an integer >= 1, got 0" in capsys.readouterr().err
