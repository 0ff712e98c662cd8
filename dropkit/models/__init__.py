"""Model builders selected by ``--model``; each registers itself in :mod:`dropkit.models.registry`."""

from dropkit.models.mlp import MLP, build_mlp
from dropkit.models.registry import build_model, model_names, register_model

__all__ = ["MLP", "build_mlp", "build_model", "model_names", "register_model"]

# --- cnn ---
# --- rnn ---
# --- transformer ---
