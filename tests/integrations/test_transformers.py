"""dropkit.integrations.transformers with the real Hugging Face Trainer and models built from tiny configs
(no weights): the schedule drives attention and hidden dropout (read back from modules and configs, and
measured as the dropped fraction at every step), MC-dropout evaluation, clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

T = pytest.importorskip("transformers")

from dropkit.integrations.transformers import DropoutSchedule, mc_evaluate  # noqa: E402
from dropkit.schedules import make_schedule  # noqa: E402

SEQ, BATCH, VOCAB = 16, 8, 50


def build(kind: str, p_attn: float, p_hidden: float) -> nn.Module:
    common = dict(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                  max_position_embeddings=SEQ, attn_implementation="eager", num_labels=2)
    torch.manual_seed(0)
    if kind == "bert":  # attention reads self.dropout.p (an nn.Dropout) at forward time
        return T.BertForSequenceClassification(T.BertConfig(
            hidden_dropout_prob=p_hidden, attention_probs_dropout_prob=p_attn, **common))
    if kind == "gpt2":  # attention reads self.attn_dropout.p (an nn.Dropout) at forward time
        return T.GPT2ForSequenceClassification(T.GPT2Config(
            vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=SEQ, attn_implementation="eager",
            num_labels=2, pad_token_id=0, attn_pdrop=p_attn, resid_pdrop=p_hidden, embd_pdrop=p_hidden))
    if kind == "llama":  # attention reads a float attribute copied from the config at build time
        return T.LlamaForSequenceClassification(T.LlamaConfig(
            attention_dropout=p_attn, num_key_value_heads=2, pad_token_id=0, **common))
    if kind == "persimmon":  # attention reads self.config.attention_dropout at forward time
        return T.PersimmonForSequenceClassification(T.PersimmonConfig(
            hidden_dropout=p_hidden, attention_dropout=p_attn, pad_token_id=0, **common))
    raise AssertionError(kind)


ATTENTION = {"bert": "BertSelfAttention", "gpt2": "GPT2Attention", "llama": "LlamaAttention",
             "persimmon": "PersimmonAttention"}
CAUSAL = {"bert": False, "gpt2": True, "llama": True, "persimmon": True}


def dataset(n: int = 32) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    # token 0 is the pad token of the decoder models: never used, so no position is masked as padding
    return [{"input_ids": torch.randint(1, VOCAB, (SEQ,), generator=g), "labels": torch.tensor(i % 2)} for i in range(n)]


def args(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
                report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no", logging_steps=1,
                learning_rate=1e-3, seed=0, dataloader_num_workers=0)
    base.update(kw)
    return T.TrainingArguments(**base)


class Probe(T.TrainerCallback):
    """Per optimizer step: the rates read back (after DropoutSchedule set them) and the dropped fractions of the
    attention probabilities and of the hidden nn.Dropout layers, counted by forward hooks."""

    def __init__(self, model: nn.Module, kind: str) -> None:
        self.kind = kind
        self.steps: list[dict] = []
        self.handles = []
        for name, m in model.named_modules():
            if type(m).__name__ == ATTENTION[kind]:
                self.handles.append(m.register_forward_hook(self.attention))
            elif isinstance(m, nn.Dropout) and not name.endswith("self_attn.attention_dropout"):
                self.handles.append(m.register_forward_hook(self.hidden))
        self.model = model

    def on_step_begin(self, args, state, control, **kwargs):
        m = self.model
        read = {"config": {k: getattr(m.config, k) for k in ("hidden_dropout_prob", "attention_probs_dropout_prob",
                                                              "attention_dropout", "hidden_dropout", "attn_pdrop", "resid_pdrop",
                                                              "embd_pdrop") if hasattr(m.config, k)},
                "dropout_p": sorted({d.p for d in m.modules() if isinstance(d, nn.Dropout)}),
                "attr": sorted({a.attention_dropout for a in m.modules() if isinstance(getattr(a, "attention_dropout", None), float)})}
        self.steps.append({"step": state.global_step, "read": read, "attn": [0, 0], "hidden": [0, 0]})

    def attention(self, module, inputs, output):
        if not module.training or not self.steps:
            return
        w = output[1].detach()
        allowed = torch.ones(w.shape[-2:], dtype=torch.bool).tril() if CAUSAL[self.kind] else torch.ones(w.shape[-2:], dtype=torch.bool)
        allowed = allowed.expand_as(w)
        self.steps[-1]["attn"][0] += int((w[allowed] == 0).sum())
        self.steps[-1]["attn"][1] += int(allowed.sum())

    def hidden(self, module, inputs, output):
        if not module.training or not self.steps:
            return
        live = inputs[0] != 0
        self.steps[-1]["hidden"][0] += int((output[live] == 0).sum())
        self.steps[-1]["hidden"][1] += int(live.sum())


def within(dropped: int, n: int, p: float) -> bool:
    """The dropped count is within 6 binomial standard deviations of n * p (exact at p = 0)."""
    assert n > 0
    return abs(dropped / n - p) <= 6 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama", "persimmon"])
def test_schedule_drives_attention_and_hidden_dropout(tmp_path, kind) -> None:
    model = build(kind, p_attn=0.1, p_hidden=0.1)
    steps = 4
    sched = DropoutSchedule("linear", p=0.6)  # total_steps from the Trainer: max_steps
    probe = Probe(model, kind)
    trainer = T.Trainer(model=model, args=args(tmp_path, max_steps=steps), train_dataset=dataset(),
                        callbacks=[sched, probe])
    trainer.remove_callback(T.PrinterCallback)
    trainer.train()
    expected = make_schedule("linear", 0.6, total_steps=steps)
    assert [s["step"] for s in probe.steps] == list(range(steps))
    assert [r for _, r in sched.history] == pytest.approx([expected(t) for t in range(steps)])
    for s in probe.steps:
        want = expected(s["step"])
        read = s["read"]
        assert all(v == pytest.approx(want) for v in read["config"].values()), read
        assert read["dropout_p"] == pytest.approx([want] * len(read["dropout_p"]))
        assert read["attr"] == pytest.approx([want] * len(read["attr"]))
        dropped, n = s["attn"]
        assert within(dropped, n, want), (kind, s["step"], dropped / n, want)
        if kind != "llama":  # Llama has no hidden dropout
            dropped, n = s["hidden"]
            assert within(dropped, n, want), (kind, s["step"], dropped / n, want)
    # the schedule really changed the fractions: step 0 drops nothing, the last step drops 0.45
    assert probe.steps[0]["attn"][0] == 0 and probe.steps[-1]["attn"][0] > 0
    # the applied rate is in the training logs of every step
    logged = [h["dropout_rate"] for h in trainer.state.log_history if "loss" in h]
    assert logged == pytest.approx([expected(t) for t in range(steps)])


def test_gradient_accumulation_shares_one_rate_per_optimizer_step(tmp_path) -> None:
    model = build("bert", p_attn=0.1, p_hidden=0.1)
    sched = DropoutSchedule("late", p=0.5, cutoff=1)
    probe = Probe(model, "bert")
    trainer = T.Trainer(model=model, args=args(tmp_path, max_steps=2, gradient_accumulation_steps=2,
                                                per_device_train_batch_size=4),
                        train_dataset=dataset(), callbacks=[sched, probe])
    trainer.remove_callback(T.PrinterCallback)
    trainer.train()
    assert sched.history == [(0, 0.0), (1, 0.5)]
    # both micro-batches of step 0 dropped nothing; those of step 1 dropped about half
    assert [s["step"] for s in probe.steps] == [0, 1]
    assert probe.steps[0]["attn"][0] == 0 and probe.steps[0]["hidden"][0] == 0
    assert within(*probe.steps[1]["attn"], 0.5) and within(*probe.steps[1]["hidden"], 0.5)
    n_step0 = probe.steps[0]["attn"][1]
    assert n_step0 == 2 * 4 * 2 * 2 * SEQ * SEQ  # 2 micro-batches x 4 rows x 2 layers x 2 heads x L x L


def test_resume_from_checkpoint_continues_the_schedule(tmp_path) -> None:
    first = DropoutSchedule("linear", p=0.4)
    trainer = T.Trainer(model=build("bert", 0.1, 0.1), train_dataset=dataset(), callbacks=[first],
                        args=args(tmp_path, max_steps=4, save_strategy="steps", save_steps=2))
    trainer.remove_callback(T.PrinterCallback)
    trainer.train()
    model = build("bert", 0.1, 0.1)
    resumed = DropoutSchedule("linear", p=0.4)
    probe = Probe(model, "bert")
    trainer = T.Trainer(model=model, train_dataset=dataset(), callbacks=[resumed, probe],
                        args=args(tmp_path, max_steps=4))
    trainer.remove_callback(T.PrinterCallback)
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert [s for s, _ in first.history] == [0, 1, 2, 3]
    assert [r for _, r in first.history] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert resumed.history == first.history[2:]  # steps 2 and 3 again, at the same rates
    assert [r for s in probe.steps for r in s["read"]["dropout_p"]] == pytest.approx([0.2, 0.3])


def test_persimmon_attention_follows_the_config_not_the_modules(tmp_path) -> None:
    # configs=False sets the modules only: Persimmon's attention reads self.config.attention_dropout, so its
    # dropped fraction stays at the build-time 0.5 while the hidden dropout follows the schedule to 0
    model = build("persimmon", p_attn=0.5, p_hidden=0.5)
    probe = Probe(model, "persimmon")
    trainer = T.Trainer(model=model, args=args(tmp_path, max_steps=2), train_dataset=dataset(),
                        callbacks=[DropoutSchedule("constant", p=0.0, configs=False), probe])
    trainer.remove_callback(T.PrinterCallback)
    trainer.train()
    for s in probe.steps:
        assert within(*s["attn"], 0.5) and s["attn"][0] > 0
        assert s["hidden"][0] == 0
    assert model.config.attention_dropout == 0.5


def test_relative_keeps_the_ratio_restore_and_a_second_train(tmp_path) -> None:
    model = build("bert", p_attn=0.2, p_hidden=0.4)
    sched = DropoutSchedule("early", relative=True, cutoff=2)
    trainer = T.Trainer(model=model, args=args(tmp_path, max_steps=3), train_dataset=dataset(), callbacks=[sched])
    trainer.remove_callback(T.PrinterCallback)
    trainer.train()
    assert model.config.attention_probs_dropout_prob == 0.0 and model.config.hidden_dropout_prob == 0.0
    assert sched.rates["bert.encoder.layer.0.attention.self.dropout.p"] == 0.0
    sched.restore()
    assert model.config.attention_probs_dropout_prob == 0.2 and model.config.hidden_dropout_prob == 0.4
    assert model.bert.encoder.layer[0].attention.self.dropout.p == 0.2
    assert model.bert.encoder.layer[0].output.dropout.p == 0.4
    # at step 0 of the schedule the factor is 1: each layer at its own rate
    sched2 = DropoutSchedule("early", relative=True, cutoff=0.5)
    probe = Probe(model, "bert")
    trainer = T.Trainer(model=model, args=args(tmp_path, max_steps=1), train_dataset=dataset(), callbacks=[sched2, probe])
    trainer.remove_callback(T.PrinterCallback)
    trainer.train()
    assert probe.steps[0]["read"]["dropout_p"] == [0.2, 0.4]
    assert within(*probe.steps[0]["attn"], 0.2) and within(*probe.steps[0]["hidden"], 0.4)


class NoDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, input_ids, labels=None):
        logits = self.head(self.emb(input_ids).mean(1))
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def test_schedule_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"DropoutSchedule: schedule must be one of .*got 'curriculm' \(did you mean 'curriculum'\?\)"):
        DropoutSchedule("curriculm", p=0.1)
    with pytest.raises(ValueError, match="DropoutSchedule: p must be in \\[0, 1\\], got -0.1"):
        DropoutSchedule("constant", p=-0.1)
    with pytest.raises(ValueError, match="DropoutSchedule: cutoff must be a fraction in \\(0, 1\\) or a whole step"):
        DropoutSchedule("late", p=0.1, cutoff=1.5)
    with pytest.raises(ValueError, match=r"schedule options \(gamma\) need a named schedule"):
        DropoutSchedule(lambda s: 0.1, gamma=0.3)
    for bad in ("", 3):  # checked by ScheduleSpec, as the other arguments
        with pytest.raises(TypeError, match=f"DropoutSchedule: log_name must be a non-empty str or None, got {bad!r}"):
            DropoutSchedule("linear", p=0.1, log_name=bad)
    assert DropoutSchedule("linear", p=0.1).log_name == "dropout_rate"
    trainer = T.Trainer(model=NoDropout(), args=args(tmp_path, max_steps=1), train_dataset=dataset(8),
                        callbacks=[DropoutSchedule("linear", p=0.1)])
    with pytest.raises(ValueError, match="model must have at least one dropout layer .* got none in NoDropout"):
        trainer.train()


def test_transformers_callback_refuses_a_lightning_trainer(tmp_path) -> None:
    L = pytest.importorskip("lightning")

    class Net(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))

        def training_step(self, batch, batch_idx):
            return self.net(batch).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = L.Trainer(max_steps=1, callbacks=[DropoutSchedule("linear", p=0.1)], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    with pytest.raises(TypeError, match="DropoutSchedule: callback must be used with a transformers Trainer, got a Lightning Trainer"):
        trainer.fit(Net(), torch.utils.data.DataLoader(torch.randn(4, 2), batch_size=2))
    with pytest.raises(TypeError, match="mc_evaluate: trainer must be a transformers.Trainer, got Trainer; use dropkit.integrations.lightning.MCDropout"):
        mc_evaluate(trainer)


def test_mc_evaluate_scores_mc_against_deterministic(tmp_path) -> None:
    model = build("bert", p_attn=0.3, p_hidden=0.3)
    trainer = T.Trainer(model=model, args=args(tmp_path, max_steps=4), train_dataset=dataset(), eval_dataset=dataset(24))
    trainer.remove_callback(T.PrinterCallback)
    trainer.train()
    model.train()  # mixed flags before: each is restored
    model.bert.embeddings.eval()
    flags = [m.training for m in model.modules()]
    metrics = mc_evaluate(trainer, samples=8)
    assert [m.training for m in model.modules()] == flags
    keys = ("accuracy", "nll", "brier", "ece", "mean_entropy")
    assert all(f"mc_{k}" in metrics and f"mc_deterministic_{k}" in metrics for k in keys)
    assert metrics["mc_samples"] == 8 and metrics["mc_mean_mutual_information"] > 0
    assert "mc_deterministic_mean_mutual_information" not in metrics
    # MC averaging changes the predictive distribution: its NLL differs from the deterministic pass's
    assert metrics["mc_nll"] != metrics["mc_deterministic_nll"]
    # the deterministic pass is the eval-mode model: recompute its NLL by hand
    batch = torch.stack([d["input_ids"] for d in dataset(24)])
    y = torch.stack([d["labels"] for d in dataset(24)])
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(input_ids=batch).logits.double(), -1)
    assert metrics["mc_deterministic_nll"] == pytest.approx(float(-p.gather(1, y[:, None]).log().mean()), rel=1e-6)
    # seeded: the same numbers again; logged into the trainer's history
    again = mc_evaluate(trainer, samples=8, log=False)
    assert all(again[k] == metrics[k] for k in metrics if not k.endswith("seconds"))
    assert trainer.state.log_history[-1]["mc_nll"] == metrics["mc_nll"]


def test_mc_evaluate_keeps_batchnorm_statistics(tmp_path) -> None:
    # MobileNetV2 from a config: BatchNorm everywhere, classifier dropout, main input "pixel_values"
    torch.manual_seed(0)
    model = T.MobileNetV2ForImageClassification(T.MobileNetV2Config(
        image_size=32, depth_multiplier=0.25, num_labels=3, classifier_dropout_prob=0.5))
    g = torch.Generator().manual_seed(0)
    model.train()  # untrained running statistics make every feature ~1e-27: give them batch statistics first
    with torch.no_grad():
        for _ in range(10):
            model(pixel_values=torch.randn(16, 3, 32, 32, generator=g))
    data = [{"pixel_values": torch.randn(3, 32, 32, generator=g), "labels": torch.tensor(i % 3)} for i in range(8)]
    trainer = T.Trainer(model=model, args=args(tmp_path), eval_dataset=data)
    trainer.remove_callback(T.PrinterCallback)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    assert before
    metrics = mc_evaluate(trainer, samples=6, log=False)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert metrics["mc_mean_mutual_information"] > 0


def test_mc_evaluate_errors(tmp_path) -> None:
    bert = build("bert", 0.1, 0.1)
    trainer = T.Trainer(model=bert, args=args(tmp_path), eval_dataset=dataset(8))
    with pytest.raises(ValueError, match="label_key must name a key of the batch .* got 'label'"):
        mc_evaluate(trainer, label_key="label", log=False)
    with pytest.raises(ValueError, match="samples must be an integer >= 1, got 0"):
        mc_evaluate(trainer, samples=0)
    with pytest.raises(TypeError, match="trainer must be a transformers.Trainer, got Module"):
        mc_evaluate(nn.Module())
    quiet = T.Trainer(model=build("bert", 0.0, 0.0), args=args(tmp_path), eval_dataset=dataset(8))
    with pytest.raises(ValueError, match="must contain a stochastic layer .* got BertForSequenceClassification with none"):
        mc_evaluate(quiet)
    tokens = T.Trainer(model=T.BertForTokenClassification(bert.config), args=args(tmp_path),
                       eval_dataset=[{"input_ids": d["input_ids"], "labels": torch.tensor(0)} for d in dataset(8)])
    with pytest.raises(ValueError, match=r"labels must have shape \(8, 16\) for per-token logits \(8, 16, 2\), got \(8,\)"):
        mc_evaluate(tokens, log=False)
    with pytest.raises(TypeError, match="shift_labels must be a bool, got 'yes'"):
        mc_evaluate(trainer, shift_labels="yes")


def test_mc_evaluate_per_token_with_ignored_labels(tmp_path) -> None:
    torch.manual_seed(0)
    model = T.BertForTokenClassification(build("bert", 0.2, 0.2).config)
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(8):
        labels = torch.randint(0, 2, (SEQ,), generator=g)
        labels[: i + 1] = -100  # e.g. special or prompt tokens: left out of the scores
        rows.append({"input_ids": torch.randint(1, VOCAB, (SEQ,), generator=g), "labels": labels})
    trainer = T.Trainer(model=model, args=args(tmp_path), eval_dataset=rows)
    metrics = mc_evaluate(trainer, samples=5, log=False)
    assert metrics["mc_rows"] == sum(SEQ - (i + 1) for i in range(8))
    assert metrics["mc_mean_mutual_information"] > 0


def test_mc_evaluate_causal_lm_shifts_labels_like_its_loss(tmp_path) -> None:
    torch.manual_seed(0)
    model = T.GPT2LMHeadModel(T.GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=SEQ,
                                           resid_pdrop=0.2, embd_pdrop=0.2, attn_pdrop=0.2))
    data = [{"input_ids": d["input_ids"], "labels": d["input_ids"].clone()} for d in dataset(8)]
    trainer = T.Trainer(model=model, args=args(tmp_path, per_device_eval_batch_size=8), eval_dataset=data)
    metrics = mc_evaluate(trainer, samples=4, log=False)
    assert metrics["mc_rows"] == 8 * (SEQ - 1)
    # the deterministic NLL is the model's own eval loss: the same shift, the same tokens
    ids = torch.stack([d["input_ids"] for d in data])
    model.eval()
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert metrics["mc_deterministic_nll"] == pytest.approx(float(loss), rel=1e-5)
    assert metrics["mc_nll"] != metrics["mc_deterministic_nll"]
    unshifted = mc_evaluate(trainer, samples=4, log=False, shift_labels=False)
    assert unshifted["mc_rows"] == 8 * SEQ and unshifted["mc_deterministic_nll"] != pytest.approx(float(loss), rel=1e-3)
