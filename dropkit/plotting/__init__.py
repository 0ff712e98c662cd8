"""Plots shared by ``compare``, ``report`` and ``uncertainty`` (matplotlib, Agg backend, no display)."""

from dropkit.plotting.learning_curves import plot_learning_curves

__all__ = ["plot_learning_curves"]
