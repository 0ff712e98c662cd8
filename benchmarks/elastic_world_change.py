"""What a changed world size does to a run: 2 DDP ranks to 1 at step S, against the uninterrupted 2-rank run.

Under ``torchrun --nnodes 1:2`` a lost node leaves the survivor to resume the newest checkpoint alone,
which is exactly ``dropkit train --resume`` of that checkpoint on one process (tests/train/test_elastic.py
checks it bit for bit). This script trains ``dropkit train --nproc 2`` runs on ``digits`` (every
checkpoint kept), resumes each at step S on one process, and writes one CSV row per (p, seed, S): the
largest relative difference of a weight tensor and the final test accuracy and loss of both runs.
docs/guides/torchrun-elastic.md quotes the results.

    python benchmarks/elastic_world_change.py --out benchmarks/results/cpu/elastic_world_change.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from dropkit.cli.main import main  # noqa: E402
from dropkit.train.checkpoint import list_checkpoints  # noqa: E402

COLUMNS = ["p", "seed", "resume_step", "max_rel_weight_diff", "ref_test_acc", "changed_test_acc",
           "ref_test_loss", "changed_test_loss", "steps", "cpu", "torch", "git_sha", "date"]


def _flags(p: float, seed: int, steps: int) -> list[str]:
    return ["--dataset", "digits", "--hidden", "32", "--dropout", str(p), "--seed", str(seed), "--steps", str(steps),
            "--eval-every", "30", "--checkpoint-every", "10", "--keep-checkpoints", str(steps // 10 + 1),
            "--threads", "1", "--no-progress"]


def _final(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())["final"]


def _sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def main_(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default: 5)")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default: 300)")
    parser.add_argument("--resume-steps", default="20,150", help="steps S where the world size changes (default: 20,150)")
    parser.add_argument("--ps", default="0,0.5", help="dropout rates (default: 0,0.5)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(tempfile.mkdtemp(prefix="elastic-world-"))
    rows = []
    try:
        for p in [float(v) for v in args.ps.split(",")]:
            for seed in range(args.seeds):
                ref = work / f"ref-{p}-{seed}"
                assert main(["train", "--nproc", "2", "--out", str(ref), *_flags(p, seed, args.steps)]) == 0
                for s in [int(v) for v in args.resume_steps.split(",")]:
                    alone = work / f"alone-{p}-{seed}-{s}"
                    shutil.copytree(ref, alone)
                    for ckpt in list_checkpoints(alone / "checkpoints"):
                        if int(ckpt.stem[len("step_"):]) > s:
                            ckpt.unlink()
                    (alone / "model.safetensors").unlink()
                    assert main(["train", "--resume", "--out", str(alone)]) == 0
                    a, b = load_file(str(ref / "model.safetensors")), load_file(str(alone / "model.safetensors"))
                    rel = max(((a[k] - b[k]).norm() / a[k].norm()).item() for k in a)
                    fa, fb = _final(ref), _final(alone)
                    rows.append({
                        "p": p, "seed": seed, "resume_step": s, "max_rel_weight_diff": f"{rel:.3e}",
                        "ref_test_acc": fa["test_acc"], "changed_test_acc": fb["test_acc"],
                        "ref_test_loss": fa["test_loss"], "changed_test_loss": fb["test_loss"], "steps": args.steps,
                        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                        "git_sha": _sha(), "date": date.today().isoformat(),
                    })
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, args.out)
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main_()
