"""The ``dropkit uncertainty`` pipeline: score a trained run's MC-dropout uncertainty on its dataset.

Built on the library in :mod:`dropkit.uncertainty` (``mc_predict`` and the metrics, which know nothing of
datasets or run folders): :mod:`~dropkit.evaluation.uncertainty` scores the deterministic pass and MC
dropout on the test split, under shift and against an OOD set, and writes tables and plots;
:mod:`~dropkit.evaluation.shift` holds the shifts (rotation, Gaussian noise) and the OOD sets.
"""
