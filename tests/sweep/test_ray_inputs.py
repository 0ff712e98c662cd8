"""The ray executor's checks that need no cluster: addresses, custom resources, the sweep-folder marker,
and the placement record (fast; the cluster itself is in test_ray_cluster.py)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from dropkit.sweep import parse_sweep, run_sweep
from dropkit.sweep.placement import placement_columns, read_placement, record_attempt
from dropkit.sweep.ray_executor import (
    MARKER_FILE,
    ClusterUnreachable,
    SweepFolderNotVisible,
    _host_port,
    _probe,
    check_sweep_folder,
    write_sweep_marker,
)

BASE = {"dataset": "digits", "hidden": [8], "steps": 4, "eval_every": 2}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_custom_resources_are_read_from_the_sweep_file() -> None:
    spec = parse_sweep({"base": BASE, "grid": {"p": [0.1]}, "resources": {"cpus": 1, "custom": {"tpu_slice": 2}}})
    assert spec.custom == {"tpu_slice": 2.0} and parse_sweep({"base": BASE, "grid": {"p": [0.1]}}).custom == {}


@pytest.mark.parametrize(
    ("custom", "match"),
    [
        ({"tpu_slice": 0}, r"resources.custom.tpu_slice must be a number > 0, got 0"),
        ({"tpu_slice": "two"}, r"resources.custom.tpu_slice must be a number > 0, got 'two'"),
        ({"GPU": 1}, r"resources.custom.GPU: give CPUs and GPUs as resources.cpus / resources.gpus"),
        ([1], r"resources.custom must be a mapping"),
    ],
)
def test_bad_custom_resources_are_clear_errors(custom: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_sweep({"base": BASE, "grid": {"p": [0.1]}, "resources": {"custom": custom}})


def test_custom_resources_need_the_ray_executor(tmp_path: Path) -> None:
    spec = parse_sweep({"base": BASE, "grid": {"p": [0.1]}, "resources": {"custom": {"tpu_slice": 1}}})
    with pytest.raises(ValueError, match=r"resources.custom \(tpu_slice\) are Ray resources and need --executor ray, got executor 'local'"):
        run_sweep(spec, tmp_path / "out")
    with pytest.raises(ValueError, match=r"max_attempts must be an integer >= 1, got 0"):
        run_sweep(spec, tmp_path / "out", executor="ray", max_attempts=0)


@pytest.mark.parametrize("address", ["nohost", "host:port", "host:70000", ":6379"])
def test_a_malformed_address_names_the_forms_allowed(address: str) -> None:
    with pytest.raises(ValueError, match=rf"--address must be 'auto', HOST:PORT .* or ray://HOST:PORT, got '{address}'"):
        _host_port(address)


def test_host_and_port_of_the_address_forms() -> None:
    assert _host_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert _host_port("ray://head.example:10001") == ("head.example", 10001)
    assert _host_port("[::1]:6379") == ("::1", 6379)


def test_an_address_nothing_listens_at_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    with pytest.raises(ClusterUnreachable, match=rf"--address '127.0.0.1:{port}': nothing answers at 127.0.0.1:{port}"):
        _probe(f"127.0.0.1:{port}", timeout=2.0)
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.2:{port}")  # 'auto' reads RAY_ADDRESS first, as ray.init does
    with pytest.raises(ClusterUnreachable, match=rf"--address 'auto': nothing answers at 127.0.0.2:{port}"):
        _probe("auto", timeout=2.0)


def test_the_sweep_folder_check_refuses_a_missing_folder_a_missing_marker_and_another_folder(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    with pytest.raises(SweepFolderNotVisible, match=rf"node x does not see the sweep folder '{sweep}': no such directory"):
        check_sweep_folder(sweep, "t", node="node x")
    sweep.mkdir()
    with pytest.raises(SweepFolderNotVisible, match=rf"sees '{sweep}' but not the driver's marker file {MARKER_FILE}"):
        check_sweep_folder(sweep, "t", node="node x")
    token = write_sweep_marker(sweep)
    assert json.loads((sweep / MARKER_FILE).read_text())["token"] == token and len(token) == 32
    check_sweep_folder(sweep, token)  # the driver's folder: no error
    with pytest.raises(SweepFolderNotVisible, match=rf"sees another folder at '{sweep}' \(its {MARKER_FILE} holds token '{token}'"):
        check_sweep_folder(sweep, "0" * 32)
    assert write_sweep_marker(sweep) != token  # a fresh token per invocation


def test_each_attempt_is_recorded_with_its_node(tmp_path: Path) -> None:
    run = tmp_path / "trials" / "t1"
    assert read_placement(run) == [] and placement_columns(run) == {}
    record_attempt(run, node_id="aa" * 28, node_ip="127.0.0.3")
    record_attempt(run, node_id="bb" * 28, node_ip="127.0.0.2")
    attempts = read_placement(run)
    assert [(a["attempt"], a["node_ip"]) for a in attempts] == [(1, "127.0.0.3"), (2, "127.0.0.2")]
    assert placement_columns(run) == {"node_id": "bb" * 28, "node_ip": "127.0.0.2", "attempts": 2}
    assert not list(run.glob("*.tmp"))


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n"])
def test_a_port_that_is_not_a_ray_head_is_refused_within_seconds(reply: bytes) -> None:
    """A listener that stays silent or speaks HTTP/1.1 (not gRPC): ray.init would retry for minutes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            if reply:
                conn.sendall(reply)
            else:
                conn.recv(64)  # until the client gives up and closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(ClusterUnreachable, match=rf"127.0.0.1:{port} accepts connections but does not answer like a Ray head"):
            _probe(f"127.0.0.1:{port}", timeout=1.0)
    finally:
        thread.join(timeout=10)
        server.close()
