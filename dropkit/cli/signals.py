"""SIGTERM handled like Ctrl-C by the long-running sub-commands (``kill``, ``timeout``, a batch system).

Without it a terminated run dies without a word and its ``summary.json`` keeps saying ``running``; with
it the run is marked interrupted at its newest checkpoint and the command that resumes it is printed,
exactly as after Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["terminate_as_interrupt"]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread (no-op elsewhere).

    Example:
        >>> with terminate_as_interrupt():
        ...     pass
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
