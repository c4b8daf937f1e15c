"""An importable torch module for the model tests (saved as a state dict by its dotted path)."""

from __future__ import annotations

import torch


class TinyNet(torch.nn.Module):
    def __init__(self, n_in: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # type: ignore[no-any-return]
