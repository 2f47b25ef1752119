"""How the GUI words sizes and fit verdicts (shared by the Models panel's tabs)."""

from __future__ import annotations

from app.core.fit import Fit


def human_size(size: int) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.0f} MB"
    return f"{size / 1e3:.0f} KB"


def fit_label(fit: Fit) -> str:
    memory = human_size(fit.estimate.total)
    rough = "about " if fit.estimate.rough else ""
    return f"{fit.text} ({rough}{memory})"
