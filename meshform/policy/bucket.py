"""A neutral rate limit as Envoy's token bucket (`envoy.filters.http.local_ratelimit`).

The model says "R requests per second, bursts of B"; Envoy says "put `tokens_per_fill` tokens in a
bucket of `max_tokens` every `fill_interval`". Refilling R tokens once a second would cap a burst at R
whatever B says, so the bucket is refilled in the smallest exact steps Envoy accepts: whole
milliseconds, at least 50 ms apart (100/s becomes 5 tokens every 50 ms), which keeps the long-run rate
at exactly R and lets B be smaller than R.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from meshform.policy.durations import go_style
from meshform.policy.records import RateLimit

MIN_FILL_MS = 50  # Envoy refuses a local rate limit fill_interval shorter than 50ms


@dataclass(frozen=True)
class TokenBucket:
    max_tokens: int
    tokens_per_fill: int
    fill_interval_ms: int
    declared_burst: int  # what the model asked for as the bucket size (default: one second's worth)

    @property
    def burst_raised(self) -> bool:
        """The declared burst was smaller than one refill step, so the bucket had to grow to it."""
        return self.max_tokens > self.declared_burst

    def raised_note(self) -> str:
        """What a person reads when the burst was raised (MF930 in every Envoy-based mode)."""
        return (
            f"rateLimit burst {self.declared_burst} is smaller than one refill of the token bucket: "
            f"raised to {self.max_tokens} (Envoy adds {self.tokens_per_fill} tokens every "
            f"{go_style(self.fill_interval_ms)})"
        )


def token_bucket(limit: RateLimit) -> TokenBucket:
    """RateLimit(100, burst=20) → TokenBucket(max_tokens=20, tokens_per_fill=5, fill_interval_ms=50).

    A burst smaller than one refill step is raised to the step (`burst_raised`): Envoy adds
    `tokens_per_fill` at once, and a smaller bucket would lower the rate instead."""
    rate = limit.requests_per_second
    common = math.gcd(rate, 1000)
    tokens, interval = rate // common, 1000 // common  # the exact rate in its smallest integer step
    steps = -(-MIN_FILL_MS // interval)  # enough steps to reach Envoy's minimum interval
    tokens, interval = tokens * steps, interval * steps
    declared = limit.burst if limit.burst is not None else rate
    return TokenBucket(max(declared, tokens), tokens, interval, declared)
