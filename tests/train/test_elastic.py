"""Elastic DDP under real torchrun agents on 127.0.0.1: a SIGKILLed rank restarts the group from the last
checkpoint (bit-identical final weights at the same world size), a lost node leaves the survivor to finish
alone (the same steps and batches; exactly a resume at the new world size), and bad set-ups fail fast.

Two "nodes" are two ``torchrun --nnodes 1:2`` agents on loopback. Every process a test starts carries a
tag in its environment; teardown SIGKILLs every process with the tag (agents, and workers, which torchrun
starts in sessions of their own and which outlive a killed agent), so nothing is left running on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import dropkit.train.trainer as trainer
from dropkit.cli.main import main
from dropkit.errors import DropkitInputError
from dropkit._io import remove_stale_temps
from dropkit.train.checkpoint import list_checkpoints, load_checkpoint
from dropkit.train.elastic import prepare_start, read_starts
from dropkit.train.run_dir import read_metrics

pytestmark = pytest.mark.xdist_group("elastic")

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent))
needs_torchrun = pytest.mark.skipif(TORCHRUN is None, reason="needs torchrun next to the Python running the tests")

STEPS = 300
FLAGS = [
    "--dataset", "digits", "--hidden", "32", "--dropout", "0.5", "--steps", str(STEPS), "--eval-every", "30",
    "--checkpoint-every", "10", "--keep-checkpoints", "40", "--threads", "1", "--no-progress",
]
TIMEOUT = 150.0  # seconds for any one torchrun job here (they take 10-25 s on two busy cores)


def _wait(cond: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or not ours
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _state(pid: int) -> str:
    """The process state letter from ``/proc`` (``R``, ``S``, ``T`` stopped, ``Z``), ``X`` when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def _alive(pid: int) -> bool:
    return _state(pid) not in ("Z", "X")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _strip(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]


def _same_rows(rows: list[dict], ref: list[dict], resumed_from: int) -> None:
    """The metrics rows of a resumed run equal the uninterrupted run's (none lost or doubled), except the
    running training loss of the first evaluation after a resume between evaluations: it averages the
    steps since the resume only (the running sum is not checkpointed)."""
    assert [r["step"] for r in rows] == [r["step"] for r in ref]
    first_after = min(r["step"] for r in rows if r["step"] > resumed_from)
    for r, e in zip(_strip(rows), _strip(ref)):
        if r["step"] == first_after and resumed_from % 30:
            r.pop("train_loss_running"), e.pop("train_loss_running")
        assert r == e


def _ckpt(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step_{step:08d}.safetensors"


class Cluster:
    """Two-node torchrun on loopback: agents started here, every process they start found by a tag."""

    def __init__(self, tmp_path: Path, job: str) -> None:
        self.tmp, self.job, self.port = tmp_path, job, _free_port()
        self.tag = uuid.uuid4().hex
        self.agents: dict[str, subprocess.Popen] = {}

    def start(self, name: str, out: Path, *, is_host: bool, max_restarts: int = 3, last_call: int = 3, keep_alive: int = 5) -> None:
        """Start agent ``name``; the host one holds the rendezvous store (its loss would end the job).

        A node whose keep-alive is ``3 * keep_alive`` seconds old counts as lost: short values make a lost
        node noticed soon, but a heartbeat starved on a busy machine then splits the rendezvous in two.
        """
        conf = f"is_host={int(is_host)},last_call_timeout={last_call},join_timeout=90,keep_alive_interval={keep_alive},keep_alive_max_attempt=3"
        cmd = [
            TORCHRUN, "--nnodes", "1:2", "--nproc-per-node", "1", "--max-restarts", str(max_restarts),
            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{self.port}", "--rdzv-id", self.job,
            "--rdzv-conf", conf, "--local-addr", "127.0.0.1", "--monitor-interval", "0.1",
            "-m", "dropkit", "train", "--out", str(out), *FLAGS,
        ]
        env = {
            **os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "PYTHONFAULTHANDLER": "1",
            "DROPKIT_TEST_CLUSTER": self.tag, "DROPKIT_TEST_AGENT": name, "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1", "LOGLEVEL": os.environ.get("LOGLEVEL", "WARNING"),
        }
        log = open(self.tmp / f"agent-{name}.log", "w")
        self.agents[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.tmp)  # type: ignore[arg-type]
        log.close()

    def processes(self, agent: str | None = None) -> list[tuple[int, dict[str, str]]]:
        """Live processes of this cluster (of one agent), with their environments."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _alive(int(entry.name)):
                env = _environ(int(entry.name))
                if env.get("DROPKIT_TEST_CLUSTER") == self.tag and (agent is None or env.get("DROPKIT_TEST_AGENT") == agent):
                    found.append((int(entry.name), env))
        return found

    def worker(self, rank: int, restart: int = 0) -> int:
        """The pid of the worker of global ``rank`` in the group of the given restart count."""
        pids = [pid for pid, env in self.processes() if env.get("RANK") == str(rank) and env.get("TORCHELASTIC_RESTART_COUNT") == str(restart)]
        assert len(pids) == 1, f"expected one worker of rank {rank} (restart {restart}), found {pids}"
        return pids[0]

    def lose(self, name: str) -> None:
        """SIGKILL agent ``name`` and then every worker it started: the node is gone."""
        os.killpg(self.agents[name].pid, signal.SIGKILL)
        self.agents[name].wait(timeout=30)
        for pid, _ in self.processes(name):
            os.kill(pid, signal.SIGKILL)

    def wait(self, *names: str) -> dict[str, int]:
        end = time.monotonic() + TIMEOUT
        codes = {}
        for name in names:
            try:
                codes[name] = self.agents[name].wait(timeout=max(1.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"torchrun agent {name} still running after {TIMEOUT:g} s\n{self.logs()}") from None
        return codes

    def logs(self, tail: int | None = 3000) -> str:
        """The agents' output (their workers' too), the last ``tail`` characters of each (all: None)."""
        return "\n".join(
            f"--- agent {p.stem[6:]} ---\n{p.read_text()[-tail if tail else 0:]}" for p in sorted(self.tmp.glob("agent-*.log"))
        )

    def close(self) -> None:
        for pid, _ in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.agents.values():
            proc.wait(timeout=30)
        _wait(lambda: not self.processes(), "the cluster's processes to exit", timeout=30)


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(tmp_path, f"job-{request.node.name[-20:]}-{uuid.uuid4().hex[:6]}")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted two-rank run of FLAGS (``dropkit train --nproc 2``, every checkpoint kept)."""
    out = tmp_path_factory.mktemp("elastic-ref") / "ref"
    assert main(["train", "--nproc", "2", "--out", str(out), *FLAGS]) == 0
    return out


def _kill_when_checkpointed(cluster: Cluster, out: Path, step: int, kill: Callable[[], None]) -> None:
    _wait(lambda: _ckpt(out, step).exists() or any(a.poll() is not None for a in cluster.agents.values()), f"the step-{step} checkpoint")
    assert _ckpt(out, step).exists(), f"an agent ended before the step-{step} checkpoint\n{cluster.logs()}"
    kill()
    assert not (out / "model.safetensors").exists(), "the run finished before it could be killed"


@needs_torchrun
@pytest.mark.slow
def test_killed_rank_restarts_and_ends_bit_identical(tmp_path: Path, cluster: Cluster, reference: Path) -> None:
    out = tmp_path / "run"
    cluster.start("b", out, is_host=False)  # first: it joins as soon as a's store is up (both in one round)
    cluster.start("a", out, is_host=True)
    # Rank 0, the one that writes the run folder, dies right after its step-10 checkpoint.
    _kill_when_checkpointed(cluster, out, 10, lambda: os.kill(cluster.worker(0), signal.SIGKILL))
    assert cluster.wait("a", "b") == {"a": 0, "b": 0}, cluster.logs()

    starts = read_starts(out)
    assert [s["world_size"] for s in starts] == [2, 2], starts
    assert starts[0]["resumed_from_step"] is None and starts[0]["job"] == cluster.job
    assert 10 <= starts[1]["resumed_from_step"] < STEPS and not starts[1]["world_size_changed"]
    assert _equal(load_file(str(out / "model.safetensors")), load_file(str(reference / "model.safetensors")))
    _same_rows(read_metrics(out), read_metrics(reference), starts[1]["resumed_from_step"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == STEPS
    # A rank killed while writing leaves at most a temp file, removed when rank 0 restarts.
    assert [p.name for p in out.rglob("*") if p.name.startswith(".")] == [".dropkit-lock"]  # rank 0's lock file only
    assert cluster.logs(tail=None).count("test accuracy") == 1  # rank 0 of the last group reports, once


@needs_torchrun
@pytest.mark.slow
def test_lost_node_leaves_the_survivor_to_finish_alone(tmp_path: Path, cluster: Cluster, reference: Path) -> None:
    out = tmp_path / "run"
    cluster.start("b", out, is_host=False, keep_alive=2)
    cluster.start("a", out, is_host=True, keep_alive=2)  # holds the rendezvous store: the node that may not be lost
    _kill_when_checkpointed(cluster, out, 10, lambda: cluster.lose("b"))
    assert cluster.wait("a") == {"a": 0}, cluster.logs()

    starts = read_starts(out)
    assert [s["world_size"] for s in starts] == [2, 1], starts
    step = starts[1]["resumed_from_step"]
    assert 10 <= step < STEPS and starts[1]["world_size_changed"]
    assert "the world size changed from 2 to 1" in cluster.logs(tail=None)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == STEPS
    assert [r["step"] for r in read_metrics(out)] == [r["step"] for r in read_metrics(reference)]
    # Up to the checkpoint it resumed from, the run was the uninterrupted one ...
    assert _equal(load_file(str(_ckpt(out, step))), load_file(str(_ckpt(reference, step))))
    # ... and from there it is exactly `dropkit train --resume` of that checkpoint on one process: the same
    # batches, steps and schedule, the dropout masks of one rank.
    alone = tmp_path / "alone"
    shutil.copytree(reference, alone)
    for p in list_checkpoints(alone / "checkpoints"):
        if int(p.stem[5:]) > step:
            p.unlink()
    (alone / "model.safetensors").unlink()
    assert main(["train", "--resume", "--out", str(alone)]) == 0
    final = load_file(str(out / "model.safetensors"))
    assert _equal(final, load_file(str(alone / "model.safetensors")))
    assert not _equal(final, load_file(str(reference / "model.safetensors")))  # other masks, other weights


@needs_torchrun
@pytest.mark.slow
def test_run_folder_not_shared_is_a_clear_error(tmp_path: Path, cluster: Cluster) -> None:
    # The same --out on two machines that are two local folders: here, two folders on one machine.
    cluster.start("b", tmp_path / "on-b", is_host=False, max_restarts=0)
    cluster.start("a", tmp_path / "on-a", is_host=True, max_restarts=0)
    codes = cluster.wait("a", "b")
    logs = cluster.logs(tail=None)
    assert codes["a"] != 0 and codes["b"] != 0, logs
    # Every rank raises the same error, printed without a traceback (an agent whose group failed first may
    # stop the other agent's rank before it prints), and nothing was trained.
    assert logs.count("dropkit train: error: train: --out") >= 1 and "is not one folder shared by every rank" in logs, logs
    assert "a marker file there that rank 1 on" in logs, logs
    assert not (tmp_path / "on-a" / "config.yaml").exists() and not (tmp_path / "on-b" / "config.yaml").exists()


def _torchrun_env(monkeypatch: pytest.MonkeyPatch, job: str) -> None:
    """The variables torchrun gives a rank that is alone in its group (WORLD_SIZE 1: no process group)."""
    for key, value in {"TORCHELASTIC_RUN_ID": job, "WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0",
                       "TORCHELASTIC_RESTART_COUNT": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(key, value)


SHORT = ["--dataset", "digits", "--hidden", "16", "--steps", "20", "--eval-every", "10", "--threads", "1", "--no-progress"]


def test_nproc_under_torchrun_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _torchrun_env(monkeypatch, "job-nproc")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--nproc", "2", "--out", str(tmp_path / "r"), *SHORT]) == 2
    err = capsys.readouterr().err
    assert "--nproc 2 was given under torchrun (WORLD_SIZE=2)" in err and "--nproc-per-node" in err
    assert not (tmp_path / "r").exists()


def test_restarts_through_a_shared_store_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # torchrun's default: its rendezvous store, kept across restarts, is the ranks' store too.
    _torchrun_env(monkeypatch, "job-store")
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "3")
    assert main(["train", "--out", str(tmp_path / "r"), *SHORT]) == 2
    err = capsys.readouterr().err
    assert "may restart this job (--max-restarts 3)" in err and "export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1" in err
    assert not (tmp_path / "r").exists()
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "0")  # a job that never restarts is fine
    assert main(["train", "--out", str(tmp_path / "r"), *SHORT]) == 0


def test_torchrun_needs_out(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _torchrun_env(monkeypatch, "job-out")
    assert main(["train", *SHORT]) == 2
    assert "need --out DIR" in capsys.readouterr().err


def test_same_job_resumes_another_job_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    _torchrun_env(monkeypatch, "job-1")
    assert main(["train", "--out", str(out), *SHORT]) == 0
    # torchelastic restarting job-1 (or the user rerunning it with the same --rdzv-id) continues the run.
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert main(["train", "--out", str(out), *SHORT, "--steps", "30"]) == 0
    assert [r["step"] for r in read_metrics(out)] == [0, 10, 20, 30]
    starts = read_starts(out)
    assert [(s["job"], s["restart"], s["resumed_from_step"]) for s in starts] == [("job-1", 0, None), ("job-1", 1, 20)]
    # Another torchrun job on the same folder is refused, naming both jobs; --resume lets it continue.
    _torchrun_env(monkeypatch, "job-2")
    capsys.readouterr()
    assert main(["train", "--out", str(out), *SHORT, "--steps", "30"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run (started by torchrun job(s) job-1), and this is torchrun job 'job-2'" in err
    assert len(read_starts(out)) == 2
    assert main(["train", "--resume", "--out", str(out), *SHORT, "--steps", "40"]) == 0
    assert read_starts(out)[-1]["job"] == "job-2" and read_starts(out)[-1]["resumed_from_step"] == 30


def test_a_folder_another_process_trains_in_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Two groups writing one folder (a rendezvous split, or two jobs with one --out): the second refuses.
    out = tmp_path / "r"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()", str(out / ".dropkit-lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"  # type: ignore[union-attr]
        _torchrun_env(monkeypatch, "job-lock")
        assert main(["train", "--out", str(out), *SHORT]) == 2
        assert "another process is training in" in capsys.readouterr().err
        assert not (out / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert main(["train", "--out", str(out), *SHORT]) == 0  # the lock died with its holder


def test_a_plain_run_is_not_resumed_by_a_torchrun_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), *SHORT]) == 0
    _torchrun_env(monkeypatch, "job-late")
    assert main(["train", "--out", str(out), *SHORT]) == 2
    assert "already holds a run (started outside torchrun)" in capsys.readouterr().err


def _two_ranks(rank: int, store_path: str, outs: list[str], result: str) -> None:
    """One rank of a two-process gloo group (FileStore) calling prepare_start on its own view of --out."""
    import torch.distributed as torch_dist

    from dropkit.train.distributed import current_context

    torch_dist.init_process_group("gloo", store=torch_dist.FileStore(store_path, 2), rank=rank, world_size=2)
    try:
        prepare_start(outs[rank], current_context())
        outcome = "ok"
    except DropkitInputError as exc:
        outcome = str(exc)
    Path(f"{result}.{rank}").write_text(outcome)
    torch_dist.destroy_process_group()


def _run_two_ranks(tmp_path: Path, outs: list[Path]) -> list[str]:
    import torch.multiprocessing as mp

    result = str(tmp_path / "result")
    mp.start_processes(_two_ranks, args=(str(tmp_path / "store"), [str(o) for o in outs], result), nprocs=2, join=True, start_method="fork")
    return [Path(f"{result}.{r}").read_text() for r in (0, 1)]


def test_ranks_that_see_different_checkpoints_refuse_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A shared folder whose listing is stale on one node (a network file system's cache): rank 1's view
    # shares rank 0's marker and run files but lacks the newest checkpoint.
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-stale")
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--out", str(a), *SHORT]) == 0  # checkpoints at steps 10 and 20
    (a / "elastic.jsonl").write_text(json.dumps({"job": "job-stale", "world_size": 2}) + "\n")
    (b / "checkpoints").mkdir(parents=True)
    (b / ".dropkit-shared-check").symlink_to(a / ".dropkit-shared-check")
    os.link(_ckpt(a, 10), _ckpt(b, 10))
    outcomes = _run_two_ranks(tmp_path, [a, b])
    assert outcomes[1].replace(str(b), str(a)) == outcomes[0]  # every rank fails alike (naming its --out)
    assert "the ranks see different newest checkpoints" in outcomes[0] and "rank 0 on" in outcomes[0]
    assert ": 20, rank 1 on" in outcomes[0] and outcomes[0].count(": 10") == 1


def test_only_rank_0_writes_checkpoints_and_a_shared_folder_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writers = tmp_path / "writers"
    writers.mkdir()
    save = trainer.save_checkpoint

    def save_and_note(path: Path, *args: object, **kwargs: object) -> None:
        (writers / f"{os.environ['RANK']}-{path.name}").touch()
        save(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer, "save_checkpoint", save_and_note)  # forked ranks inherit the patch
    assert main(["train", "--nproc", "2", "--out", str(tmp_path / "r"), *SHORT]) == 0
    assert sorted(p.name for p in writers.iterdir()) == [f"0-step_{s:08d}.safetensors" for s in (0, 10, 20)]
    # prepare_start at world size 2 on one shared folder: passes, records both hosts, removes its marker.
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-shared")
    assert _run_two_ranks(tmp_path, [tmp_path / "s", tmp_path / "s"]) == ["ok", "ok"]
    assert [(s["world_size"], len(s["hosts"])) for s in read_starts(tmp_path / "s")] == [(2, 2)]
    assert not (tmp_path / "s" / ".dropkit-shared-check").exists()


_WRITER = """
import sys, torch
from pathlib import Path
from dropkit.train.checkpoint import save_checkpoint
model = torch.nn.Linear(1024, 1024)  # 4 MB of weights: a write lasts long enough to be caught
folder = Path(sys.argv[1])
for step in range(1, 10**6):
    save_checkpoint(folder / f"step_{step:08d}.safetensors", model, None, {"step": step, "wall_time": 0.0})
"""


@pytest.mark.slow
def test_a_process_killed_mid_checkpoint_leaves_no_half_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder)], cwd=ROOT, start_new_session=True)

    def writing() -> list[Path]:
        return [p for p in folder.glob(".*.tmp") if p.exists() and p.stat().st_size > 0]

    try:
        # Freeze the writer while a temp file holds some bytes (a write begun, not yet renamed), then kill it.
        for _ in range(100):
            _wait(lambda: bool(writing()), "a checkpoint being written", timeout=60)
            os.kill(proc.pid, signal.SIGSTOP)
            _wait(lambda: _state(proc.pid) == "T", "the writer to stop", timeout=30)  # signals land asynchronously
            if writing():
                break
            os.kill(proc.pid, signal.SIGCONT)  # it had just renamed: try the next write
        else:
            raise AssertionError("never froze the writer mid-write")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    half = writing()
    assert half and all(p.name.startswith(".") for p in half)
    listed = list_checkpoints(folder)
    assert not set(half) & set(listed)
    for path in listed:  # every checkpoint a resume could pick is whole
        assert load_checkpoint(path, torch.nn.Linear(1024, 1024), restore_rng=False)["step"] == int(path.stem[5:])
    assert remove_stale_temps(folder) == sorted(half)  # what rank 0 does before it resumes
