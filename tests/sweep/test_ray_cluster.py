"""``dropkit sweep --executor ray --address HEAD:PORT`` on a real two-node Ray cluster (loopback addresses).

The cluster (``ray_cluster`` fixture, tests/sweep/ray_cluster.py) has nodes ``a`` (head, 127.0.0.2) and
``b`` (127.0.0.3) with one CPU each. Every sweep is run by the real command line in a subprocess (a
driver as a user starts it), bounded by a timeout; the tests run in file order and the last one kills
node ``b``. Expected numbers come from the same sweep run by the local executor.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dropkit.sweep import parse_sweep, read_table, run_sweep
from dropkit.sweep.placement import read_placement
from dropkit.train.run_dir import read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_cluster import RayCluster, can_hide_folders, wait_for  # noqa: E402

sys.path.pop(0)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray-cluster")]

ROOT = Path(__file__).resolve().parents[2]
STEPS = 400
SPEC = {
    "name": "cluster",
    "base": {"dataset": "digits", "hidden": [32], "steps": STEPS, "eval_every": 50},
    "grid": {"p": [0.0, 0.25, 0.5], "seed": [0, 1, 2, 3]},
}
# Columns that differ between executors or runs by nature: times, and where a trial ran.
VOLATILE = {"wall_time", "node_id", "node_ip", "attempts"}
SWEEP_TIMEOUT = 240  # seconds for one sweep command on a loaded 2-core machine (it takes ~20 s idle)


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The 12 trials run by the local executor: trial id -> results row (and the folder, for weights)."""
    out = tmp_path_factory.mktemp("local") / "out"
    outcome = run_sweep(parse_sweep(SPEC), out, executor="local", workers=2)
    assert outcome.ran == 12 and not outcome.failed
    return {r["trial_id"]: {**r, "_dir": out / "trials" / r["trial_id"]} for r in read_table(out / "results.parquet")}


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder under /tmp (pytest's are long; Ray's socket paths are not involved, but a hidden node mounts over it)."""
    path = Path(tempfile.mkdtemp(prefix="rkt", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _sweep_cmd(spec_file: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dropkit.cli.main", "sweep", str(spec_file), "--out", str(out), "--executor", "ray", *extra]


def _env(cluster: RayCluster | None) -> dict[str, str]:
    env = cluster.driver_env() if cluster is not None else {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(cmd: list[str], env: dict[str, str], timeout: float = SWEEP_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _write(folder: Path, spec: dict) -> Path:
    path = folder / f"{spec['name']}.yaml"
    path.write_text(json.dumps(spec))
    return path


def _strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in VOLATILE and not k.startswith("_")}


def _status(run: Path) -> str | None:
    try:
        return json.loads((run / "summary.json").read_text())["status"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def _newest_checkpoint(run: Path) -> int:
    steps = [int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.safetensors")]
    return max(steps, default=-1)


def test_an_address_nobody_answers_at_is_a_clear_error_not_a_hang(short_tmp: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
    spec_file = _write(short_tmp, {**SPEC, "grid": {"p": [0.0]}})
    res = _run(_sweep_cmd(spec_file, short_tmp / "out", "--address", f"127.0.0.2:{port}"), _env(None), timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    assert f"--address '127.0.0.2:{port}': nothing answers at 127.0.0.2:{port}" in res.stderr
    assert "ray start --head" in res.stderr and "Traceback" not in res.stderr
    assert not (short_tmp / "out" / "trials").exists() or not any((short_tmp / "out" / "trials").iterdir())


def test_a_12_trial_sweep_runs_on_both_nodes_with_the_local_executors_results(
    ray_cluster: RayCluster, local_rows: dict[str, dict], short_tmp: Path
) -> None:
    out = short_tmp / "sweep"
    res = _run(_sweep_cmd(_write(short_tmp, SPEC), out, "--address", ray_cluster.address), _env(ray_cluster))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "12 trials (12 run, 0 already done)" in res.stdout
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and {r["status"] for r in rows} == {"completed"}
    nodes = {n.ip: n.node_id for n in ray_cluster.nodes}
    assert {r["node_ip"] for r in rows} == set(nodes)  # trials on both nodes
    assert all(nodes[r["node_ip"]] == r["node_id"] and r["attempts"] == "1" for r in rows)
    for r in rows:
        (attempt,) = read_placement(out / "trials" / r["trial_id"])
        assert (attempt["node_ip"], attempt["node_id"]) == (r["node_ip"], r["node_id"])
    table = read_table(out / "results.parquet")
    assert [_strip(r) for r in table] == [_strip(local_rows[r["trial_id"]]) for r in table]
    sweep = json.loads((out / "sweep.json").read_text())
    assert (sweep["executor"], sweep["address"]) == ("ray", ray_cluster.address)


def test_a_trial_asking_for_what_no_node_has_is_a_clear_error(ray_cluster: RayCluster, short_tmp: Path) -> None:
    spec_file = _write(short_tmp, {**SPEC, "grid": {"p": [0.0]}})
    res = _run(_sweep_cmd(spec_file, short_tmp / "gpu", "--address", ray_cluster.address, "--gpus-per-trial", "1"), _env(ray_cluster))
    assert res.returncode == 2, res.stderr[-2000:]
    assert f"no node of the Ray cluster at {ray_cluster.address} has what one trial asks for (CPU=1, GPU=1)" in res.stderr
    assert "127.0.0.3: CPU=1, node_b=1" in res.stderr and "Traceback" not in res.stderr

    custom = _write(short_tmp, {**SPEC, "name": "custom", "grid": {"p": [0.0]}, "resources": {"custom": {"tpu_slice": 2}}})
    # 'auto' finds the cluster the way ray.init does: RAY_ADDRESS first.
    env = {**_env(ray_cluster), "RAY_ADDRESS": ray_cluster.address}
    res = _run(_sweep_cmd(custom, short_tmp / "custom", "--address", "auto"), env)
    assert res.returncode == 2, res.stderr[-2000:]
    assert f"no node of the Ray cluster at {ray_cluster.address} has what one trial asks for (CPU=1, tpu_slice=2)" in res.stderr
    assert not any((short_tmp / "custom" / "trials").iterdir())  # nothing was started


@pytest.mark.skipif(not can_hide_folders(), reason="needs unshare --mount (root or user namespaces) to start a node that does not see a folder")
def test_a_node_that_does_not_see_the_sweep_folder_stops_the_sweep_with_a_clear_error(
    ray_cluster: RayCluster, short_tmp: Path
) -> None:
    # Node c runs in its own mount namespace with an empty tmpfs over short_tmp: at the sweep folder's
    # path it sees nothing, like a machine where the shared file system is not mounted.
    node = ray_cluster.add_node("c", num_cpus=1, hide=short_tmp)
    try:
        ray_cluster.wait_alive(3)
        spec = {**SPEC, "name": "hidden", "grid": {"p": [0.0, 0.5]}, "resources": {"custom": {"node_c": 1}}}
        out = short_tmp / "hidden"
        res = _run(_sweep_cmd(_write(short_tmp, spec), out, "--address", ray_cluster.address), _env(ray_cluster))
    finally:
        node.kill()
    assert res.returncode == 2, res.stderr[-2000:]
    assert f"node {node.ip} ({node.node_id[:12]}" in res.stderr
    assert f"does not see the sweep folder {str(out)!r}: no such directory" in res.stderr
    assert "every node mounts at the same path" in res.stderr and "Traceback" not in res.stderr
    assert (out / ".dropkit-sweep").is_file() and not any((out / "trials").iterdir())  # no trial wrote anything


def test_killing_the_worker_node_then_the_driver_still_finishes_every_trial_exactly_once(
    ray_cluster: RayCluster, local_rows: dict[str, dict], short_tmp: Path
) -> None:
    a, b = ray_cluster.nodes[0], ray_cluster.nodes[1]
    ray_cluster.wait_alive(2)  # a and b (c was killed by the test before)
    out = short_tmp / "kill"
    cmd = _sweep_cmd(_write(short_tmp, SPEC), out, "--address", ray_cluster.address, "--max-attempts", "3")
    env = _env(ray_cluster)
    trials = out / "trials"
    log = open(short_tmp / "driver.log", "w")
    driver = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # 1. A trial running on b, early on (a checkpoint past step 0, less than half done): kill node b.
        def running_on(node_ip: str) -> list[Path]:
            found = []
            for run in trials.glob("*"):
                attempts = read_placement(run)
                if attempts and attempts[-1]["node_ip"] == node_ip and _status(run) == "running":
                    if 0 < _newest_checkpoint(run) <= STEPS // 2:
                        found.append(run)
            return found

        wait_for(lambda: bool(running_on(b.ip)) or driver.poll() is not None, "a trial in progress on node b", 180)
        assert driver.poll() is None, (short_tmp / "driver.log").read_text()[-3000:]
        on_b = running_on(b.ip)
        b.kill()
        # 2. Ray retries b's trials on a, and they resume from their checkpoints: attempt 2 on node a.
        def retried() -> list[Path]:
            return [r for r in on_b if [x["node_ip"] for x in read_placement(r)] == [b.ip, a.ip]]

        wait_for(lambda: bool(retried()) or driver.poll() is not None, "a trial of node b to start again on node a", 180)
        assert driver.poll() is None, (short_tmp / "driver.log").read_text()[-3000:]
        # 3. SIGKILL the driver (its process group) while trials are still unfinished.
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(timeout=30)
        log.close()
    done_before = {r.name: ((r / "summary.json").read_bytes(), read_placement(r)) for r in trials.glob("*") if _status(r) == "completed"}
    assert len(done_before) < 12, "the driver was killed after every trial had finished"

    # 4. The same command again (only node a is left) finishes the sweep.
    res = _run(cmd, env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"12 trials ({12 - len(done_before)} run, {len(done_before)} already done)" in res.stdout
    rows = read_table(out / "results.parquet")
    assert [r["trial_id"] for r in rows] == [t.trial_id for t in parse_sweep(SPEC).trials()]
    assert {r["status"] for r in rows} == {"completed"}
    for r in rows:  # every evaluation exactly once, no trial twice
        assert [m["step"] for m in read_metrics(trials / r["trial_id"])] == list(range(0, STEPS + 1, 50)), r["trial_id"]
    for trial_id, (summary, attempts) in done_before.items():  # finished trials were not run again
        assert (trials / trial_id / "summary.json").read_bytes() == summary
        assert read_placement(trials / trial_id) == attempts
    assert {r["node_ip"] for r in rows if r["trial_id"] not in done_before} == {a.ip}
    # 5. The numbers equal the local executor's, bit for bit, the retried trials' weights included.
    assert [_strip(r) for r in rows] == [_strip(local_rows[r["trial_id"]]) for r in rows]
    for run in retried():
        mine, ref = load_file(str(run / "model.safetensors")), load_file(str(local_rows[run.name]["_dir"] / "model.safetensors"))
        assert mine.keys() == ref.keys() and all((mine[k] == ref[k]).all() for k in mine)
    assert not list(out.rglob("*.tmp"))
