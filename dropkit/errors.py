"""Exception classes that bad input raises, catchable both as dropkit documents and as torch would.

dropkit's argument checks raise :class:`ValueError` / :class:`TypeError` (the messages say where,
which argument, what was given and what is allowed). PyTorch raises :class:`RuntimeError` for the
same mistakes in its dropout functions (a 4-D input to ``dropout1d``, an integer tensor in training,
``p = nan``), so code written against ``torch.nn.Dropout1d`` catches ``RuntimeError``. Both classes
here derive from both, so ``except ValueError`` (or ``TypeError``) and ``except RuntimeError``
each catch dropkit's error, and swapping torch's modules for dropkit's breaks no handler.
"""

from __future__ import annotations

__all__ = ["DropkitInputError", "DropkitTypeError"]


class DropkitInputError(ValueError, RuntimeError):
    """A bad value: a probability outside ``[0, 1]``, an input of the wrong rank or shape.

    A :class:`ValueError` (dropkit's contract) and a :class:`RuntimeError` (what torch raises for a
    wrong input rank and for ``p = nan``).

    Example:
        >>> import torch
        >>> import dropkit
        >>> from dropkit.functional import dropout1d
        >>> try:
        ...     dropout1d(torch.ones(2, 3, 4, 5), 0.5)
        ... except RuntimeError as err:   # what code written for torch.nn.functional.dropout1d catches
        ...     print(type(err).__name__, isinstance(err, ValueError))
        DropkitInputError True
    """


class DropkitTypeError(TypeError, RuntimeError):
    """A bad type: an integer tensor where dropout needs a floating-point one, a list for a tensor.

    A :class:`TypeError` (dropkit's contract) and a :class:`RuntimeError` (what torch raises when
    dropout in training meets an integer tensor: "result type Float can't be cast ...").

    Example:
        >>> import torch
        >>> from dropkit.functional import dropout
        >>> try:
        ...     dropout(torch.ones(3, dtype=torch.long), 0.5)
        ... except RuntimeError as err:
        ...     print(err)
        dropout: input must be a floating-point tensor, got dtype torch.int64
    """
