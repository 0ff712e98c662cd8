"""The ``ray`` executor: one Ray task per trial, with per-trial CPU and GPU resources.

Without an address a private local Ray instance is started with ``ray.init(num_cpus=...)`` and shut
down at the end; with ``address`` (``"auto"`` or ``"ray://host:10001"``) the sweep joins a running
cluster and ships the ``dropkit`` package to its workers (``runtime_env`` ``py_modules``). Trials
write their run folders themselves, so on a cluster the sweep folder must be on a file system every
node sees. A task whose worker dies is retried by Ray (``max_attempts - 1`` retries) and resumes
from its checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dropkit.sweep.trial import Trial, run_trial

__all__ = ["run_ray"]

log = logging.getLogger("dropkit.sweep")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(
            "sweep: executor 'ray' needs Ray; install it with pip install 'ray[default]' "
            "(or dropkit[sweep]), or use --executor local"
        ) from None
    return ray


def run_ray(
    jobs: Sequence[tuple[Trial, str]],
    *,
    cpus: float,
    gpus: float,
    num_cpus: int | None,
    address: str | None,
    max_attempts: int,
    on_done: Callable[[Trial, dict[str, Any] | None, BaseException | None], None],
) -> None:
    """Run ``jobs`` (trial, run folder) as Ray tasks; call ``on_done`` once per trial.

    Args:
        jobs: the trials to run and their run folders.
        cpus: CPUs per trial (Ray resource and torch threads).
        gpus: GPUs per trial (Ray resource; fractions share a GPU).
        num_cpus: CPUs of the local Ray instance (ignored with ``address``).
        address: a running cluster to join, or None for a private local instance.
        max_attempts: tries per trial when its worker dies.
        on_done: ``on_done(trial, summary, None)`` or ``on_done(trial, None, error)``.
    """
    ray = _import_ray()
    package_dir = Path(__file__).resolve().parents[1]  # .../dropkit
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, runtime_env={"py_modules": [str(package_dir)]}, log_to_driver=False)
        else:
            pythonpath = os.pathsep.join(p for p in (str(package_dir.parent), os.environ.get("PYTHONPATH")) if p)
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": str(max(1, int(cpus)))}},
            )
        started = True
    pending: dict[Any, Trial] = {}
    try:
        remote = ray.remote(run_trial).options(
            num_cpus=cpus, num_gpus=gpus, max_retries=max(0, max_attempts - 1), retry_exceptions=False
        )
        pending = {remote.remote(t.values, folder, max(1, int(cpus))): t for t, folder in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(done[0])
            try:
                summary = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:  # the trial raised: report the original error
                cause = exc.as_instanceof_cause() if hasattr(exc, "as_instanceof_cause") else exc
                on_done(trial, None, cause)
                continue
            except ray.exceptions.RayError as exc:  # the worker died max_attempts times
                on_done(trial, None, RuntimeError(f"sweep: trial {trial.trial_id}: {type(exc).__name__}: {exc}"))
                continue
            on_done(trial, summary, None)
    except BaseException:
        for ref in list(pending):
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
