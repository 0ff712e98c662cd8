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
        "description": "The seed's Fashion-MNIST MLP 784-128-64-10, ReLU, dropout 0.5 after each hidden layer, Adam 1e-3, "
        "batch 100, 1000 steps, L2 on the weights (not on the logits)",
        "values": {
            "val_fraction": 0.0,  # its published numbers were measured on all the training data
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
            "threads": 1,
        },
    },
    "mnist1d": {
        "description": "MNIST-1D MLP 40-256-256-10 with dropout 0.3, Adam 1e-3, batch 100, 200 epochs (the demo; no download; ~15 s on 2 CPU cores; 10% of the training data held out for validation; test 0.622 -> 0.707 vs no dropout over 3 seeds)",
        "values": {
            "name": "mnist1d-mlp",
            "dataset": "mnist1d",
            "model": "mlp",
            "hidden": [256, 256],
            "p": 0.3,
            "optimizer": "adam",
            "lr": 1e-3,
            "batch_size": 100,
            "steps": None,
            "epochs": 200,
            "eval_every": 400,
            "threads": 1,
        },
    },
    "fashion-mlp": {
        "description": "Fashion-MNIST MLP 784-1024-1024-10, ReLU, input dropout 0.1, hidden dropout 0.3, Adam 1e-3 "
        "cosine, batch 128, 20 epochs: test 0.902 (scikit-learn's best MLP 0.871), ~5 min on 2 CPU cores",
        "values": {
            "val_fraction": 0.0,  # its published numbers were measured on all the training data
            "name": "fashion-mlp",
            "dataset": "fashion-mnist",
            "model": "mlp",
            "hidden": [1024, 1024],
            "activation": "relu",
            "input_p": 0.1,
            "p": 0.3,
            "optimizer": "adam",
            "lr": 1e-3,
            "lr_schedule": "cosine",
            "batch_size": 128,
            "steps": None,
            "epochs": 20,
            "eval_every": 625,
        },
    },
    # --- cnn presets ---
    "fashion-cnn": {
        "description": "Fashion-MNIST CNN 16-32-64 (3x3, BatchNorm, DropBlock 0.05 after each block), FC 512 + "
        "dropout 0.3, Adam 2e-3 cosine, batch 128, 12 epochs: test 0.926, ~12 min on 2 CPU cores",
        "values": {
            "val_fraction": 0.0,  # its published numbers were measured on all the training data
            "name": "fashion-cnn",
            "dataset": "fashion-mnist",
            "model": "cnn",
            "channels": [16, 32, 64],
            "kernel_size": 3,
            "batch_norm": True,
            "conv_dropout": "block",
            "conv_p": 0.05,
            "block_size": 3,
            "fc_hidden": 512,
            "p": 0.3,
            "optimizer": "adam",
            "lr": 2e-3,
            "lr_schedule": "cosine",
            "batch_size": 128,
            "steps": None,
            "epochs": 12,
            "eval_every": 469,
        },
    },
    "mnist1d-cnn": {
        "description": "MNIST-1D CNN 32-64-64 (kernel 5, BatchNorm, channel dropout 0.1), FC 128 + dropout 0.3, "
        "Adam 2e-3, batch 100, 1500 steps: test 0.981 (paper CNN 94 +/- 2), < 1 min on 2 CPU cores",
        "values": {
            "val_fraction": 0.0,  # its published numbers were measured on all the training data
            "name": "mnist1d-cnn",
            "dataset": "mnist1d",
            "model": "cnn",
            "channels": [32, 64, 64],
            "kernel_size": 5,
            "batch_norm": True,
            "conv_dropout": "channel",
            "conv_p": 0.1,
            "fc_hidden": 128,
            "p": 0.3,
            "optimizer": "adam",
            "lr": 2e-3,
            "batch_size": 100,
            "steps": 1500,
            "epochs": None,
            "eval_every": 100,
        },
    },
    # --- rnn presets ---
    "fashion-rnn": {
        "description": "Fashion-MNIST row-sequential GRU (28 steps of 28 pixels), 128 units, locked input dropout "
        "0.1, weight drop 0.2, head dropout 0.2, Adam 2e-3 cosine, grad clip 1, batch 128, 15 epochs: "
        "test 0.892 (seed 1: 0.893), ~3 min on 2 CPU cores",
        "values": {
            "val_fraction": 0.0,  # its published numbers were measured on all the training data
            "name": "fashion-rnn",
            "dataset": "fashion-mnist",
            "model": "rnn",
            "rnn_cell": "gru",
            "rnn_hidden": 128,
            "rnn_layers": 1,
            "rnn_input_p": 0.1,
            "weight_drop": 0.2,
            "p": 0.2,
            "optimizer": "adam",
            "lr": 2e-3,
            "lr_schedule": "cosine",
            "grad_clip": 1.0,
            "batch_size": 128,
            "steps": None,
            "epochs": 15,  # 10 epochs under-fit (train 0.897, test 0.883-0.886 over seeds)
            "eval_every": 703,
        },
    },
    "mnist1d-gru": {
        "description": "MNIST-1D GRU (40 steps of 1 value), 128 units, weight drop 0.2, head dropout 0.1, "
        "Adam 3e-3 cosine, grad clip 1, batch 100, 2000 steps: test 0.977 (paper GRU 91 +/- 2), "
        "~2 min on 2 CPU cores",
        "values": {
            "val_fraction": 0.0,  # its published numbers were measured on all the training data
            "name": "mnist1d-gru",
            "dataset": "mnist1d",
            "model": "rnn",
            "rnn_cell": "gru",
            "rnn_hidden": 128,
            "rnn_layers": 1,
            "weight_drop": 0.2,
            "p": 0.1,
            "optimizer": "adam",
            "lr": 3e-3,
            "lr_schedule": "cosine",
            "grad_clip": 1.0,
            "batch_size": 100,
            "steps": 2000,
            "epochs": None,
            "eval_every": 100,
        },
    },
    # --- transformer presets ---
    "mnist1d-transformer": {
        "description": "MNIST-1D transformer (10 tokens of 4 values, width 64, 4 heads, depth 4, CLS pooling), "
        "attention / residual dropout 0.1, DropPath 0.1, AdamW 1e-3 cosine, batch 100, 1500 steps: "
        "test 0.90, ~1 min on 2 CPU cores",
        "values": {
            "val_fraction": 0.0,  # its published numbers were measured on all the training data
            "name": "mnist1d-transformer",
            "dataset": "mnist1d",
            "model": "transformer",
            "d_model": 64,
            "heads": 4,
            "depth": 4,
            "patch": 4,
            "mlp_ratio": 2.0,
            "pool": "cls",
            "attn_p": 0.1,
            "resid_p": 0.1,
            "drop_path": 0.1,
            "optimizer": "adamw",
            "lr": 1e-3,
            "weight_decay": 0.05,
            "lr_schedule": "cosine",
            "grad_clip": 1.0,
            "batch_size": 100,
            "steps": 1500,
            "epochs": None,
            "eval_every": 100,
        },
    },
    # --- text presets ---
    "shakespeare-gpt-cpu": {
        "description": "nanoGPT's CPU recipe on shakespeare-char: GPT 4 layers, 4 heads, width 128, context 64, "
        "batch 12, 2000 steps, AdamW 1e-3 (beta2 0.99), 100 warm-up steps, cosine to 1e-4, weight decay 0.1, grad clip 1, dropout 0 "
        "(nanoGPT: val loss 1.88 on TinyShakespeare): val 1.875 on the complete works, ~19 min on 2 busy CPU cores",
        "values": {
            "name": "shakespeare-gpt-cpu",
            "dataset": "shakespeare-char",
            "model": "gpt",
            "d_model": 128,
            "heads": 4,
            "depth": 4,
            "mlp_ratio": 4.0,
            "context_length": 64,
            "emb_p": 0.0,
            "attn_p": 0.0,
            "resid_p": 0.0,
            "drop_path": 0.0,
            "p": 0.0,
            "optimizer": "adamw",
            "lr": 1e-3,
            "min_lr": 1e-4,
            "warmup_steps": 100,
            "adam_beta2": 0.99,
            "weight_decay": 0.1,
            "lr_schedule": "cosine",
            "grad_clip": 1.0,
            "batch_size": 12,
            "steps": 2000,
            "epochs": None,
            "eval_every": 400,
            "eval_windows": 500,
            "eval_batch_size": 4096,
            "threads": 1,
        },
    },
    "shakespeare-gpt-overfit": {
        "description": "shakespeare-char, first 10,000 characters only (9k train / 1k val; the GPT over-fits): GPT 2 "
        "layers, 4 heads, width 128, context 64, batch 12, 1500 steps, AdamW 3e-3 (beta2 0.99), 50 warm-up steps, "
        "cosine to 1e-4; embedding, attention and residual dropout 0.2 (nanoGPT's GPU value): dropkit compare over "
        "3 seeds, val loss 2.24 vs 4.38 without dropout, ~14 min per seed",
        "values": {
            "name": "shakespeare-gpt-overfit",
            "dataset": "shakespeare-char",
            "max_chars": 10000,
            "model": "gpt",
            "d_model": 128,
            "heads": 4,
            "depth": 2,
            "mlp_ratio": 4.0,
            "context_length": 64,
            "emb_p": 0.2,
            "attn_p": 0.2,
            "resid_p": 0.2,
            "drop_path": 0.0,
            "p": 0.0,
            "optimizer": "adamw",
            "lr": 3e-3,
            "min_lr": 1e-4,
            "warmup_steps": 50,
            "adam_beta2": 0.99,
            "weight_decay": 0.1,
            "lr_schedule": "cosine",
            "grad_clip": 1.0,
            "batch_size": 12,
            "steps": 1500,
            "epochs": None,
            "eval_every": 100,
            "eval_batch_size": 4096,
            "threads": 1,
        },
    },
    "shakespeare-awd-lstm": {
        "description": "shakespeare-char, first 10,000 characters only (9k train / 1k val; the LSTM over-fits): "
        "AWD-LSTM 2 layers (256, then 128 tied to the 128-dim embedding), context 64, batch 12, 800 steps, Adam 3e-3 "
        "cosine, grad clip 0.25; embedding dropout 0.1, locked dropout in 0.1 / between 0.2 / out 0.25, weight drop "
        "0.4, AR 2, TAR 1 (Merity et al. 2017): dropkit compare over 3 seeds, val 2.81 vs 3.61 bits/char without "
        "dropout, ~10 min per seed",
        "values": {
            "name": "shakespeare-awd-lstm",
            "dataset": "shakespeare-char",
            "max_chars": 10000,
            "model": "lstm-lm",
            "emb_dim": 128,
            "rnn_hidden": 256,
            "rnn_layers": 2,
            "tie_weights": True,
            "context_length": 64,
            "emb_p": 0.1,
            "lm_input_p": 0.1,
            "lm_hidden_p": 0.2,
            "lm_output_p": 0.25,
            "weight_drop": 0.4,
            "ar_alpha": 2.0,
            "tar_beta": 1.0,
            "p": 0.0,
            "optimizer": "adam",
            "lr": 3e-3,
            "lr_schedule": "cosine",
            "grad_clip": 0.25,
            "batch_size": 12,
            "steps": 800,
            "epochs": None,
            "eval_every": 80,
            "eval_batch_size": 4096,
            "threads": 1,
        },
    },
    # --- speech presets ---
    "speech-digits": {
        "description": "espeak-digits (ten digits spoken by espeak-ng voices; the 32 test voices are unheard in "
        "training): bidirectional LSTM, 3 layers of 64 units per direction, mean over time; locked dropout 0.2 on "
        "the input and 0.4 between layers, weight drop 0.4, head dropout 0.4; Adam 2e-3 cosine, grad clip 1, "
        "batch 32, 600 steps: dropkit compare over 5 seeds, test 0.964 vs 0.945 without dropout, 0.5-3 min per run "
        "on 2 busy CPU cores",
        "values": {
            "name": "speech-digits",
            "dataset": "espeak-digits",
            "model": "speech-rnn",
            "rnn_cell": "lstm",
            "rnn_hidden": 64,
            "rnn_layers": 3,
            "rnn_input_p": 0.2,
            "speech_hidden_p": 0.4,
            "rnn_recurrent_p": 0.0,
            "weight_drop": 0.4,
            "p": 0.4,
            "spec_time_masks": 0,
            "spec_freq_masks": 0,
            "optimizer": "adam",
            "lr": 2e-3,
            "lr_schedule": "cosine",
            "grad_clip": 1.0,
            "batch_size": 32,
            "steps": 600,
            "epochs": None,
            "eval_every": 60,
            "threads": 1,
        },
    },
}
_SPEECH_OFF = {"name": "speech-digits-nodrop", "rnn_input_p": 0.0, "speech_hidden_p": 0.0, "weight_drop": 0.0, "p": 0.0}
PRESETS["speech-digits-nodrop"] = {
    "description": "speech-digits without any dropout (the same bidirectional LSTM, espeak-digits data and schedule): the "
    "baseline that over-fits its training voices",
    "values": {**PRESETS["speech-digits"]["values"], **_SPEECH_OFF},
}


def preset_names() -> list[str]:
    """Names of the built-in presets, sorted."""
    return sorted(PRESETS)


def preset_values(name: str) -> dict[str, Any]:
    """The config values of preset ``name`` (a copy)."""
    check_choice("preset", "name", name, preset_names())
    return dict(PRESETS[name]["values"])
