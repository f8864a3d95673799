"""The shared memo of derived results is bounded by bytes, not by a count of entries."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from aedemo.memo import Memo, weigh


def test_weigh_counts_the_data_that_values_hold():
    assert weigh(torch.zeros(1000, dtype=torch.float32)) == 4000
    assert weigh(np.zeros((10, 10))) == 800
    model = torch.nn.Linear(100, 10)                      # 1,000 weights and 10 biases
    assert weigh(model) == 1010 * 4
    pair = (torch.zeros(1000), np.zeros(1000))
    assert 12_000 <= weigh(pair) < 12_500
    figure = go.Figure(go.Scatter(x=np.arange(10_000.0), y=np.arange(10_000.0)))
    assert weigh(figure) >= 160_000                       # two arrays of 10,000 doubles
    assert weigh({"a": [torch.zeros(250)] * 2}) >= 2000


def test_the_memo_forgets_the_least_recently_used_past_its_budget():
    memo = Memo(max_bytes=10_000)
    for i in range(5):                                     # 5 x 2,000 bytes: all fit
        memo.get(i, lambda: torch.zeros(500))
    assert len(memo) == 5 and 10_000 - 500 < memo.bytes <= 10_000
    memo.get(0, lambda: None)                              # 0 used again: 1 is the oldest
    memo.get("new", lambda: torch.zeros(500))
    assert memo.peek(1) is None and memo.peek(0) is not None and memo.bytes <= 10_000
    big = memo.get("big", lambda: torch.zeros(1000))       # over a quarter: computed, not kept
    assert big.numel() == 1000 and memo.peek("big") is None and memo.bytes <= 10_000


def test_many_large_results_stay_within_the_budget():
    """The tester's case: each distinct upload's scores kept ~60 MB, never freed. Here forty
    results of 4 MB each pass through a memo of 32 MB."""
    memo = Memo(max_bytes=32 * 2**20)
    for i in range(40):
        memo.get(("upload", i), lambda: np.zeros(2**20, dtype=np.float32))
    assert memo.bytes <= 32 * 2**20 and len(memo) == 8
