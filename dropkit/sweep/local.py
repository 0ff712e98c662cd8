"""The ``local`` executor: a pool of worker processes on this machine, one trial at a time each.

Workers are forked from a fork server that imported torch and dropkit once (``spawn`` where there is
no fork server), so that a new or rebuilt pool starts in a fraction of a second and no worker inherits
the driver's threads or CUDA state. Each runs one torch thread per CPU of a trial and watches the
driver (a pidfd on Linux, else polling): if the driver is killed, its workers exit at once instead of
writing run folders behind the back of the next run (and the fork server follows them). A worker that
dies (killed, out of memory) breaks the pool; the pool is rebuilt and the unfinished trials are run
again from their newest checkpoint, up to ``max_attempts`` times each.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from dropkit.sweep.trial import Trial, run_trial

__all__ = ["run_local", "available_cpus", "TrialFailure"]

log = logging.getLogger("dropkit.sweep")


class TrialFailure(RuntimeError):
    """A trial raised an error or its worker kept dying; the message says which and why."""


def available_cpus() -> int:
    """CPU cores this process may use (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _context() -> multiprocessing.context.BaseContext:
    """A fork server preloaded with torch and the trainer; ``spawn`` where fork servers do not exist."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "dropkit.sweep.trial", "dropkit.train.trainer"])
    return ctx


def _watch_driver(driver_pid: int) -> None:
    """Block until the driver process ends, then end this worker at once (no cleanup, like SIGKILL)."""
    try:
        fd = os.pidfd_open(driver_pid)  # Linux >= 5.3: readable when the process ends
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):
        while True:  # no pidfd: poll
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            time.sleep(1.0)
    select.select([fd], [], [])
    os._exit(1)


def _init_worker(driver_pid: int, threads: int) -> None:
    """Runs first in every worker: exit with the driver, one torch thread per CPU of a trial.

    Workers ignore SIGINT: a terminal's Ctrl-C reaches the whole process group, and the driver alone
    decides what an interrupt does (it stops every worker, see :func:`_stop_workers`). Left to itself,
    a worker would hand the ``KeyboardInterrupt`` back as the trial's result and take the next trial.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_driver, args=(driver_pid,), name="watch-driver", daemon=True).start()
    import torch

    torch.set_num_threads(max(1, threads))


def _stop_workers(pool: cf.ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Kill the pool's worker processes now and wait for them, then drop the queued trials.

    ``shutdown(cancel_futures=True)`` alone cancels only trials not yet handed to a worker: running
    ones (and the one queued ahead) went on to the end, and the interpreter's exit waited for them.
    Killing is safe for the run folders: checkpoints and summaries are written atomically, a torn last
    metrics line is dropped on resume, and a trial continues from its newest checkpoint.
    """
    procs = dict(getattr(pool, "_processes", None) or {})  # CPython's pid -> Process map
    for proc in procs.values():
        try:
            proc.kill()
        except (OSError, ValueError):  # already gone
            pass
    deadline = time.monotonic() + timeout
    for proc in procs.values():
        proc.join(max(0.0, deadline - time.monotonic()))
    if procs:
        log.debug("stopped %d worker(s): %s", len(procs), ", ".join(map(str, procs)))
    pool.shutdown(wait=False, cancel_futures=True)


def run_local(
    jobs: Sequence[tuple[Trial, str]],
    *,
    workers: int,
    threads: int,
    max_attempts: int,
    on_done: Callable[[Trial, dict[str, Any] | None, BaseException | None], None],
) -> None:
    """Run ``jobs`` (trial, run folder) on ``workers`` processes; call ``on_done`` once per trial.

    ``on_done(trial, summary, None)`` on success, ``on_done(trial, None, error)`` when the trial raised
    or its worker died ``max_attempts`` times.
    """
    attempts = {t.trial_id: 0 for t, _ in jobs}
    todo = list(jobs)
    ctx = _context()
    while todo:
        size = max(1, min(workers, len(todo)))
        pool = cf.ProcessPoolExecutor(size, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(), threads))
        futures: dict[cf.Future[dict[str, Any]], tuple[Trial, str]] = {}
        broken: list[tuple[Trial, str]] = []
        try:
            for trial, folder in todo:
                attempts[trial.trial_id] += 1
                futures[pool.submit(run_trial, trial.values, folder, threads)] = (trial, folder)
            for fut in cf.as_completed(futures):
                trial, folder = futures[fut]
                try:
                    summary = fut.result()
                except BrokenProcessPool:
                    broken.append((trial, folder))
                    continue
                except Exception as exc:  # a trial's own error: deterministic, not retried
                    on_done(trial, None, exc)
                    continue
                on_done(trial, summary, None)
        except BaseException:  # KeyboardInterrupt (Ctrl-C) above all: stop now, not after the running trials
            _stop_workers(pool)
            raise
        pool.shutdown(wait=True)
        todo = []
        for trial, folder in broken:
            if attempts[trial.trial_id] >= max_attempts:
                on_done(trial, None, TrialFailure(f"sweep: trial {trial.trial_id}: its worker died {max_attempts} times"))
            else:
                todo.append((trial, folder))
        if todo:
            log.warning("a worker died; restarting %d unfinished trial(s) from their checkpoints", len(todo))
