"""Finding the values that break a computation: NaN and infinities, by batch row."""

import torch


def nonfinite_rows(t):
    """(count, rows): how many entries of t [B, ...] are NaN or infinite, and in which
    rows (a list of ints; a 0-d tensor has no rows)."""
    bad = ~torch.isfinite(t.detach())
    count = int(bad.sum())
    if count == 0 or t.dim() == 0:
        return count, []
    return count, torch.nonzero(bad.reshape(t.shape[0], -1).any(1)).flatten().tolist()


def describe_rows(rows, limit=8):
    """'3, 17, 40' (with ', ...' beyond ``limit``)."""
    return ", ".join(map(str, rows[:limit])) + (", ..." if len(rows) > limit else "")
