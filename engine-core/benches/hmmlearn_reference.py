#!/usr/bin/env python3
"""Same-machine reference for the HMM benchmark (`cargo bench --bench
regime`): one Baum-Welch iteration of hmmlearn's GaussianHMM (its forward
-backward is compiled C++), 3 states x 4 features, diagonal covariance, at
2,000, 20,000 and 200,000 samples; median of repeated runs, in ns per
sample.

    pip install hmmlearn numpy && python3 engine-core/benches/hmmlearn_reference.py

`n_iter=1` with `init_params=""` runs exactly one E step and one M step
from the given parameters, as `GaussianHmm::em_step` does.
"""
import statistics
import time

import numpy as np
from hmmlearn import hmm

rng = np.random.default_rng(1)
START = np.array([0.5, 0.3, 0.2])
TRANS = np.array([[0.97, 0.02, 0.01], [0.02, 0.96, 0.02], [0.01, 0.02, 0.97]])
MEANS = rng.normal(size=(3, 4))


def one_iteration(x):
    model = hmm.GaussianHMM(n_components=3, covariance_type="diag", n_iter=1, init_params="", tol=0)
    model.n_features = 4
    model.startprob_, model.transmat_, model.means_ = START, TRANS, MEANS
    model.covars_ = np.ones((3, 4))
    began = time.perf_counter()
    model.fit(x)
    return time.perf_counter() - began


for samples, repeats in ((2_000, 21), (20_000, 11), (200_000, 5)):
    x = rng.normal(size=(samples, 4))
    median = statistics.median(one_iteration(x) for _ in range(repeats))
    print(f"hmmlearn one EM iteration, {samples} samples: {median * 1e3:.2f} ms, {median / samples * 1e9:.0f} ns/sample")
