"""The ``ray`` executor: one Ray task per trial, on a private local Ray or on a running cluster.

Without an address a private local Ray instance is started with ``ray.init(num_cpus=...)`` and shut
down at the end. With ``address`` (``"auto"``, ``"HOST:PORT"`` of the head's GCS, or
``"ray://HOST:10001"``) the sweep joins a running cluster (``ray start --head`` on one machine,
``ray start --address HEAD:PORT`` on the others) and ships the ``dropkit`` package to its workers
(``runtime_env`` ``py_modules``); everything else (torch and the other dependencies, the datasets'
caches) must already be installed on every node.

Before anything is submitted the driver checks, each failing within seconds with an error that says
what to change:

- the address answers like a Ray head (a TCP connection and a gRPC handshake, at most
  ``CONNECT_TIMEOUT`` seconds each; ``ray.init`` itself would retry for minutes) -- :class:`ClusterUnreachable`;
- some alive node offers everything one trial asks for (CPUs, GPUs, custom resources; Ray would keep
  an infeasible task pending forever) -- :class:`ClusterLacksResources`;
- then every task checks, before it writes anything, that the sweep folder exists at the same path on
  its node and holds the marker file the driver wrote for this invocation (``.dropkit-sweep``, with a
  random token): trials write their run folders themselves, so the sweep folder must be on a file
  system every node mounts at the same path -- :class:`SweepFolderNotVisible`, which stops the sweep.

Each task records its node id and IP in the trial's ``placement.json`` (:mod:`dropkit.sweep.placement`).
A task whose worker or node dies is retried by Ray (``max_attempts - 1`` retries), on any node with room,
and resumes from the trial's newest checkpoint; a trial that raises is not retried.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dropkit._io import atomic_write_text
from dropkit.errors import DropkitInputError
from dropkit.sweep.placement import record_attempt
from dropkit.sweep.trial import Trial, run_trial

__all__ = [
    "run_ray",
    "ClusterUnreachable",
    "ClusterLacksResources",
    "SweepFolderNotVisible",
    "check_sweep_folder",
    "write_sweep_marker",
    "MARKER_FILE",
    "CONNECT_TIMEOUT",
]

log = logging.getLogger("dropkit.sweep")

MARKER_FILE = ".dropkit-sweep"
# Seconds to wait for the head's port to accept a connection before giving up on an address.
CONNECT_TIMEOUT = 5.0


class ClusterUnreachable(DropkitInputError):
    """``--address`` names no running Ray cluster: nothing accepts a connection at its host and port."""


class ClusterLacksResources(DropkitInputError):
    """No alive node of the cluster has every resource one trial asks for (CPUs, GPUs, custom ones)."""


class SweepFolderNotVisible(DropkitInputError):
    """A node does not see the sweep folder (or sees another one at its path): it is not on a shared file system."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(
            "sweep: executor 'ray' needs Ray; install it with pip install 'ray[default]' "
            "(or dropkit[sweep]), or use --executor local"
        ) from None
    return ray


def _host_port(address: str) -> tuple[str, int]:
    """The host and port to probe for ``address`` (``auto`` resolved the way ``ray.init`` does)."""
    given = address
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            address = canonicalize_bootstrap_address("auto") or ""
        except ConnectionError as exc:
            raise ClusterUnreachable(f"sweep: --address 'auto': no running Ray cluster found on this machine ({exc})") from None
        if not address:
            raise ClusterUnreachable(
                "sweep: --address 'auto': no running Ray cluster found on this machine (no RAY_ADDRESS, no "
                "ray start here); give the head's HOST:PORT"
            )
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DropkitInputError(
            f"sweep: --address must be 'auto', HOST:PORT (the head's GCS port, 6379 unless ray start --port "
            f"said otherwise) or ray://HOST:PORT, got {given!r}"
        )
    return host.strip("[]"), int(port)


# An HTTP/2 client's connection preface and an empty SETTINGS frame: a gRPC server (Ray's GCS is one)
# answers with its own SETTINGS frame before any request.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _probe(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise :class:`ClusterUnreachable` unless a gRPC server (such as a Ray head's GCS) answers at ``address``.

    ``ray.init`` waits minutes for an address where nothing answers, or where something that is not
    a GCS does (it retries the connection); this takes at most ``2 * timeout`` seconds.
    """
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(_H2_PREFACE)
            try:
                reply = conn.recv(9)
            except OSError:  # silent (a timeout) or reset
                reply = b""
    except OSError as exc:
        raise ClusterUnreachable(
            f"sweep: --address {address!r}: nothing answers at {host}:{port} within {timeout:g} s ({exc}); start the "
            f"head there with `ray start --head --port {port}`, or give the HOST:PORT that `ray start --head` printed"
        ) from None
    if len(reply) < 9 or reply[3] != 0x04:  # not an HTTP/2 SETTINGS frame
        raise ClusterUnreachable(
            f"sweep: --address {address!r}: {host}:{port} accepts connections but does not answer like a Ray head "
            f"(no gRPC reply within {timeout:g} s); is it another service's port (the dashboard's is 8265)? Give the "
            "GCS port that `ray start --head` printed (6379 unless --port said otherwise)"
        )


def _fmt_resources(res: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(res.items())) or "nothing"


def _check_resources(ray: Any, need: Mapping[str, float], where: str) -> None:
    """Raise :class:`ClusterLacksResources` unless one alive node has all of ``need``."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    for node in nodes:
        have = node.get("Resources") or {}
        if all(have.get(k, 0.0) >= v for k, v in need.items()):
            return
    shown = "; ".join(
        f"{n.get('NodeManagerAddress')}: "
        + _fmt_resources({k: v for k, v in (n.get("Resources") or {}).items() if not k.startswith("node:") and "memory" not in k})
        for n in nodes
    )
    raise ClusterLacksResources(
        f"sweep: no node of {where} has what one trial asks for ({_fmt_resources(need)}); its nodes offer: "
        f"{shown or 'no alive node'}. Lower --cpus-per-trial / --gpus-per-trial / resources in the sweep file, "
        "or add a node that has them (ray start --address HEAD:PORT --num-cpus N --num-gpus G --resources '{...}')"
    )


def write_sweep_marker(sweep_dir: str | os.PathLike[str]) -> str:
    """Write ``<sweep>/.dropkit-sweep`` with a fresh random token (atomically); return the token."""
    token = uuid.uuid4().hex
    info = {
        "token": token,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(Path(sweep_dir) / MARKER_FILE, json.dumps(info) + "\n")
    return token


def check_sweep_folder(sweep_dir: str | os.PathLike[str], token: str, *, node: str = "this node") -> None:
    """Raise :class:`SweepFolderNotVisible` unless ``sweep_dir`` exists here and holds the driver's marker token.

    Args:
        sweep_dir: the sweep folder, as the driver names it (an absolute path).
        token: the token the driver wrote into ``<sweep>/.dropkit-sweep`` for this invocation.
        node: how to name this node in the error.
    """
    folder = Path(sweep_dir)
    marker = folder / MARKER_FILE
    hint = (
        "the sweep folder must be on a file system every node mounts at the same path (NFS, a cluster file "
        "system); pass --out on that file system"
    )
    if not folder.is_dir():
        raise SweepFolderNotVisible(f"sweep: {node} does not see the sweep folder {str(folder)!r}: no such directory; {hint}")
    try:
        found = json.loads(marker.read_text()).get("token")
    except (OSError, ValueError) as exc:
        raise SweepFolderNotVisible(
            f"sweep: {node} sees {str(folder)!r} but not the driver's marker file {MARKER_FILE} in it ({type(exc).__name__}); "
            f"it is another folder than the driver's; {hint}"
        ) from None
    if found != token:
        raise SweepFolderNotVisible(
            f"sweep: {node} sees another folder at {str(folder)!r} (its {MARKER_FILE} holds token {found!r}, the "
            f"driver wrote {token!r}); {hint}"
        )


def _ray_trial(values: dict[str, Any], trial_dir: str, threads: int, sweep_dir: str, token: str) -> dict[str, Any]:
    """The Ray task: check the sweep folder, record where this attempt runs, then run (or resume) the trial."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    node_ip = ray.util.get_node_ip_address()
    check_sweep_folder(sweep_dir, token, node=f"node {node_ip} ({node_id[:12]}, host {socket.gethostname()})")
    record_attempt(trial_dir, node_id=node_id, node_ip=node_ip)
    return run_trial(values, trial_dir, threads)


def run_ray(
    jobs: Sequence[tuple[Trial, str]],
    *,
    cpus: float,
    gpus: float,
    num_cpus: int | None,
    address: str | None,
    max_attempts: int,
    on_done: Callable[[Trial, dict[str, Any] | None, BaseException | None], None],
    custom: Mapping[str, float] | None = None,
    sweep_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Run ``jobs`` (trial, run folder) as Ray tasks; call ``on_done`` once per trial.

    Args:
        jobs: the trials to run and their run folders (``<sweep>/trials/<trial-id>``).
        cpus: CPUs per trial (Ray resource and torch threads).
        gpus: GPUs per trial (Ray resource; fractions share a GPU).
        num_cpus: CPUs of the local Ray instance (ignored with ``address``).
        address: a running cluster to join, or None for a private local instance.
        max_attempts: tries per trial when its worker or node dies.
        on_done: ``on_done(trial, summary, None)`` or ``on_done(trial, None, error)``.
        custom: Ray custom resources per trial (name -> amount), default none.
        sweep_dir: the sweep folder (default: the run folders' grandparent).

    Raises:
        ClusterUnreachable: nothing answers at ``address``.
        ClusterLacksResources: no node can run a trial.
        SweepFolderNotVisible: a node does not see the sweep folder.
    """
    if not jobs:
        return
    ray = _import_ray()
    jobs = [(t, os.path.abspath(folder)) for t, folder in jobs]  # the workers' working folder is not ours
    sweep = os.path.abspath(sweep_dir) if sweep_dir is not None else str(Path(jobs[0][1]).parent.parent)
    threads = max(1, int(cpus))
    need = {"CPU": float(cpus), **({"GPU": float(gpus)} if gpus else {}), **dict(custom or {})}
    package_dir = Path(__file__).resolve().parents[1]  # .../dropkit
    started = False
    if not ray.is_initialized():
        if address:
            _probe(address)
            ray.init(
                address=address,
                runtime_env={"py_modules": [str(package_dir)], "env_vars": {"OMP_NUM_THREADS": str(threads)}},
                log_to_driver=False,
            )
        else:
            pythonpath = os.pathsep.join(p for p in (str(package_dir.parent), os.environ.get("PYTHONPATH")) if p)
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": str(threads)}},
            )
        started = True
    pending: dict[Any, Trial] = {}
    try:
        gcs = getattr(ray.get_runtime_context(), "gcs_address", None) or address  # 'auto' resolved
        _check_resources(ray, need, f"the Ray cluster at {gcs}" if address else "the local Ray instance")
        token = write_sweep_marker(sweep)
        remote = ray.remote(_ray_trial).options(
            num_cpus=cpus,
            num_gpus=gpus,
            resources=dict(custom or {}) or None,
            max_retries=max(0, max_attempts - 1),
            retry_exceptions=False,
        )
        pending = {remote.remote(t.values, folder, threads, sweep, token): t for t, folder in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(done[0])
            try:
                summary = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:  # the trial raised: report the original error
                cause = getattr(exc, "cause", None)
                if isinstance(cause, SweepFolderNotVisible):  # the cluster's set-up, not this trial: stop
                    raise SweepFolderNotVisible(str(cause)) from None
                cause = exc.as_instanceof_cause() if hasattr(exc, "as_instanceof_cause") else exc
                on_done(trial, None, cause)
                continue
            except ray.exceptions.RayError as exc:  # the worker (or its node) died max_attempts times
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
