"""Host side of metabnn: train a metaplastic BNN in PyTorch and export it to a .mbnn blob.

The format itself is `pyruntime.format` (numpy only); modules that need torch are
imported lazily, so the host runtime works without importing torch.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "load_state":
        from export.state import load_state

        return load_state
    raise AttributeError(f"module 'export' has no attribute {name!r}")
