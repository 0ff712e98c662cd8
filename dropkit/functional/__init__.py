"""Pure dropout functions, one file per method. ``p`` is always the probability of **dropping**."""

from dropkit.functional.dropout import dropout

__all__ = ["dropout"]

# Each section below belongs to one body of work; add imports and names in your own section only.
# --- element-wise and structured (CNN) ---
# --- recurrent ---
# --- transformer, learned and scheduled ---
