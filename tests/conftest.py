"""Shared fixtures. Tests run on the CPU; GPU tests carry the ``cuda`` marker and skip without CUDA."""

from __future__ import annotations

import pytest
import torch


# Two CPU cores run two pytest workers: one torch thread each avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    torch.manual_seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
