"""MkDocs hook: numbers the documentation quotes are checked against the committed files they come from.

Each claim names a page, the sentence fragment it must contain, and how to compute that fragment from a
results file (a run folder's ``metrics.json``, a sweep's ``aggregate.csv``, a benchmark CSV). A page
whose number no longer matches its source is a build warning, an error under ``mkdocs build --strict``.
Run alone, ``python docs/hooks/check_numbers.py`` prints the problems and exits non-zero if any.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.check_numbers")

ROOT = Path(__file__).resolve().parents[2]


def _json(path: str) -> Callable[[Path], Any]:
    return lambda root: json.loads((root / path).read_text())


def _csv(path: str) -> Callable[[Path], list[dict[str, str]]]:
    def read(root: Path) -> list[dict[str, str]]:
        with open(root / path, newline="") as f:
            return list(csv.DictReader(f))

    return read


def _row(rows: list[dict[str, str]], **match: str) -> dict[str, str]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    if len(found) != 1:
        raise LookupError(f"expected one row with {match}, found {len(found)}")
    return found[0]


@dataclass(frozen=True)
class Claim:
    """``pages`` must each contain ``fragment(source(root))``."""

    pages: tuple[str, ...]
    source: str
    read: Callable[[Path], Any]
    fragment: Callable[[Any], str]


_UNC = "docs/uncertainty-fashion-cnn/metrics.json"
_RATES = "docs/reproduction/mnist1d-rates/aggregate.csv"
_COMPARE = "docs/fashion-mlp-compare/compare.json"
_LORA = "benchmarks/results/cpu/lora_dropout.csv"


_SPEECH = "docs/speech"


def _speech_compares(root: Path) -> list[dict[str, Any]]:
    """The ``compare.json`` of ``dropkit compare --preset speech-digits --seed S`` for every recorded seed."""
    folders = sorted((root / _SPEECH).glob("seed*/compare.json"))
    if len(folders) < 3:
        raise LookupError(f"expected at least 3 seeds under {_SPEECH}, found {len(folders)}")
    return [json.loads(f.read_text()) for f in folders]


def _t95(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval (the one ``dropkit sweep`` reports)."""
    if str(ROOT) not in sys.path:  # run alone from another folder: this checkout's dropkit
        sys.path.insert(0, str(ROOT))
    from dropkit.sweep.aggregate import t_interval

    mean, _, low, high = t_interval(values)
    return mean, low, high


def _speech_claim(compares: list[dict[str, Any]]) -> str:
    on = [c["results"][next(k for k in c["results"] if k != "no dropout")]["test_acc"] for c in compares]
    off = [c["results"]["no dropout"]["test_acc"] for c in compares]
    diff = [100 * (a - b) for a, b in zip(on, off)]
    (m0, l0, h0), (m1, l1, h1), (md, ld, hd) = _t95(off), _t95(on), _t95(diff)
    return (f"no dropout {m0:.3f} [{l0:.3f}, {h0:.3f}], dropout {m1:.3f} [{l1:.3f}, {h1:.3f}]; "
            f"difference {md:+.1f} points [{ld:+.1f}, {hd:+.1f}]")


def _clean(m: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in m["conditions"] if c["shift"] == "none")


def _rate(rows: list[dict[str, str]], p: str) -> str:
    return f"{float(_row(rows, p=p)['test_acc_mean']):.3f}"


CLAIMS: tuple[Claim, ...] = (
    Claim(("docs/speech.md",), _SPEECH, _speech_compares, _speech_claim),
    Claim(("docs/uncertainty.md",), _UNC, _json(_UNC),
          lambda m: f"NLL from {_clean(m)['deterministic']['nll']:.4f} to {_clean(m)['mc']['nll']:.4f} and ECE from "
                    f"{_clean(m)['deterministic']['ece']:.4f} to {_clean(m)['mc']['ece']:.4f}"),
    Claim(("docs/gallery/mc-dropout.md",), _UNC, _json(_UNC),
          lambda m: f"NLL {_clean(m)['deterministic']['nll']:.4f} → {_clean(m)['mc']['nll']:.4f}, ECE "
                    f"{_clean(m)['deterministic']['ece']:.4f} → {_clean(m)['mc']['ece']:.4f}, accuracy "
                    f"{_clean(m)['deterministic']['accuracy']:.4f} → {_clean(m)['mc']['accuracy']:.4f}"),
    Claim(("docs/uncertainty.md", "docs/gallery/mc-dropout.md"), _UNC, _json(_UNC),
          lambda m: f"AUROC {m['ood']['mc']['entropy']['auroc']:.3f}"),
    Claim(("docs/guides/sweeps.md",), _RATES, _csv(_RATES),
          lambda rows: f"rises from {_rate(rows, '0.0')} at p = 0 to {_rate(rows, '0.2')} at p = 0.2 "
                       f"({_rate(rows, '0.3')} at 0.3) and falls beyond it ({_rate(rows, '0.7')} at 0.7)"),
    Claim(("docs/gallery/dropout.md",), _RATES, _csv(_RATES),
          lambda rows: f"{_rate(rows, '0.0')} at p = 0, {_rate(rows, '0.2')} at p = 0.2, {_rate(rows, '0.3')} at "
                       f"p = 0.3, {_rate(rows, '0.7')} at p = 0.7"),
    Claim(("docs/guides/cli.md",), _COMPARE, _json(_COMPARE),
          lambda c: f"gap {100 * c['results']['no dropout']['gap']:.1f} → {100 * c['results']['dropout p=0.5']['gap']:.1f} points"),
    Claim(("docs/guides/usage.md", "docs/gallery/dropout-linear.md"), _LORA, _csv(_LORA),
          lambda rows: f"{float(_row(rows, provider='peft p=0.1')['saved_mb']):.0f} MB"),
    Claim(("docs/guides/usage.md", "docs/gallery/dropout-linear.md"), _LORA, _csv(_LORA),
          lambda rows: f"{float(_row(rows, provider='peft p=0.1 + fuse_lora_dropout')['saved_mb']):.0f} MB"),
)


def check(root: Path = ROOT, claims: tuple[Claim, ...] = CLAIMS) -> list[str]:
    """Every mismatch between a page and its source, as a sentence (empty: all numbers match)."""
    problems = []
    for claim in claims:
        try:
            expected = claim.fragment(claim.read(root))
        except (OSError, KeyError, LookupError, ValueError, StopIteration) as exc:
            problems.append(f"{claim.source}: cannot compute the quoted number ({type(exc).__name__}: {exc})")
            continue
        for page in claim.pages:
            text = " ".join((root / page).read_text().split())  # line breaks in a sentence do not matter
            if expected not in text:
                problems.append(f"{page}: expected {expected!r} (from {claim.source}), not found")
    return problems


def on_pre_build(config: Any) -> None:
    for problem in check(Path(config.config_file_path).parent):
        log.warning("check_numbers: %s", problem)


if __name__ == "__main__":
    found = check()
    print("\n".join(found) or f"{len(CLAIMS)} claims match their sources")
    sys.exit(1 if found else 0)
