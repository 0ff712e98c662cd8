"""``nn.Module`` twins of :mod:`dropkit.functional`; they validate hyper-parameters at construction."""

from dropkit.nn.dropout import Dropout

__all__ = ["Dropout"]

# Each section below belongs to one body of work; add imports and names in your own section only.
# --- element-wise and structured (CNN) ---
# --- recurrent ---
# --- transformer, learned and scheduled ---
