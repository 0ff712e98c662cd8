"""Trainer overhead: ``dropkit train --preset seed`` against a hand-written PyTorch loop, in one run.

The three providers train the same network (784-128-64-10, dropout 0.5, Adam 1e-3, batch 100, 1000
steps, L2 on the weights) on the same in-memory data, one torch thread each, repeated and interleaved:

- ``dropkit``: ``train_run`` with the seed preset (progress bar, metrics, checkpoints, evaluations);
- ``hand_same_evals``: a plain loop that evaluates train-subset and test loss and accuracy at the same
  steps (step 0 included);
- ``hand_bare``: a plain loop with a single test evaluation at the end.

Overhead = dropkit / hand_same_evals - 1 (equal work); the bare loop is shown for scale.

Usage::

    python benchmarks/bench_trainer.py [--repeats 5] [--dataset fashion-mnist]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dropkit.data import load_dataset
from dropkit.train.config import Config
from dropkit.train.env_info import cpu_name, git_sha
from dropkit.train.presets import preset_values
from dropkit.train.trainer import train_run


def hand_loop(data, cfg: Config, eval_steps: set[int], n_sub: int) -> float:
    torch.manual_seed(cfg.seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128), nn.ReLU(), nn.Dropout(cfg.p),
        nn.Linear(128, 64), nn.ReLU(), nn.Dropout(cfg.p),
        nn.Linear(64, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x, y = data.train_x, data.train_y
    sub = torch.randperm(len(x))[:n_sub]
    sub_x, sub_y = x[sub], y[sub]
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]

    def accuracy(xs: torch.Tensor, ys: torch.Tensor) -> tuple[float, float]:
        # the same evaluation work as the trainer: loss and accuracy in eval mode
        model.eval()
        loss, correct = 0.0, 0
        with torch.inference_mode():
            for i in range(0, len(xs), 1000):
                logits = model(xs[i : i + 1000])
                loss += float(F.cross_entropy(logits, ys[i : i + 1000], reduction="sum"))
                correct += int((logits.argmax(1) == ys[i : i + 1000]).sum())
        model.train()
        return loss / len(xs), correct / len(xs)

    start = time.perf_counter()
    if eval_steps:  # the trainer also evaluates before the first step (the learning curve's origin)
        accuracy(sub_x, sub_y)
        accuracy(data.test_x, data.test_y)
    perm = torch.randperm(len(x))
    per_epoch = len(x) // cfg.batch_size
    for step in range(cfg.steps):
        if step % per_epoch == 0:
            perm = torch.randperm(len(x))
        idx = perm[(step % per_epoch) * cfg.batch_size : (step % per_epoch + 1) * cfg.batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx]) + cfg.l2 * sum(w.pow(2).sum() for w in weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        if step + 1 in eval_steps:
            accuracy(sub_x, sub_y)
            accuracy(data.test_x, data.test_y)
    accuracy(data.test_x, data.test_y)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--out", default="benchmarks/results/cpu/trainer.csv")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = Config(**{**preset_values("seed"), "dataset": args.dataset, "threads": 1, "progress": True})
    data = load_dataset(cfg.dataset)
    eval_steps = {s for s in range(1, cfg.steps + 1) if s % cfg.eval_every == 0}
    n_sub = min(cfg.eval_train_samples, data.num_train)
    times: dict[str, list[float]] = {"dropkit": [], "hand_same_evals": [], "hand_bare": []}
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train_run(cfg, Path(tmp) / "run", data=data)
            times["dropkit"].append(time.perf_counter() - start)
        times["hand_same_evals"].append(hand_loop(data, cfg, eval_steps, n_sub))
        times["hand_bare"].append(hand_loop(data, cfg, set(), n_sub))
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    overhead = med["dropkit"] / med["hand_same_evals"] - 1
    rows = []
    meta = {
        "cpu": cpu_name(),
        "threads": 1,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "git_sha": git_sha() or "",
        "date": datetime.date.today().isoformat(),
        "dataset": cfg.dataset,
        "steps": cfg.steps,
    }
    for k, v in times.items():
        rows.append({"provider": k, "median_s": f"{med[k]:.3f}", "min_s": f"{min(v):.3f}", "max_s": f"{max(v):.3f}", "repeats": len(v), **meta})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{'provider':<18}{'median s':>10}{'min s':>8}{'max s':>8}")
    for row in rows:
        print(f"{row['provider']:<18}{row['median_s']:>10}{row['min_s']:>8}{row['max_s']:>8}")
    print(f"trainer overhead vs the same loop by hand: {100 * overhead:+.1f}%  "
          f"(vs the bare loop: {100 * (med['dropkit'] / med['hand_bare'] - 1):+.1f}%)  -> {out}")


if __name__ == "__main__":
    main()
