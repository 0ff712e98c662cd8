"""Fixtures of the sweep tests: a real two-node Ray cluster on loopback addresses (see ray_cluster.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_cluster import RayCluster, ray_bin  # noqa: E402

sys.path.pop(0)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """Nodes ``a`` (the head, 127.0.0.2) and ``b`` (127.0.0.3), one CPU each; killed at the end, even on failure."""
    pytest.importorskip("ray")
    if not sys.platform.startswith("linux") or ray_bin() is None:
        pytest.skip("needs Linux (/proc, 127.0.0.0/8 on the loopback device) and the ray command")
    cluster = RayCluster()
    try:
        cluster.add_node("a", num_cpus=1)
        cluster.add_node("b", num_cpus=1)
        cluster.wait_alive(2)
        yield cluster
    finally:
        cluster.stop()
