"""Traffic policy (timeouts, retries, circuit breaking, faults, rate limits, authorization): declared
once, mesh-neutrally, in the application model and rendered into each mode's own objects.

The room for that stage in the layering (`tests/test_layers.py`): above the core, below the front ends.
"""
