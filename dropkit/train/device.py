"""Checking ``--device`` before a run starts: a clear error instead of torch's assertion deep in ``.to()``.

``torch.device("cuda")`` is accepted by every torch build; the first tensor moved there fails with
``AssertionError: Torch not compiled with CUDA enabled`` (a CPU wheel) or a CUDA error (no driver, an
index past the last GPU). :func:`check_device` says which, and what to pass instead.
"""

from __future__ import annotations

import torch

__all__ = ["check_device"]


def check_device(device: str | torch.device, where: str = "train") -> torch.device:
    """Return ``torch.device(device)`` after checking this machine and this torch build can use it.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...
        where: the message prefix.

    Raises:
        ValueError: the string is not a device, or the device is not available (the message says why).

    Example:
        >>> check_device("cpu")
        device(type='cpu')
        >>> check_device("gpu")
        Traceback (most recent call last):
        ...
        ValueError: train: device must be a torch device such as 'cpu', 'cuda' or 'cuda:1', got 'gpu'
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{where}: device must be a torch device such as 'cpu', 'cuda' or 'cuda:1', got {device!r}") from None
    if dev.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            raise ValueError(
                f"{where}: device {str(device)!r} needs a CUDA build of torch, got torch {torch.__version__} "
                "(built without CUDA); use --device cpu or install a CUDA build of torch"
            )
        count = torch.cuda.device_count()
        if count == 0:
            raise ValueError(f"{where}: device {str(device)!r} is not available: torch sees no CUDA device; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{where}: device {str(device)!r} is not available: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{where}: device {str(device)!r} is not available on this machine; use --device cpu")
    return dev
