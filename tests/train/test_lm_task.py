"""Language-model runs end to end on a text file the test writes: windows, metrics (loss, bits per character,
perplexity), the run folder, resume, compare, ``dropkit sample`` and their errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dropkit.cli.main import main
from dropkit.data.corpora import clear_corpus_memo
from dropkit.data.text import char_corpus
from dropkit.train.config import from_dict
from dropkit.train.lm_task import LanguageModelTask, eval_windows, truncate_corpus
from dropkit.train.run_dir import read_metrics, read_summary
from dropkit.train.trainer import train_run

TEXT = (
    "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\n"
    "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name.\n\n"
) * 12


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    clear_corpus_memo()
    path = tmp_path / "verona.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _gpt_args(path: Path) -> list[str]:
    return ["--dataset", f"text:{path}", "--model", "gpt", "--d-model", "16", "--heads", "2", "--depth", "1",
            "--context-length", "16", "--batch-size", "8", "--steps", "6", "--eval-every", "3", "--emb-p", "0.1",
            "--attn-p", "0.1", "--resid-p", "0.1", "--threads", "1", "--no-progress"]


def _lstm_args(path: Path) -> list[str]:
    return ["--dataset", f"text:{path}", "--model", "lstm-lm", "--emb-dim", "8", "--rnn-hidden", "16", "--rnn-layers", "2",
            "--context-length", "16", "--batch-size", "8", "--steps", "6", "--eval-every", "3", "--emb-p", "0.1",
            "--lm-input-p", "0.1", "--lm-hidden-p", "0.2", "--lm-output-p", "0.2", "--weight-drop", "0.3",
            "--ar-alpha", "2", "--tar-beta", "1", "--threads", "1", "--no-progress"]


def test_eval_windows_predict_every_character_once() -> None:
    ids = torch.arange(50)
    x, y = eval_windows(ids, 8, None)
    assert x.shape == (6, 8) and torch.equal(y.flatten(), torch.arange(1, 49))  # 48 targets, each once
    assert torch.equal(x[:, 1:], y[:, :-1])
    xs, _ = eval_windows(ids, 8, 3)
    assert xs[:, 0].tolist() == [0, 16, 40]  # windows 0, 2, 5 of 0..5: linspace(0, 5, 3) rounded (half to even)


def test_training_windows_are_every_start_and_the_targets_shift_by_one(text_file: Path) -> None:
    cfg = from_dict({"dataset": f"text:{text_file}", "model": "gpt", "context_length": 16, "eval_windows": 4})
    task = LanguageModelTask()
    corpus = task.load(cfg)
    t = task.tensors(cfg, corpus, torch.device("cpu"))
    assert t.train_x.shape == (corpus.num_train - 16, 16) and t.input_shape == (16,)
    assert torch.equal(t.train_x[5], corpus.train_ids[5:21]) and torch.equal(t.train_y[5], corpus.train_ids[6:22])
    assert t.test_x.shape == (4, 16) and t.sub_x.shape == (4, 16) and t.num_classes == corpus.vocab.size


def test_truncate_keeps_the_vocabulary_and_resplits() -> None:
    c = char_corpus("abcdefghij" * 10, "toy", source="x")
    small = truncate_corpus(c, 30)
    assert (small.num_train, small.num_val, small.vocab) == (27, 3, c.vocab)
    assert truncate_corpus(c, None) is c and truncate_corpus(c, 10_000) is c


@pytest.mark.parametrize("args", [_gpt_args, _lstm_args], ids=["gpt", "lstm-lm"])
def test_a_text_run_logs_loss_bits_per_character_and_perplexity(text_file: Path, tmp_path: Path, args, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *args(text_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "val loss" in printed and "bits/char" in printed and "accuracy" not in printed
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == [0, 3, 6]
    for r in rows:
        for split in ("train", "test"):
            assert math.isclose(r[f"{split}_bpc"], r[f"{split}_loss"] / math.log(2))
            assert math.isclose(r[f"{split}_ppl"], math.exp(r[f"{split}_loss"]))
    assert rows[0]["test_loss"] == pytest.approx(math.log(len(set(TEXT))), rel=0.1)  # an untrained model is ~uniform
    summary = read_summary(out)
    assert summary["metric"] == "test_loss" and summary["test_loss"] == rows[-1]["test_loss"]
    assert summary["best_test_loss"] == min(r["test_loss"] for r in rows)
    vocab = json.loads((out / "vocab.json").read_text())
    assert vocab["chars"] == "".join(sorted(set(TEXT))) and vocab["corpus"] == "file"


def test_a_text_run_resumes_bit_for_bit(text_file: Path, tmp_path: Path) -> None:
    cfg = from_dict({"dataset": f"text:{text_file}", "model": "gpt", "d_model": 16, "heads": 2, "depth": 1,
                     "context_length": 16, "batch_size": 8, "steps": 6, "eval_every": 3, "resid_p": 0.2, "progress": False})
    whole = train_run(cfg, tmp_path / "whole")
    train_run(cfg.replace(steps=3), tmp_path / "part")
    # continue the 3-step run to 6 steps: same rows as the uninterrupted one
    (tmp_path / "part" / "summary.json").unlink()
    (tmp_path / "part" / "config.yaml").write_text((tmp_path / "whole" / "config.yaml").read_text())
    resumed = train_run(cfg, tmp_path / "part", resume=True)
    assert resumed["test_loss"] == whole["test_loss"]
    assert [r["test_loss"] for r in read_metrics(tmp_path / "part")] == [r["test_loss"] for r in read_metrics(tmp_path / "whole")]


def test_compare_on_text_shows_val_loss(text_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["compare", *_lstm_args(text_file), "--out", str(tmp_path / "c")]) == 0
    table = capsys.readouterr().out
    assert "val loss" in table and "val bits/char" in table and "test accuracy" not in table
    report = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert set(report["results"]) == {"no dropout", "dropout"}
    assert (tmp_path / "c" / "p0").is_dir() and (tmp_path / "c" / "dropout").is_dir() and (tmp_path / "c" / "curves.png").is_file()


def test_sample_prints_seeded_text_from_the_vocabulary(text_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *_gpt_args(text_file), "--out", str(out)]) == 0
    capsys.readouterr()
    texts = []
    for seed in (0, 0, 1):
        assert main(["sample", str(out), "--prompt", "ROMEO:", "--tokens", "50", "--seed", str(seed)]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] != texts[2]
    assert texts[0].startswith("ROMEO:") and len(texts[0]) == len("ROMEO:") + 50 + 1  # + print's newline
    assert set(texts[0][:-1]) <= set(TEXT)
    assert main(["sample", str(out), "--prompt", "ROMEO:", "--tokens", "20", "--greedy"]) == 0
    assert main(["sample", str(out), "--tokens", "20", "--top-k", "3", "--checkpoint", "last"]) == 0
    # An unfinished run samples from its newest checkpoint.
    (out / "model.safetensors").unlink()
    assert main(["sample", str(out), "--prompt", "JULIET:", "--tokens", "10"]) == 0


def test_sample_bad_arguments_are_clear_errors(text_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *_lstm_args(text_file), "--out", str(out)]) == 0
    capsys.readouterr()
    cases = [
        (["--prompt", "ROMEO€"], "--prompt: text must use only the"),
        (["--temperature", "0"], "--temperature must be a number > 0 (use --greedy for argmax decoding), got 0"),
        (["--temperature", "-0.5"], "--temperature must be a number > 0"),
        (["--tokens", "0"], "--tokens must be an integer >= 1, got 0"),
        (["--top-k", "0"], "--top-k must be an integer >= 1, got 0"),
        (["--top-k", "1000"], "--top-k must be at most the vocabulary size"),
        (["--checkpoint", "step_9.safetensors"], "--checkpoint must be 'final', 'last' or one of the run's checkpoints"),
    ]
    for extra, message in cases:
        assert main(["sample", str(out), *extra]) == 2
        assert message in capsys.readouterr().err
    # no weights at all
    (out / "model.safetensors").unlink()
    for ckpt in (out / "checkpoints").iterdir():
        ckpt.unlink()
    assert main(["sample", str(out)]) == 2
    assert "holds no weights: no model.safetensors and no checkpoints" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nowhere")]) == 2
    assert "RUN_DIR must be a run folder" in capsys.readouterr().err


def test_sample_refuses_a_classifier_run(tmp_path: Path, capsys) -> None:
    out = tmp_path / "clf"
    assert main(["train", "--dataset", "digits", "--hidden", "8", "--steps", "2", "--eval-every", "1", "--threads", "1",
                 "--no-progress", "--out", str(out)]) == 0
    assert main(["sample", str(out)]) == 2
    assert "the run must be a language model (gpt, lstm-lm on a text dataset), got model 'mlp'" in capsys.readouterr().err


def test_mismatched_model_and_dataset_are_clear_errors(text_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["train", "--dataset", f"text:{text_file}", "--model", "mlp", "--steps", "2", "--out", str(tmp_path / "a")]) == 2
    assert "model must be one of 'gpt', 'lstm-lm' for text dataset" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--model", "gpt", "--steps", "2", "--out", str(tmp_path / "b")]) == 2
    assert "model 'gpt' is a language model; dataset must be a text dataset" in capsys.readouterr().err
    assert main(["train", *_gpt_args(text_file), "--context-length", "500", "--out", str(tmp_path / "c")]) == 2
    assert "context_length must be smaller than the validation split" in capsys.readouterr().err


def test_a_sweep_over_a_text_preset_ranks_by_val_loss_and_reports(text_file: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "preset: shakespeare-awd-lstm\n"
        f"base: {{dataset: 'text:{text_file}', max_chars: null, emb_dim: 8, rnn_hidden: 16, block_size: 16, steps: 4, eval_every: 2}}\n"
        "grid: {weight_drop: [0.0, 0.5], seed: [0, 1]}\n"
        "metric: test_loss\n"
    )
    assert main(["sweep", str(spec), "--out", str(tmp_path / "s"), "--report"]) == 0
    page = (tmp_path / "s" / "report" / "index.html").read_text()
    assert "Best configurations by test_loss" in page and "test_bpc" in page
    assert "Test accuracy and generalisation gap against p" in page  # the section says it does not apply


def test_nanogpt_learning_rate_schedule_and_beta2() -> None:
    from dropkit.train.trainer import build_optimizer, lr_at

    cfg = from_dict({"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 100, "lr_schedule": "cosine", "steps": 2000,
                     "adam_beta2": 0.99, "optimizer": "adamw"})
    # nanoGPT get_lr: lr * (it + 1) / (warmup + 1), then min_lr + 0.5 (1 + cos(pi r)) (lr - min_lr)
    assert lr_at(cfg, 0, 2000) == pytest.approx(1e-3 / 101)
    assert lr_at(cfg, 99, 2000) == pytest.approx(1e-3 * 100 / 101)
    assert lr_at(cfg, 100, 2000) == pytest.approx(1e-3)
    assert lr_at(cfg, 1050, 2000) == pytest.approx(1e-4 + 0.5 * 0.9e-3)
    assert lr_at(cfg, 2000, 2000) == pytest.approx(1e-4)
    plain = from_dict({"lr": 1e-3, "lr_schedule": "cosine", "steps": 2000})  # the defaults: the old schedule
    assert [lr_at(plain, s, 2000) for s in (0, 500, 2000)] == [1e-3, 1e-3 * 0.5 * (1 + math.cos(math.pi / 4)), 0.0]
    opt = build_optimizer(cfg, torch.nn.Linear(2, 2))
    assert all(g["betas"] == (0.9, 0.99) for g in opt.param_groups)
    with pytest.raises(ValueError, match=r"min_lr must be in \[0, lr=0.001\], got 0.01"):
        from_dict({"lr": 1e-3, "min_lr": 1e-2})
    with pytest.raises(ValueError, match=r"adam_beta2 must be in \[0, 1\), got 1.0"):
        from_dict({"adam_beta2": 1.0})


@pytest.mark.parametrize("args", [_gpt_args, _lstm_args], ids=["gpt", "lstm-lm"])
def test_load_model_rebuilds_a_language_model_run_without_its_corpus(text_file: Path, tmp_path: Path, args) -> None:
    from safetensors.torch import load_file

    from dropkit.data.text import CharVocab
    from dropkit.train.run_dir import load_model

    out = tmp_path / "run"
    assert main(["train", *args(text_file), "--out", str(out)]) == 0
    text_file.unlink()  # the shapes come from context_length and vocab.json, not from the corpus
    clear_corpus_memo()
    saved = load_file(str(out / "model.safetensors"))
    vocab = CharVocab.from_json(json.loads((out / "vocab.json").read_text()))
    for checkpoint in ("final", "last"):  # the last checkpoint is the final step's
        cfg, model = load_model(out, checkpoint=checkpoint)
        state = model.state_dict()
        assert cfg.model == args(text_file)[3] and not model.training
        assert state.keys() == saved.keys() and all(torch.equal(state[k], saved[k]) for k in saved)
    assert model(torch.randint(0, vocab.size, (2, 16))).shape == (2, 16, vocab.size)
    (out / "vocab.json").unlink()
    with pytest.raises(FileNotFoundError, match="vocab.json' does not exist: the language-model run did not get far enough"):
        load_model(out)


def test_uncertainty_refuses_a_language_model_run(text_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *_gpt_args(text_file), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["uncertainty", str(out)]) == 2
    err = capsys.readouterr().err
    assert "uncertainty: the run must be a classification run, got the language model 'gpt' on 'text:" in err
    assert not (out / "uncertainty").exists()
