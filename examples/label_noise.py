"""Write a copy of Fashion-MNIST with a fraction of its training labels flipped, as ordinary IDX files.

The test split and the images are copied unchanged; each chosen training label is replaced by one of
the other nine classes, uniformly (symmetric label noise). The folder then trains with
``dropkit compare --dataset idx:FOLDER``; no checksum is enforced on ``idx:`` folders.

Usage:
    python examples/label_noise.py --out /tmp/fashion-noisy40 --fraction 0.4 --seed 0
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from dropkit.data import read_idx, write_idx
from dropkit.data.mnist import FASHION_MNIST

__all__ = ["flip_labels", "write_noisy_copy", "main"]


def flip_labels(labels: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """A copy of ``labels`` with ``round(fraction * N)`` of them, chosen at random, set to another class.

    Example:
        >>> import numpy as np
        >>> y = np.zeros(10, dtype=np.uint8)
        >>> int((flip_labels(y, 0.4, 10, seed=0) != y).sum())
        4
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"flip_labels: fraction must be in [0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    out = labels.copy()
    chosen = rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
    shift = rng.integers(1, num_classes, size=len(chosen))  # 1..K-1: never the same class
    out[chosen] = (labels[chosen].astype(np.int64) + shift) % num_classes
    return out


def write_noisy_copy(source: Path, out: Path, fraction: float, seed: int) -> float:
    """Copy the four Fashion-MNIST files from ``source`` to ``out`` with noisy training labels; return
    the fraction of training labels that differ from the originals."""
    out.mkdir(parents=True, exist_ok=True)
    spec = FASHION_MNIST
    for f in (spec.train_images, spec.test_images, spec.test_labels):
        shutil.copyfile(source / f.filename, out / f.filename)
    labels = read_idx(source / spec.train_labels.filename)
    noisy = flip_labels(labels, fraction, len(spec.class_names), seed)
    write_idx(out / spec.train_labels.filename, noisy.astype(np.uint8))
    (out / "classes.txt").write_text("\n".join(spec.class_names) + "\n")
    return float((noisy != labels).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"),
                        help="folder with the four Fashion-MNIST .gz files (default: Debian's)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the noisy copy into")
    parser.add_argument("--fraction", type=float, default=0.4, help="fraction of training labels flipped (default: 0.4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the flips (default: 0)")
    args = parser.parse_args(argv)
    changed = write_noisy_copy(args.source, args.out, args.fraction, args.seed)
    print(f"wrote {args.out}: {100 * changed:.1f}% of the training labels flipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
