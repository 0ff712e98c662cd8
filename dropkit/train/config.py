"""The run configuration: one flat dataclass, resolved as defaults < preset < config file < flags.

Every key is a flat name so that the CLI (``--eval-every 50``), config files (``eval_every: 50``) and
sweeps (``grid: {p: [0, 0.5]}``) address it the same way. Unknown keys are errors that suggest the
closest valid name.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from dropkit._io import atomic_write_text
from dropkit._validation import closest_name_hint

__all__ = ["Config", "DROPOUT_FIELDS", "load_config_file", "save_config", "config_keys"]


@dataclasses.dataclass
class Config:
    """Everything a run needs. Field comments are the ``--help`` texts."""

    # --- run ---
    name: str = "run"  # run name; the folder is <out>/<name> unless --out names it
    seed: int = 0  # seeds the weights, the data order and the dropout masks
    device: str = "cpu"  # torch device: cpu, cuda, cuda:1, ...
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default
    compile: bool = False  # torch.compile the training forward (Inductor); pays a one-off compile, masks differ from eager's
    # --- data ---
    dataset: str = "mnist1d"  # mnist1d | digits | fashion-mnist | mnist | espeak-digits | fsdd | speech-commands, or your files: PATH or KIND:PATH (idx, npz, csv, parquet, imagefolder)
    data_dir: str | None = None  # where to look for dataset files first
    download: bool = True  # download missing files from the official mirrors
    # --- model ---
    model: str = "mlp"  # mlp | cnn | rnn | transformer | speech-rnn, or your own: module:callable (e.g. torchvision.models:resnet18)
    hidden: list[int] = dataclasses.field(default_factory=lambda: [128, 64])  # MLP hidden sizes
    activation: str = "relu"  # relu | gelu | tanh | silu | elu | selu | sigmoid
    p: float = 0.5  # dropout rate (probability of dropping) after each hidden layer
    input_p: float = 0.0  # dropout rate on the input
    hidden_p: list[float] | None = None  # per-hidden-layer rates; overrides p when given
    # --- optimisation ---
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3  # learning rate
    momentum: float = 0.9  # SGD momentum
    lr_schedule: str = "constant"  # constant | cosine | step
    batch_size: int = 100  # training batch size
    steps: int | None = 1000  # training steps; give steps or epochs, not both
    epochs: int | None = None  # training epochs (steps = epochs * ceil(n_train / batch_size))
    l2: float = 0.0  # lambda of the L2 penalty lambda * sum ||W||^2 on weights (not biases / norms)
    weight_decay: float = 0.0  # decoupled weight decay (AdamW style) on weights only
    max_norm: float | None = None  # max-norm constraint c on each unit's incoming weights
    grad_clip: float | None = None  # clip the gradient norm to this value
    # --- evaluation, logging and checkpoints ---
    eval_every: int = 100  # evaluate every N steps (and at the last step)
    eval_batch_size: int = 1000  # batch size for evaluation
    eval_train_samples: int = 10000  # train samples used to measure train accuracy (eval mode)
    val_fraction: float = 0.1  # share of the training data held out (seeded) to choose the best step on; 0: none, best chosen on test
    checkpoint_every: int | None = None  # checkpoint every N steps; default: at every evaluation
    keep_checkpoints: int = 2  # how many checkpoints to keep
    progress: bool = True  # show a progress bar

    # Model-specific keys for CNN / RNN / transformer models are added in the sections below.
    # --- cnn ---
    channels: list[int] = dataclasses.field(default_factory=lambda: [32, 64])  # cnn conv channels, one conv-BN-ReLU-pool block each (p is the dropout before the classifier)
    kernel_size: int = 3  # cnn conv kernel size (odd; 'same' padding)
    batch_norm: bool = True  # cnn BatchNorm after each conv
    conv_dropout: str = "channel"  # cnn dropout after each conv block: channel (Dropout1d/2d) | block (DropBlock)
    conv_p: float = 0.1  # cnn dropout rate (probability of dropping) after each conv block
    block_size: int = 3  # cnn DropBlock block size (conv_dropout=block); capped at each block's map size
    fc_hidden: int = 128  # cnn hidden units before the classifier; 0: none (dropout p, then the classifier)
    # --- rnn ---
    rnn_cell: str = "lstm"  # rnn cell: lstm | gru (p is the dropout on the last hidden state)
    rnn_hidden: int = 128  # rnn hidden units per layer
    rnn_layers: int = 1  # rnn stacked layers
    rnn_input_p: float = 0.0  # rnn locked (variational) dropout on each layer's input, one mask per sequence
    rnn_recurrent_p: float = 0.0  # rnn variational dropout on the fed-back hidden state (> 0: step loop, slower)
    weight_drop: float = 0.0  # rnn weight drop (DropConnect) on hidden-to-hidden weights, fused kernel kept
    zoneout: float = 0.0  # rnn zoneout rate: probability a unit keeps its previous h / c (> 0: step loop)
    # --- transformer ---
    d_model: int = 64  # transformer width (token embedding size)
    heads: int = 4  # transformer attention heads; must divide d_model
    depth: int = 4  # transformer blocks
    patch: int = 4  # transformer token size: patch x patch pixels of an image, patch values of a 1-D signal; must divide the input size
    mlp_ratio: float = 2.0  # transformer MLP hidden width as a multiple of d_model
    pool: str = "cls"  # transformer pooling: cls (a CLS token) | mean (mean of the tokens)
    attn_p: float = 0.1  # transformer attention-probability dropout rate (training only)
    resid_p: float = 0.1  # transformer residual dropout rate on each block's attention and MLP output
    drop_path: float = 0.1  # transformer DropPath rate of the last block (linear from 0 over depth)
    token_p: float = 0.0  # transformer token (patch) dropout: fraction of tokens dropped in training
    # --- schedules ---
    p_schedule: str = "constant"  # constant | linear | early | late | curriculum: how every dropout rate moves over steps (a factor on the configured rates)
    p_schedule_start: float = 0.0  # linear: factor at step 0 (ramps to 1 at p_schedule_cutoff, default the last step)
    p_schedule_cutoff: float | None = None  # early/late: step where dropout switches off/on; linear: ramp end; a value in (0, 1) is a fraction of the run
    p_schedule_linear: bool = False  # early: decrease linearly to 0 at the cutoff instead of holding the rate
    p_schedule_gamma: float | None = None  # curriculum: gamma of p(t) = p * (1 - exp(-gamma * t)); default 10 / steps
    # --- your data and model (dataset PATH / KIND:PATH, model module:callable) ---
    label_column: str | None = None  # csv/parquet dataset: the label column; None: the one named label, target, class or y
    test_split: float = 0.2  # file dataset without a test split: fraction of each class held out as test
    split_seed: int = 0  # seed of that split
    image_size: list[int] | None = None  # imagefolder dataset: resize images to S or H,W; None: to the first image's size
    model_args: dict | None = None  # model module:callable: keyword arguments as a JSON object, e.g. '{"num_classes": 10}'
    insert_dropout: str | None = None  # model module:callable: dropout after layers, e.g. 'after=Linear' (rate --p) or 'after=Conv2d,p=0.1,type=Dropout2d'; several joined by ';'
    swap_dropout: bool = False  # model module:callable: replace its torch.nn dropout modules by dropkit's
    set_rate: float | None = None  # model module:callable: set the rate of every dropout-like module it has (applied last)
    swap_rnn: str | None = None  # model module:callable: variational LSTM/GRU, e.g. 'input_p=0.2,recurrent_p=0.2' (also weight_p, zoneout_p)
    # --- text (models gpt / lstm-lm on shakespeare-char, text:PATH) ---
    context_length: int = 64  # text: context length in characters, nanoGPT's block_size (training windows and sampling)
    eval_windows: int | None = None  # text: windows of context_length evaluated per split; None: the whole validation split
    max_chars: int | None = None  # text: use only the first N characters of the corpus (then the 90/10 split): a small-data regime
    emb_p: float = 0.0  # text embedding dropout: gpt drops elements of token + position embeddings (nanoGPT); lstm-lm drops whole characters' embedding rows (AWD-LSTM dropoute)
    emb_dim: int = 128  # lstm-lm embedding size (with tie_weights also the last LSTM layer's size)
    lm_input_p: float = 0.0  # lstm-lm locked dropout on the embeddings fed to the first LSTM (AWD-LSTM dropouti)
    lm_hidden_p: float = 0.0  # lstm-lm locked dropout between LSTM layers (AWD-LSTM dropouth)
    lm_output_p: float = 0.0  # lstm-lm locked dropout on the last LSTM output (AWD-LSTM dropout)
    tie_weights: bool = True  # text: the output layer reuses the input embedding matrix
    ar_alpha: float = 0.0  # lstm-lm activation regularisation alpha * mean(dropped output^2) (AWD-LSTM AR)
    tar_beta: float = 0.0  # lstm-lm temporal activation regularisation beta * mean((h_t - h_t-1)^2) (AWD-LSTM TAR)
    adam_beta2: float = 0.999  # Adam / AdamW second-moment decay (nanoGPT's Shakespeare configs: 0.99)
    warmup_steps: int = 0  # linear learning-rate warm-up over the first N steps (nanoGPT: lr * (step + 1) / (N + 1))
    min_lr: float = 0.0  # cosine schedule: the rate it decays to (nanoGPT: 1e-4)
    # --- speech-rnn ---
    speech_hidden_p: float = 0.0  # speech-rnn locked dropout between its bidirectional layers (rnn_input_p: on the first layer's input)
    spec_time_masks: int = 0  # speech-rnn SpecAugment time masks per utterance in training (0: none)
    spec_time_width: int = 8  # speech-rnn SpecAugment widest time mask, in frames
    spec_freq_masks: int = 0  # speech-rnn SpecAugment frequency masks per utterance in training (0: none)
    spec_freq_width: int = 8  # speech-rnn SpecAugment widest frequency mask, in mel bands

    def __post_init__(self) -> None:
        from dropkit.train.user_inputs import normalise_user_inputs

        normalise_user_inputs(self)  # file datasets, imported models: canonical spellings, checked
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the key for every value outside its allowed range."""
        where = "config"

        def need(cond: bool, key: str, allowed: str) -> None:
            if not cond:
                raise ValueError(f"{where}: {key} must be {allowed}, got {getattr(self, key)!r}")

        for key in DROPOUT_FIELDS:
            v = getattr(self, key)
            if key != "hidden_p":
                need(isinstance(v, (int, float)) and 0 <= v <= 1, key, "in [0, 1]")
        if self.hidden_p is not None:
            need(all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in self.hidden_p), "hidden_p", "a list of rates in [0, 1]")
            need(len(self.hidden_p) == len(self.hidden), "hidden_p", f"a list of {len(self.hidden)} rates, one per hidden layer")
        need(all(isinstance(h, int) and h > 0 for h in self.hidden), "hidden", "a list of positive integers")
        need(self.batch_size >= 1, "batch_size", "an integer >= 1")
        need(self.lr > 0 and math.isfinite(self.lr), "lr", "a finite number > 0")
        need(self.l2 >= 0, "l2", "a number >= 0")
        need(self.weight_decay >= 0, "weight_decay", "a number >= 0")
        need(self.max_norm is None or self.max_norm > 0, "max_norm", "None or a number > 0")
        need(self.grad_clip is None or self.grad_clip > 0, "grad_clip", "None or a number > 0")
        need(self.eval_every >= 1, "eval_every", "an integer >= 1")
        need(self.eval_batch_size >= 1, "eval_batch_size", "an integer >= 1")
        need(self.eval_train_samples >= 0, "eval_train_samples", "an integer >= 0")
        need(isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 1, "val_fraction", "in [0, 1)")
        need(self.checkpoint_every is None or self.checkpoint_every >= 1, "checkpoint_every", "None or an integer >= 1")
        need(self.keep_checkpoints >= 1, "keep_checkpoints", "an integer >= 1")
        need(self.threads is None or self.threads >= 1, "threads", "None or an integer >= 1")
        for key in ("kernel_size", "block_size", "rnn_hidden", "rnn_layers", "d_model", "heads", "depth", "patch"):
            need(getattr(self, key) >= 1, key, "an integer >= 1")
        need(all(isinstance(c, int) and c > 0 for c in self.channels), "channels", "a list of positive integers")
        need(self.fc_hidden >= 0, "fc_hidden", "an integer >= 0")
        need(self.mlp_ratio > 0, "mlp_ratio", "a number > 0")
        need(0 <= self.p_schedule_start <= 1, "p_schedule_start", "in [0, 1]")
        if self.steps is not None and self.epochs is not None:
            raise ValueError(f"{where}: give steps or epochs, not both; got steps={self.steps}, epochs={self.epochs}")
        if self.steps is None and self.epochs is None:
            raise ValueError(f"{where}: one of steps or epochs must be set, got neither")
        need(self.steps is None or self.steps >= 1, "steps", "None or an integer >= 1")
        need(self.epochs is None or self.epochs >= 1, "epochs", "None or an integer >= 1")
        for key, allowed in _CHOICES.items():
            value = getattr(self, key)
            if key in _USER_KEYS and _USER_KEYS[key](value):
                continue  # a file dataset or an imported model: checked by normalise_user_inputs
            if value not in allowed:
                hint = closest_name_hint(str(value), allowed)
                options = ", ".join(repr(a) for a in allowed)
                if key == "dataset" and isinstance(value, str) and value.startswith("text:") and len(value) > 5:
                    continue  # text:PATH, any UTF-8 file (dropkit.data.text)
                raise ValueError(f"{where}: {key} must be one of {options}, got {value!r}{hint}")
        need(self.context_length >= 1, "context_length", "an integer >= 1")
        need(self.eval_windows is None or self.eval_windows >= 1, "eval_windows", "None or an integer >= 1")
        need(self.emb_dim >= 1, "emb_dim", "an integer >= 1")
        need(self.max_chars is None or self.max_chars >= 2, "max_chars", "None or an integer >= 2")
        need(self.ar_alpha >= 0 and math.isfinite(self.ar_alpha), "ar_alpha", "a finite number >= 0")
        need(self.tar_beta >= 0 and math.isfinite(self.tar_beta), "tar_beta", "a finite number >= 0")
        need(0 <= self.adam_beta2 < 1, "adam_beta2", "in [0, 1)")
        need(self.warmup_steps >= 0, "warmup_steps", "an integer >= 0")
        need(0 <= self.min_lr <= self.lr, "min_lr", f"in [0, lr={self.lr:g}]")
        for key in ("spec_time_masks", "spec_time_width", "spec_freq_masks", "spec_freq_width"):
            need(isinstance(getattr(self, key), int) and getattr(self, key) >= 0, key, "an integer >= 0")

    def replace(self, **changes: Any) -> Config:
        """A validated copy with ``changes`` applied (keys checked like a config file's)."""
        return from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def without_dropout(self) -> Config:
        """The same run with every dropout rate set to 0 (the baseline of ``dropkit compare``)."""
        changes: dict[str, Any] = {}
        for key in DROPOUT_FIELDS:
            value = getattr(self, key)
            if isinstance(value, list):
                changes[key] = [0.0 for _ in value]
            elif value is not None:
                changes[key] = 0.0
        return self.replace(**changes)


# Keys whose value is a dropout rate; `without_dropout` zeroes them. Extend in your section.
DROPOUT_FIELDS: list[str] = [
    "p", "input_p", "hidden_p",  # mlp (p is also every model's rate before the classifier)
    "conv_p",  # cnn
    "rnn_input_p", "rnn_recurrent_p", "weight_drop", "zoneout",  # rnn
    "attn_p", "resid_p", "drop_path", "token_p",  # transformer
    "emb_p", "lm_input_p", "lm_hidden_p", "lm_output_p",  # text (gpt also uses attn_p, resid_p; lstm-lm weight_drop)
    "speech_hidden_p",  # speech-rnn (also rnn_input_p, rnn_recurrent_p, weight_drop and p)
]

_CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": ("mnist1d", "digits", "fashion-mnist", "mnist"),
    "model": ("mlp", "cnn", "rnn", "transformer"),
    "activation": ("relu", "gelu", "tanh", "silu", "elu", "selu", "sigmoid"),
    "optimizer": ("adam", "adamw", "sgd"),
    "lr_schedule": ("constant", "cosine", "step"),
    "conv_dropout": ("channel", "block"),
    "rnn_cell": ("lstm", "gru"),
    "pool": ("cls", "mean"),
    "p_schedule": ("constant", "linear", "early", "late", "curriculum"),
}


def _is_file_dataset(value: object) -> bool:
    from dropkit.data.corpora import is_text_dataset
    from dropkit.data.files import is_file_spec

    return not is_text_dataset(value) and is_file_spec(value)  # text:PATH is a corpus (dropkit.data.text)


def _is_imported_model(value: object) -> bool:
    from dropkit.models.imported import is_import_path

    return is_import_path(value)


# Keys that may hold the user's own files or model instead of one of the _CHOICES.
_USER_KEYS = {"dataset": _is_file_dataset, "model": _is_imported_model}
# --- text ---
_CHOICES["dataset"] += ("shakespeare-char", "shakespeare-char-tiny", "shakespeare-char-works")
_CHOICES["model"] += ("gpt", "lstm-lm")
# --- speech ---
_CHOICES["dataset"] += ("espeak-digits", "espeak-digits-tiny", "fsdd", "speech-commands")
_CHOICES["model"] += ("speech-rnn",)


def config_keys() -> list[str]:
    """Every key of :class:`Config`, in field order (each is also a ``--kebab-case`` flag)."""
    return [f.name for f in dataclasses.fields(Config)]


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert strings from the command line (and ints for floats) to the field's type."""
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in get_args(annotation):
        return None
    if origin in (list,) or (args and get_origin(args[0]) is list):
        inner_ann = args[0] if origin is not list else annotation
        (inner,) = get_args(inner_ann)
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(key, v, inner) for v in value]
    base = args[0] if args else annotation
    try:
        if base is bool:
            if isinstance(value, str):
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            return bool(value)
        if base is int:
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base is str:
            return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"config: {key} must be of type {base.__name__}, got {value!r}") from None
    return value


def from_dict(values: dict[str, Any]) -> Config:
    """Build a ``Config`` from a mapping; unknown keys are errors naming the closest valid key."""
    hints = get_type_hints(Config)
    keys = config_keys()
    clean: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")
        if key not in hints:
            raise ValueError(f"config: unknown key {raw_key!r}{closest_name_hint(key, keys)}")
        clean[key] = _coerce(key, value, hints[key])
    return Config(**clean)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML or JSON config file into a mapping (validated later by :func:`from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config: file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(f"config: {str(path)!r} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {_parse_error(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config: {str(path)!r} must hold a mapping of keys to values, got {type(data).__name__}")
    return data


def _parse_error(exc: Exception) -> str:
    """``line L, column C: problem`` of a YAML or JSON parse error (lines counted from 1)."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', None) or exc}"
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    return " ".join(str(exc).split())


def save_config(cfg: Config, path: str | os.PathLike[str]) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(Path(path), yaml.safe_dump(cfg.to_dict(), sort_keys=False))
