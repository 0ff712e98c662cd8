"""``VariationalLSTM`` / ``VariationalGRU``: multi-layer RNNs with input and recurrent dropout masks
that are drawn once per sequence and shared over all time steps.

Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural Networks",
NeurIPS 2016, https://arxiv.org/abs/1512.05287 (Keras' ``dropout`` / ``recurrent_dropout``).

Every layer ``k`` gets, per forward call and per sequence ``b``:

- an input mask ``m_x`` (``input_p``) on its input features, the same at every step (locked dropout);
- a recurrent mask ``m_h`` (``recurrent_p``) on the hidden state fed back into the recurrence:
  ``gates_t = W_ih (x_t * m_x) + W_hh (h_{t-1} * m_h) + b``. One mask is shared by all gates (Gal's
  "tied" variant; Keras' ``implementation=1`` draws one per gate). The state carried forward and
  returned is not masked.

Optional extras from the same family: ``weight_p`` puts weight drop (AWD-LSTM,
https://arxiv.org/abs/1708.02182) on ``weight_hh`` through :func:`dropkit.nn.apply_weight_drop`;
``zoneout_p`` / ``zoneout_cell_p`` apply zoneout (https://arxiv.org/abs/1606.01305) to ``h`` / ``c``.

Two execution paths share one set of parameters (``layers[k]`` is a one-layer ``nn.LSTM`` /
``nn.GRU``):

- **fused** (used whenever no per-step randomness is needed: ``recurrent_p == 0`` and no zoneout, or
  eval mode without zoneout): each layer runs PyTorch's fused kernel (oneDNN / cuDNN) on its
  locked-dropped input. Cost: the plain ``nn.LSTM`` plus one mask multiply per layer.
- **step loop** (``recurrent_p > 0`` or zoneout, in training): the input projection of all steps is
  one matrix multiply, then a Python loop runs ``T`` small ``(B, H) x (H, G*H)`` steps per layer with
  their autograd nodes. Expect it to be several times slower than the fused kernel on CPU and far
  slower on GPU (the cost Keras pays when ``recurrent_dropout`` disables cuDNN); see
  ``benchmarks/bench_rnn_weight_drop.py``. Weight drop keeps the fused path and is the cheaper
  recurrent regularizer.

PackedSequence inputs are supported on both paths; masks are drawn in the caller's batch order, so a
packed batch and its padded equivalent get the same masks from the same generator state.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from dropkit._validation import check_positive_int
from dropkit.functional.locked_dropout import locked_dropout, sequence_keep_mask
from dropkit.functional.zoneout import zoneout, zoneout_mask
from dropkit.nn._base import DropoutModule
from dropkit.nn.weight_drop import apply_weight_drop

__all__ = ["VariationalLSTM", "VariationalGRU"]

State = Tensor | tuple[Tensor, Tensor]

_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _rnn_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any]) -> None:
    """State-dict post-hook: ``layers.{k}.{name}_l0`` -> ``{name}_l{k}``, the keys of ``nn.LSTM(num_layers=k)``."""
    for k in range(module.num_layers):
        for name in _PARAM_NAMES:
            key = f"{prefix}layers.{k}.{name}_l0"
            if key in state_dict:
                state_dict[f"{prefix}{name}_l{k}"] = state_dict.pop(key)


def _layer_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load pre-hook, the inverse of :func:`_rnn_keys`; keys already in ``layers.{k}`` form load as they are."""
    for k in range(module.num_layers):
        for name in _PARAM_NAMES:
            key = f"{prefix}{name}_l{k}"
            if key in state_dict:
                state_dict[f"{prefix}layers.{k}.{name}_l0"] = state_dict.pop(key)


class _VariationalRNN(DropoutModule):
    mode = ""  # "lstm" or "gru", set by the subclasses
    bidirectional = False  # attributes of nn.LSTM / nn.GRU that code around an RNN reads
    proj_size = 0
    #: rates of the masks drawn in forward itself (weight drop lives in parametrizations of ``layers``,
    #: :class:`~dropkit.nn.WeightDrop` modules with their own ``p``).
    rate_names = ("input_p", "recurrent_p", "zoneout_p", "zoneout_cell_p")
    _zoneout_names = ("zoneout_p", "zoneout_cell_p")  # the names repr prints (ZoneoutLSTM's are p, cell_p)
    _force_step_loop = False  # tests set it to compare the two paths

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        input_p: float = 0.0,
        recurrent_p: float = 0.0,
        weight_p: float = 0.0,
        zoneout_p: float = 0.0,
        zoneout_cell_p: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.input_size = check_positive_int(where, "input_size", input_size)
        self.hidden_size = check_positive_int(where, "hidden_size", hidden_size)
        self.num_layers = check_positive_int(where, "num_layers", num_layers)
        self.batch_first = bool(batch_first)
        self.input_p = self._check_rate("input_p", input_p)
        self.recurrent_p = self._check_rate("recurrent_p", recurrent_p)
        self.weight_p = self._check_rate("weight_p", weight_p)
        self.zoneout_p = self._check_rate("zoneout_p", zoneout_p)
        if zoneout_cell_p is not None and self.mode == "gru":
            raise ValueError(f"{where}: zoneout_cell_p must be None for a GRU (it has no cell state), got {zoneout_cell_p!r}")
        self.zoneout_cell_p = self.zoneout_p if zoneout_cell_p is None else self._check_rate("zoneout_cell_p", zoneout_cell_p)
        self.generator = generator
        self.bias = bool(bias)
        rnn_cls = nn.LSTM if self.mode == "lstm" else nn.GRU
        self.layers = nn.ModuleList(
            rnn_cls(input_size if k == 0 else hidden_size, hidden_size, 1, bias=bias, batch_first=batch_first)
            for k in range(num_layers)
        )
        if self.weight_p > 0:
            for layer in self.layers:
                apply_weight_drop(layer, self.weight_p, generator=generator)
        # state_dict keys are those of nn.LSTM / nn.GRU(num_layers=k), so checkpoints move both ways.
        self.register_state_dict_post_hook(_rnn_keys)
        self.register_load_state_dict_pre_hook(_layer_keys)

    # ----------------------------------------------------------------------------------------- api
    @classmethod
    def from_rnn(
        cls,
        rnn: nn.Module,
        *,
        input_p: float = 0.0,
        recurrent_p: float = 0.0,
        weight_p: float = 0.0,
        zoneout_p: float = 0.0,
        zoneout_cell_p: float | None = None,
        generator: torch.Generator | None = None,
    ) -> _VariationalRNN:
        """Build one from a trained ``nn.LSTM`` / ``nn.GRU``, copying its weights, dtype and device.

        The ``state_dict`` keys are the same, so this is ``load_state_dict(rnn.state_dict())`` into a new
        module; in eval mode without zoneout the result computes what ``rnn`` computes. ``rnn.dropout``
        (between layers) is not carried over: the rates given here replace it.

        Args:
            rnn: a unidirectional ``nn.LSTM`` (for :class:`VariationalLSTM`) or ``nn.GRU`` (for
                :class:`VariationalGRU`) without ``proj_size``.
            input_p, recurrent_p, weight_p, zoneout_p, zoneout_cell_p, generator: as in the constructor.

        Example:
            >>> import torch
            >>> from dropkit.nn import VariationalLSTM
            >>> lstm = torch.nn.LSTM(3, 8, num_layers=2)
            >>> vlstm = VariationalLSTM.from_rnn(lstm, input_p=0.2, recurrent_p=0.2).eval()
            >>> x = torch.randn(5, 2, 3)
            >>> torch.allclose(vlstm(x)[0], lstm(x)[0], atol=1e-6)
            True
        """
        where = f"{cls.__name__}.from_rnn"
        expected = nn.LSTM if cls.mode == "lstm" else nn.GRU
        if type(rnn) is not expected:
            raise TypeError(f"{where}: rnn must be a torch.nn.{expected.__name__}, got {type(rnn).__name__}")
        if rnn.bidirectional:
            raise ValueError(f"{where}: rnn must be unidirectional, got bidirectional=True")
        if getattr(rnn, "proj_size", 0):
            raise ValueError(f"{where}: rnn must have proj_size=0, got proj_size={rnn.proj_size}")
        first = next(rnn.parameters())
        out = cls(
            rnn.input_size, rnn.hidden_size, rnn.num_layers, bias=rnn.bias, batch_first=rnn.batch_first,
            input_p=input_p, recurrent_p=recurrent_p, weight_p=weight_p, zoneout_p=zoneout_p,
            zoneout_cell_p=zoneout_cell_p, generator=generator,
        ).to(device=first.device, dtype=first.dtype)
        out.load_state_dict(rnn.state_dict())
        out.train(rnn.training)
        return out

    def to_rnn(self) -> nn.Module:
        """A plain ``nn.LSTM`` / ``nn.GRU`` with the same (undropped) weights, for deployment.

        Its outputs equal this module's in eval mode; models with zoneout have no plain equivalent.

        Example:
            >>> import torch
            >>> from dropkit.nn import VariationalGRU
            >>> gru = VariationalGRU(3, 4, num_layers=2, weight_p=0.5).to_rnn()
            >>> type(gru).__name__, gru.num_layers
            ('GRU', 2)
        """
        where = f"{type(self).__name__}.to_rnn"
        if self.zoneout_p > 0 or (self.mode == "lstm" and self.zoneout_cell_p > 0):
            raise ValueError(f"{where}: zoneout mixes old and new states even in eval, so no plain RNN computes the "
                             f"same thing; got zoneout_p={self.zoneout_p:g}, zoneout_cell_p={self.zoneout_cell_p:g}")
        rnn_cls = nn.LSTM if self.mode == "lstm" else nn.GRU
        first = next(self.parameters())
        rnn = rnn_cls(self.input_size, self.hidden_size, self.num_layers, bias=self.bias,
                      batch_first=self.batch_first).to(device=first.device, dtype=first.dtype)
        rnn.load_state_dict(self.state_dict())
        rnn.train(self.training)
        return rnn

    def flatten_parameters(self) -> None:
        """As :meth:`torch.nn.LSTM.flatten_parameters` (cuDNN weight layout), on every layer."""
        for layer in self.layers:
            layer.flatten_parameters()

    def uses_step_loop(self) -> bool:
        """Whether the next forward call (in the current mode) runs the Python step loop."""
        zone = self.zoneout_p > 0 or (self.mode == "lstm" and self.zoneout_cell_p > 0)
        return self._force_step_loop or zone or (self.training and self.recurrent_p > 0)

    def forward(self, input: Tensor | PackedSequence, hx: State | None = None) -> tuple[Tensor | PackedSequence, State]:
        where = type(self).__name__
        batch = self._check_input(where, input)
        h0, c0 = self._check_hx(where, hx, batch, input)
        if self.uses_step_loop():
            return self._forward_loop(input, h0, c0, batch)
        return self._forward_fused(input, h0, c0)

    def _repr_prefix(self) -> list[str]:
        return [f"{self.input_size}, {self.hidden_size}", f"num_layers={self.num_layers}" if self.num_layers != 1 else "",
                "batch_first=True" if self.batch_first else ""]

    def _repr_rates(self) -> list[str]:
        """The rates that are > 0 (``weight_p`` too, held by the layers' parametrizations), under the
        constructor's names; the cell's zoneout rate when it differs from the hidden state's."""
        h_name, c_name = self._zoneout_names
        rates = {"input_p": self.input_p, "recurrent_p": self.recurrent_p, "weight_p": self.weight_p,
                 h_name: self.zoneout_p}
        parts = [f"{name}={value:g}" for name, value in rates.items() if value]
        if self.mode == "lstm" and self.zoneout_cell_p != self.zoneout_p:
            parts.append(f"{c_name}={self.zoneout_cell_p:g}")
        return parts

    # -------------------------------------------------------------------------------------- checks
    def _check_input(self, where: str, input: Any) -> int:
        data = input.data if isinstance(input, PackedSequence) else input
        if not isinstance(data, Tensor):
            raise TypeError(f"{where}: input must be a Tensor or a PackedSequence, got {type(input).__name__}")
        if not data.is_floating_point():
            raise TypeError(f"{where}: input must be a floating-point tensor, got dtype {data.dtype}")
        if isinstance(input, PackedSequence):
            if data.dim() != 2:
                raise ValueError(f"{where}: expected PackedSequence data of shape (rows, {self.input_size}), got shape {tuple(data.shape)}")
            batch = int(input.batch_sizes[0])
        else:
            if data.dim() != 3:
                layout = "(B, T, D)" if self.batch_first else "(T, B, D)"
                raise ValueError(f"{where}: expected 3D input {layout}, got shape {tuple(data.shape)}")
            batch = data.shape[0 if self.batch_first else 1]
        if data.shape[-1] != self.input_size:
            raise ValueError(f"{where}: input feature size must be {self.input_size}, got {data.shape[-1]}")
        return batch

    def _check_hx(self, where: str, hx: Any, batch: int, input: Any) -> tuple[Tensor | None, Tensor | None]:
        if hx is None:
            return None, None
        expected = (self.num_layers, batch, self.hidden_size)
        if self.mode == "lstm":
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{where}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = hx
        else:
            if not isinstance(hx, Tensor):
                raise TypeError(f"{where}: hx must be a Tensor h_0, got {type(hx).__name__}")
            h0, c0 = hx, None
        for name, t in (("h_0", h0), ("c_0", c0)):
            if t is not None and tuple(t.shape) != expected:
                raise ValueError(f"{where}: {name} must have shape {expected}, got {tuple(t.shape)}")
        return h0, c0

    def _pack_state(self, hs: list[Tensor], cs: list[Tensor]) -> State:
        h_n = torch.stack(hs)
        return (h_n, torch.stack(cs)) if self.mode == "lstm" else h_n

    # -------------------------------------------------------------------------------- fused path
    def _forward_fused(self, input: Tensor | PackedSequence, h0: Tensor | None, c0: Tensor | None) -> tuple[Any, State]:
        x = input
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        for k, layer in enumerate(self.layers):
            x = locked_dropout(x, self.input_p, training=self.training, batch_first=self.batch_first, generator=self.generator)
            if h0 is None:
                state = None
            else:
                state = (h0[k : k + 1], c0[k : k + 1]) if self.mode == "lstm" else h0[k : k + 1]  # type: ignore[index]
            x, out_state = layer(x, state)
            if self.mode == "lstm":
                hs.append(out_state[0][0])
                cs.append(out_state[1][0])
            else:
                hs.append(out_state[0])
        return x, self._pack_state(hs, cs)

    # ---------------------------------------------------------------------------- step-loop path
    def _forward_loop(self, input: Tensor | PackedSequence, h0: Tensor | None, c0: Tensor | None, batch: int) -> tuple[Any, State]:
        packed = isinstance(input, PackedSequence)
        if packed:
            x = input.data  # (rows, D), time-major, sorted by length within each step
            steps = input.batch_sizes.tolist()
            order = input.sorted_indices  # sorted position -> caller's batch index
            rows = torch.cat([torch.arange(n) for n in steps]).to(x.device)
            if order is not None:
                order = order.to(x.device)
                rows = order[rows]
        else:
            x = input.transpose(0, 1) if self.batch_first else input  # (T, B, D)
            steps = [batch] * x.shape[0]
            order, rows = None, None
        ref = x
        hs: list[Tensor] = []
        cs: list[Tensor] = []
        for k, layer in enumerate(self.layers):
            if self.training and self.input_p > 0:
                m_x = self._sequence_mask(batch, x.shape[-1], self.input_p, ref)
                x = x * (m_x[rows] if packed else m_x)
            w_ih, w_hh = layer.weight_ih_l0, layer.weight_hh_l0  # evaluated once: one weight-drop mask per call
            b_ih = layer.bias_ih_l0 if layer.bias else None
            b_hh = layer.bias_hh_l0 if layer.bias else None
            m_h = None
            if self.training and self.recurrent_p > 0:
                m_h = self._sequence_mask(batch, self.hidden_size, self.recurrent_p, ref)
                m_h = m_h[order] if order is not None else m_h
            h = ref.new_zeros(batch, self.hidden_size) if h0 is None else h0[k]
            c = ref.new_zeros(batch, self.hidden_size) if (self.mode == "lstm" and c0 is None) else (c0[k] if c0 is not None else None)
            if order is not None:
                h = h[order]
                c = c[order] if c is not None else None
            gi_all = F.linear(x, w_ih, b_ih)
            gi_steps = gi_all.split(steps) if packed else gi_all.unbind(0)
            outs: list[Tensor] = []
            for gi in gi_steps:
                n = gi.shape[0]
                h, c, h_t = self._step(gi, h, c, n, w_hh, b_hh, m_h, order, batch, ref)
                outs.append(h_t)
            x = torch.cat(outs) if packed else torch.stack(outs)
            if order is not None:
                unsort = input.unsorted_indices.to(x.device)  # type: ignore[union-attr]
                h = h[unsort]
                c = c[unsort] if c is not None else None
            hs.append(h)
            if c is not None:
                cs.append(c)
        if packed:
            out: Tensor | PackedSequence = PackedSequence(x, input.batch_sizes, input.sorted_indices, input.unsorted_indices)  # type: ignore[union-attr]
        else:
            out = x.transpose(0, 1) if self.batch_first else x
        return out, self._pack_state(hs, cs)

    def _sequence_mask(self, batch: int, features: int, p: float, ref: Tensor) -> Tensor:
        """A ``(batch, features)`` mask in ``{0, 1/(1-p)}``, all zeros for ``p == 1`` (as locked_dropout)."""
        if p == 1.0:
            return ref.new_zeros(batch, features)
        return sequence_keep_mask(batch, (features,), p, like=ref, generator=self.generator)

    def _step(
        self, gi: Tensor, h: Tensor, c: Tensor | None, n: int, w_hh: Tensor, b_hh: Tensor | None,
        m_h: Tensor | None, order: Tensor | None, batch: int, ref: Tensor,
    ) -> tuple[Tensor, Tensor | None, Tensor]:
        """One time step for the first ``n`` (active) rows; returns the new full ``h``, ``c`` and ``h_t``."""
        h_prev = h[:n]
        gh = F.linear(h_prev if m_h is None else h_prev * m_h[:n], w_hh, b_hh)
        c_new = None
        if self.mode == "lstm":
            assert c is not None
            c_prev = c[:n]
            i, f, g, o = (gi + gh).chunk(4, 1)
            c_new = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)  # from the un-zoned c, as in Krueger et al. eq. (4)
        else:
            i_r, i_z, i_n = gi.chunk(3, 1)
            h_r, h_z, h_n = gh.chunk(3, 1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            cand = torch.tanh(i_n + r * h_n)
            h_new = cand + z * (h_prev - cand)
        h_new = self._zone(h_prev, h_new, self.zoneout_p, n, order, batch, ref)  # h mask first, then c
        if c_new is not None:
            c_new = self._zone(c[:n], c_new, self.zoneout_cell_p, n, order, batch, ref)  # type: ignore[index]
        if n < h.shape[0]:
            h = torch.cat([h_new, h[n:]])
            c = torch.cat([c_new, c[n:]]) if c_new is not None else c  # type: ignore[index, list-item]
        else:
            h, c = h_new, (c_new if c_new is not None else c)
        return h, c, h_new

    def _zone(self, prev: Tensor, new: Tensor, p: float, n: int, order: Tensor | None, batch: int, ref: Tensor) -> Tensor:
        if p == 0.0 or not self.training:  # the functional's eval expectation, not a second copy of it
            return zoneout(prev, new, p, training=False)
        keep_prev = zoneout_mask((batch, self.hidden_size), p, like=ref, generator=self.generator)
        if order is not None:
            keep_prev = keep_prev[order]
        return torch.where(keep_prev[:n], prev, new)


_DOC_ARGS = """
    Args:
        input_size: features per time step of the input.
        hidden_size: features of the hidden state.
        num_layers: stacked layers (default: 1).
        bias: use biases (default: True).
        batch_first: tensors are ``(B, T, *)`` instead of ``(T, B, *)`` (default: False).
        input_p: probability of **dropping** an input feature of each layer (the first layer's input
            included) for a whole sequence, locked dropout (default: 0.0).
        recurrent_p: probability of **dropping** a unit of the hidden state fed back into the
            recurrence, one mask per sequence shared over time (default: 0.0). > 0 runs the step loop
            in training.
        weight_p: probability of **dropping** an entry of each ``weight_hh``, one mask per call,
            AWD-LSTM's weight drop; keeps the fused path (default: 0.0).
        zoneout_p: probability that a hidden unit keeps its previous value at a step (zoneout;
            default: 0.0). > 0 runs the step loop, in eval too (the expectation is used there).
        generator: optional random generator for every mask (default: None, the global one).
"""


class VariationalLSTM(_VariationalRNN):
    __doc__ = (
        """LSTM with input and recurrent dropout masks fixed over time (Gal & Ghahramani 2016).

    Returns ``(output, (h_n, c_n))`` like :class:`torch.nn.LSTM`; ``layers[k]`` are one-layer
    ``nn.LSTM`` modules holding the parameters, and the ``state_dict`` has the keys of
    ``nn.LSTM(num_layers=k)`` (``weight_ih_l0``, ...), so checkpoints load either way. Masks are fresh for
    every sequence and every call.
"""
        + _DOC_ARGS
        + """        zoneout_cell_p: zoneout rate of the cell state; None uses ``zoneout_p`` (default: None).

    Shape:
        - Input: ``(T, B, input_size)``, ``(B, T, input_size)`` or a PackedSequence.
        - Output: ``(T, B, hidden_size)`` / ``(B, T, hidden_size)`` / a PackedSequence, and
          ``h_n``, ``c_n`` of shape ``(num_layers, B, hidden_size)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import VariationalLSTM
        >>> lstm = VariationalLSTM(3, 16, num_layers=2, batch_first=True, input_p=0.2, recurrent_p=0.2)
        >>> out, (h, c) = lstm(torch.randn(4, 9, 3))
        >>> out.shape, h.shape
        (torch.Size([4, 9, 16]), torch.Size([2, 4, 16]))
        >>> lstm.uses_step_loop(), lstm.eval().uses_step_loop()
        (True, False)
    """
    )
    mode = "lstm"


class VariationalGRU(_VariationalRNN):
    __doc__ = (
        """GRU with input and recurrent dropout masks fixed over time (Gal & Ghahramani 2016).

    Returns ``(output, h_n)`` like :class:`torch.nn.GRU`; ``layers[k]`` are one-layer ``nn.GRU``
    modules holding the parameters, and the ``state_dict`` has the keys of ``nn.GRU(num_layers=k)``. The recurrent mask multiplies ``h_{t-1}`` inside
    ``W_hh h_{t-1}``; the ``z * h_{t-1}`` carry term uses the unmasked state.
"""
        + _DOC_ARGS
        + """
    Shape:
        - Input: ``(T, B, input_size)``, ``(B, T, input_size)`` or a PackedSequence.
        - Output: ``(T, B, hidden_size)`` / ``(B, T, hidden_size)`` / a PackedSequence, and
          ``h_n`` of shape ``(num_layers, B, hidden_size)``.

    Example:
        >>> import torch
        >>> from dropkit.nn import VariationalGRU
        >>> gru = VariationalGRU(3, 8, input_p=0.1, recurrent_p=0.3)
        >>> out, h = gru(torch.randn(5, 2, 3))
        >>> out.shape, h.shape
        (torch.Size([5, 2, 8]), torch.Size([1, 2, 8]))
    """
    )
    mode = "gru"
    rate_names = ("input_p", "recurrent_p", "zoneout_p")  # no cell state, so no zoneout_cell_p
