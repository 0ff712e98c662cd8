"""A real multi-node Ray cluster on this machine's loopback addresses, for tests; it stops only what it started.

Each node is one ``ray start --block`` process (``--head`` for the first, ``--address HEAD:PORT`` for the
others), with its own loopback IP (``127.0.0.2``, ``127.0.0.3``, ...: Ray replaces ``127.0.0.1`` by the
machine's network address, other ``127.0.0.x`` are kept, and Linux routes the whole ``127.0.0.0/8`` to the
loopback device), its own ``--num-cpus``, custom ``--resources`` (``{"node_<name>": 1}``, so a test can pin a
task to a node and see where one ran), its own short ``--temp-dir`` (Unix socket paths are limited to
107 bytes), a 80 MB object store, no dashboard and free ports for the head's GCS, client server and
agents.

Every process a node starts carries the environment variable ``DROPKIT_TEST_RAY_NODE=<its temp dir>``
(inherited by the raylet, its agents and workers, which set their own process groups and are
re-parented when the raylet dies). :meth:`RayNode.kill` and :meth:`RayCluster.stop` SIGKILL exactly
the processes carrying their value, plus the ``ray start`` process's descendants, and wait until they
are gone; ``ray stop`` (which stops every Ray on the machine) is never used.

A node started with ``hide=PATH`` runs in its own mount namespace (``unshare --mount``) with an empty
tmpfs mounted over ``PATH``: it is a node whose file system does not have what the driver sees there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RayCluster", "RayNode", "ray_bin", "can_hide_folders", "wait_for"]

MARK = "DROPKIT_TEST_RAY_NODE"
START_TIMEOUT = 120.0  # seconds for one node to come up on a loaded 2-core machine


def ray_bin() -> str | None:
    """The ``ray`` command next to this interpreter (the venv's), else on PATH."""
    import sys

    here = Path(sys.executable).with_name("ray")
    return str(here) if here.exists() else shutil.which("ray")


def wait_for(cond: Callable[[], bool], what: str, timeout: float) -> None:
    """Poll ``cond`` every 0.1 s until it holds; raise ``AssertionError`` naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def can_hide_folders() -> bool:
    """Whether ``unshare --mount`` (as root, or in a user namespace) and a tmpfs mount work here."""
    if not shutil.which("unshare"):
        return False
    probe = tempfile.mkdtemp(prefix="rkp")
    try:
        for prefix in (["unshare", "--mount", "--propagation", "private"], ["unshare", "--user", "--map-root-user", "--mount"]):
            cmd = [*prefix, "sh", "-c", f"mount -t tmpfs none {probe} && test ! -e {probe}/x"]
            Path(probe, "x").touch()
            try:
                if subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0:
                    return True
            except (OSError, subprocess.TimeoutExpired):
                continue
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _unshare_prefix() -> list[str]:
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, timeout=10)
    return ["unshare", "--mount", "--propagation", "private"] if probe.returncode == 0 else ["unshare", "--user", "--map-root-user", "--mount"]


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _marked(value: str) -> list[int]:
    """Pids of the live processes whose environment holds ``DROPKIT_TEST_RAY_NODE=value``."""
    needle = f"{MARK}={value}".encode() + b"\0"
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes() + b"\0" and _alive(int(proc.name)):
                out.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(proc.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass
class RayNode:
    """One node: its ``ray start --block`` process, IP, resources and temp dir."""

    name: str
    ip: str
    num_cpus: int
    resources: dict[str, float]
    temp_dir: Path
    proc: subprocess.Popen
    log: Path
    hidden: Path | None = None
    node_id: str | None = field(default=None)

    def pids(self) -> list[int]:
        """Every live process of this node (``ray start``, GCS, raylet, agents, workers)."""
        found = set(_marked(str(self.temp_dir)))
        if self.proc.poll() is None:
            found |= {self.proc.pid, *(p for p in _descendants(self.proc.pid) if _alive(p))}
        return sorted(found)

    def kill(self, timeout: float = 30.0) -> None:
        """SIGKILL all of this node's processes at once (raylet and workers included) and wait until they are gone."""
        end = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > end:
                raise AssertionError(f"ray node {self.name}: processes {pids} still alive {timeout:g} s after SIGKILL")
            time.sleep(0.05)
        try:
            self.proc.wait(timeout=max(1.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass


class RayCluster:
    """Start nodes with :meth:`add_node` (the first is the head); :meth:`stop` kills them all.

    Args:
        health_check_ms: the head's node health-check period; a node that misses 3 in a row is dead.
    """

    def __init__(self, health_check_ms: int = 500) -> None:
        self.ray = ray_bin()
        if self.ray is None:
            raise RuntimeError("ray_cluster: the ray command is not installed")
        self.nodes: list[RayNode] = []
        self.port: int | None = None
        self.health_check_ms = health_check_ms
        self._next_ip = 2
        # Token authentication with a token of this cluster's own: independent of ~/.ray/auth_token,
        # which any local ray.init() on the machine may create. Drivers need the same variables.
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex * 2, "RAY_USAGE_STATS_ENABLED": "0"}

    @property
    def head(self) -> RayNode:
        """The head node (the first started)."""
        return self.nodes[0]

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the head's GCS: what ``ray start --address`` and ``dropkit sweep --address`` take."""
        return f"{self.head.ip}:{self.port}"

    def add_node(self, name: str, *, num_cpus: int = 1, resources: dict[str, float] | None = None, hide: Path | None = None) -> RayNode:
        """Start a node (the head if it is the first) and wait until the cluster counts it alive."""
        ip = f"127.0.0.{self._next_ip}"
        self._next_ip += 1
        resources = {f"node_{name}": 1.0, **(resources or {})}
        temp_dir = Path(tempfile.mkdtemp(prefix=f"rk{name[:2]}", dir="/tmp"))
        log = temp_dir / "start.log"
        cmd = [self.ray, "start", "--block", "--node-ip-address", ip, "--num-cpus", str(num_cpus)]
        cmd += ["--resources", json.dumps(resources), "--temp-dir", str(temp_dir), "--object-store-memory", str(80 * 1024**2)]
        cmd += ["--disable-usage-stats", "--dashboard-agent-listen-port", str(_free_port(ip))]
        env = {**self.driver_env(), MARK: str(temp_dir)}
        if not self.nodes:
            self.port = _free_port(ip)
            cmd += ["--head", "--port", str(self.port), "--include-dashboard=false"]
            cmd += ["--ray-client-server-port", str(_free_port(ip)), "--dashboard-port", str(_free_port(ip))]
            # Dead nodes are noticed in about 3 health-check periods instead of Ray's default 30 s or so.
            env.update(
                RAY_health_check_initial_delay_ms="1000",
                RAY_health_check_period_ms=str(self.health_check_ms),
                RAY_health_check_timeout_ms=str(self.health_check_ms),
                RAY_health_check_failure_threshold="3",
            )
        else:
            cmd += ["--address", self.address]
        if hide is not None:
            cmd = [*_unshare_prefix(), "sh", "-c", 'mount -t tmpfs -o size=1m none "$0" && exec "$@"', str(hide), *cmd]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        node = RayNode(name, ip, num_cpus, resources, temp_dir, proc, log, hide)
        self.nodes.append(node)
        self._wait_started(node)
        return node

    def driver_env(self) -> dict[str, str]:
        """``os.environ`` with what a driver of this cluster needs (its auth token), without ``RAY_ADDRESS``."""
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
        return {**env, **self.env}

    def _wait_started(self, node: RayNode) -> None:
        def up() -> bool:
            if node.proc.poll() is not None:
                raise RuntimeError(f"ray_cluster: ray start for node {node.name} exited {node.proc.returncode}:\n{node.log.read_text()[-3000:]}")
            return "Ray runtime started" in node.log.read_text()

        wait_for(up, f"ray node {node.name} to start (log: {node.log})", START_TIMEOUT)

    def wait_alive(self, count: int | None = None, timeout: float = START_TIMEOUT) -> dict[str, str]:
        """Wait until the GCS counts ``count`` nodes (default: all started) alive; return node IP -> node id.

        Asked by a short-lived driver in a subprocess (``ray.init`` + ``ray.nodes()``), so that this
        process never joins the cluster itself.
        """
        count = len(self.nodes) if count is None else count
        script = (
            "import json, sys, time, ray\n"
            "ray.init(address=sys.argv[1], log_to_driver=False, logging_level='ERROR')\n"
            "end = time.monotonic() + float(sys.argv[3])\n"
            "while True:\n"
            "    alive = {n['NodeManagerAddress']: n['NodeID'] for n in ray.nodes() if n['Alive']}\n"
            "    if len(alive) == int(sys.argv[2]) or time.monotonic() > end: break\n"
            "    time.sleep(0.2)\n"
            "print(json.dumps(alive))\n"
        )
        import sys

        env = self.driver_env()
        res = subprocess.run(
            [sys.executable, "-c", script, self.address, str(count), str(timeout)],
            capture_output=True, text=True, timeout=timeout + 60, env=env,
        )
        if res.returncode != 0:
            raise RuntimeError(f"ray_cluster: asking the GCS for its nodes failed:\n{res.stderr[-3000:]}")
        alive: dict[str, str] = json.loads(res.stdout.strip().splitlines()[-1])
        if len(alive) != count:
            raise AssertionError(f"ray_cluster: {len(alive)} nodes alive after {timeout:g} s, expected {count}: {alive}")
        for node in self.nodes:
            node.node_id = alive.get(node.ip, node.node_id)
        return alive

    def stop(self) -> None:
        """Kill every node (workers first, the head last), then remove their temp dirs. Safe to call twice."""
        errors = []
        for node in reversed(self.nodes):
            try:
                node.kill()
            except AssertionError as exc:
                errors.append(str(exc))
        for node in self.nodes:
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        if errors:
            raise AssertionError("; ".join(errors))
