"""Sweeps: many trials from one sweep file (grid and random search), run locally or on Ray.

``dropkit sweep FILE.yaml`` parses the file (:mod:`dropkit.sweep.spec`), expands it into trials with
stable ids (:mod:`dropkit.sweep.trial`), runs the unfinished ones (:mod:`dropkit.sweep.local`,
:mod:`dropkit.sweep.ray_executor`) and writes one results row per trial and an aggregate over seeds
(:mod:`dropkit.sweep.results`, :mod:`dropkit.sweep.aggregate`). The folder layout is in
:mod:`dropkit.sweep.runner`.
"""

from dropkit.sweep.aggregate import aggregate, t_interval
from dropkit.sweep.results import read_table
from dropkit.sweep.runner import SweepOutcome, default_sweep_dir, run_sweep
from dropkit.sweep.sampling import sample_params
from dropkit.sweep.spec import SweepSpec, load_sweep, parse_sweep
from dropkit.sweep.trial import Trial

__all__ = [
    "SweepSpec",
    "load_sweep",
    "parse_sweep",
    "Trial",
    "run_sweep",
    "SweepOutcome",
    "default_sweep_dir",
    "aggregate",
    "t_interval",
    "sample_params",
    "read_table",
]
