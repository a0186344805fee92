#!/usr/bin/env python3
"""Same-machine reference for the batch indicator benchmarks: TA-Lib's C
functions (through the `TA-Lib` wheel from PyPI, which bundles the C
library) over 1,000,000 values, median of repeated runs, in ns per value.

    pip install TA-Lib numpy && python3 engine-core/benches/talib_reference.py

The Python call overhead (about a microsecond per call) is negligible
against a million-value loop.
"""
import statistics
import time

import numpy as np
import talib

N = 1_000_000
REPEATS = 31

rng = np.random.default_rng(42)
close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, N)))
high = close * (1.0 + np.abs(rng.normal(0.0, 0.0005, N)))
low = close * (1.0 - np.abs(rng.normal(0.0, 0.0005, N)))


def median_ns_per_value(fn):
    fn()  # warm up caches and page in the output buffer
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        fn()
        runs.append((time.perf_counter_ns() - start) / N)
    return statistics.median(runs)


for name, fn in [
    ("ema(20)", lambda: talib.EMA(close, timeperiod=20)),
    ("rsi(14)", lambda: talib.RSI(close, timeperiod=14)),
    ("atr(14)", lambda: talib.ATR(high, low, close, timeperiod=14)),
]:
    print(f"talib {name}: {median_ns_per_value(fn):.2f} ns/value")
