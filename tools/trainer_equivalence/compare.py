"""Compare two trees written by runs.sh: ``compare.py REF NEW``. Everything must be equal except wall times.

metrics.jsonl rows and JSON files without their wall-time keys; checkpoints tensor by tensor with their
headers minus wall time; model.safetensors and other files byte for byte; stdout/stderr with timings
("1.3 s") and the tree's own path masked; env.json without git_sha. The interrupted run's checkpoints and
first output depend on where the signal landed and are skipped (its final files are compared).
"""
import json, re, sys
from pathlib import Path
import torch
from safetensors import safe_open
from safetensors.torch import load_file

ref, new = Path(sys.argv[1]), Path(sys.argv[2])
bad = []

def norm_text(s, root):
    s = s.replace(str(root), "ROOT")
    s = re.sub(r"\d+(\.\d+)? s\b", "T s", s)
    s = re.sub(r"time \(s\)[^\n]*", "time (s) T", s)
    return s

def strip_wall(obj):
    if isinstance(obj, dict):
        return {k: strip_wall(v) for k, v in obj.items() if k not in ("wall_time", "time_s", "seconds")}
    if isinstance(obj, list):
        return [strip_wall(v) for v in obj]
    return obj

def tensors_equal(a, b):
    ta, tb = load_file(str(a)), load_file(str(b))
    if ta.keys() != tb.keys():
        return f"keys differ {sorted(set(ta) ^ set(tb))}"
    for k in ta:
        if ta[k].dtype != tb[k].dtype or ta[k].shape != tb[k].shape or not torch.equal(ta[k], tb[k]):
            return f"tensor {k} differs"
    with safe_open(str(a), framework="pt") as f: ha = f.metadata() or {}
    with safe_open(str(b), framework="pt") as f: hb = f.metadata() or {}
    ha = {k: strip_wall(json.loads(v)) for k, v in ha.items()}
    hb = {k: strip_wall(json.loads(v)) for k, v in hb.items()}
    return None if ha == hb else f"header differs {ha} vs {hb}"

n = 0
skip_out = {"intr1.out", "intr1.err"}  # the step SIGTERM lands on is up to the clock
for a in sorted(ref.rglob("*")):
    rel = a.relative_to(ref)
    b = new / rel
    if a.is_dir():
        if not b.is_dir(): bad.append(f"{rel}: missing dir")
        continue
    if rel.name in skip_out or rel.parts[0] == "intr" and rel.parts[-2:-1] == ("checkpoints",):
        continue  # the interrupted run's checkpoints depend on where it stopped; its final files do not
    n += 1
    if not b.exists():
        bad.append(f"{rel}: missing"); continue
    if a.suffix in (".out", ".err"):
        if norm_text(a.read_text(), ref) != norm_text(b.read_text(), new):
            bad.append(f"{rel}: text differs")
    elif a.name.endswith(".jsonl"):
        ra = [strip_wall(json.loads(l)) for l in a.read_text().splitlines()]
        rb = [strip_wall(json.loads(l)) for l in b.read_text().splitlines()]
        if ra != rb: bad.append(f"{rel}: rows differ")
    elif a.suffix == ".json":
        ja, jb = json.loads(norm_text(a.read_text(), ref)), json.loads(norm_text(b.read_text(), new))
        if rel.name == "env.json":
            for j in (ja, jb):
                for k in ("time", "date", "started", "hostname", "command", "argv", "pid", "git_sha"):
                    j.pop(k, None)
        if strip_wall(ja) != strip_wall(jb): bad.append(f"{rel}: json differs")
    elif a.suffix == ".safetensors":
        if a.read_bytes() != b.read_bytes():
            why = tensors_equal(a, b)
            if why: bad.append(f"{rel}: {why}")
    else:
        if norm_text(a.read_bytes().decode("latin1"), ref) != norm_text(b.read_bytes().decode("latin1"), new):
            bad.append(f"{rel}: bytes differ")
extra = sorted(str(p.relative_to(new)) for p in new.rglob("*") if not (ref / p.relative_to(new)).exists())
if extra: bad.append(f"only in new: {extra}")
print(f"compared {n} files")
print("\n".join(bad) if bad else "ALL EQUAL")
