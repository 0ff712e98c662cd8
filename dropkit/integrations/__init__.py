"""dropkit inside the training loops people already use: Lightning (:mod:`dropkit.integrations.lightning`) and
Hugging Face ``transformers`` (:mod:`dropkit.integrations.transformers`).

Each submodule imports its library on import, so ``import dropkit.integrations`` itself needs neither;
install them with ``pip install dropkit[lightning]`` / ``pip install dropkit[transformers]``.
"""

__all__: list[str] = []
