"""Named starting points for ``dropkit train --preset NAME``; flags and config files override them.

Each preset is a description and a mapping of config keys. Resolution order:
``Config`` defaults < preset < config file < command-line flags.
"""

from __future__ import annotations

from typing import Any

from dropkit._validation import check_choice

__all__ = ["PRESETS", "preset_values", "preset_names"]

PRESETS: dict[str, dict[str, Any]] = {
    "seed": {
        "description": "The seed's MLP 784-128-64-10, ReLU, dropout 0.5 after each hidden layer, Adam 1e-3, "
        "batch 100, 1000 steps, L2 on the weights (not on the logits)",
        "values": {
            "name": "seed",
            "dataset": "fashion-mnist",
            "model": "mlp",
            "hidden": [128, 64],
            "activation": "relu",
            "p": 0.5,
            "input_p": 0.0,
            "optimizer": "adam",
            "lr": 1e-3,
            "batch_size": 100,
            "steps": 1000,
            "epochs": None,
            "l2": 1e-5,
            "eval_every": 100,
        },
    },
    "mnist1d": {
        "description": "MNIST-1D MLP 40-256-256-10 with dropout 0.2 (the demo; no download needed)",
        "values": {
            "name": "mnist1d-mlp",
            "dataset": "mnist1d",
            "model": "mlp",
            "hidden": [256, 256],
            "p": 0.2,
            "optimizer": "adam",
            "lr": 1e-3,
            "batch_size": 100,
            "steps": None,
            "epochs": 200,
            "eval_every": 400,
        },
    },
    # --- cnn presets ---
    # --- rnn presets ---
    # --- transformer presets ---
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset_values(name: str) -> dict[str, Any]:
    """The config values of preset ``name`` (a copy)."""
    check_choice("preset", "name", name, preset_names())
    return dict(PRESETS[name]["values"])
