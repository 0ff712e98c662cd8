"""Reports: a self-contained HTML page and PNG/SVG figures for a run, compare or sweep folder.

``dropkit report DIR`` calls :func:`build_report`; it reads only run-folder files (see
:mod:`dropkit.train.run_dir`). :mod:`dropkit.report.tensorboard` logs the same metrics to TensorBoard
while a run trains.
"""

from dropkit.report.build import build_report
from dropkit.report.sources import detect_kind

__all__ = ["build_report", "detect_kind"]
