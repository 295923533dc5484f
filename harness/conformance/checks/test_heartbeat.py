"""Heartbeat: the host's periodic requests are answered in order and promptly."""
from __future__ import annotations

import pytest

from guest_pool import wait_for, wait_ic_ready

pytestmark = pytest.mark.smoke


def heartbeats(guest, n: int):
    wait_ic_ready(guest, "heartbeat")
    return wait_for(lambda: (hb := guest.control.heartbeat()) and len(hb.sequence) >= n and hb, 60,
                    interval=0.2, what=f"{n} heartbeat answers")


def test_sequence_advances_by_one(guest):
    """Over at least 10 requests, the sequence number in each answer is the previous one plus 1."""
    hb = heartbeats(guest, 10)
    seq = list(hb.sequence)[-10:]
    steps = [b - a for a, b in zip(seq, seq[1:])]
    assert steps == [1] * 9, f"sequence numbers {seq}"


def test_each_answer_within_1s(guest):
    """Every heartbeat answer arrives within 1 s of its request."""
    hb = heartbeats(guest, 10)
    late = [us for us in hb.latency_us if us >= 1_000_000]
    assert not late, f"answers later than 1 s: {late} us (of {len(hb.latency_us)})"
    assert hb.answers >= 10 and hb.requests - hb.answers <= 1, hb
