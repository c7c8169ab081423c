"""The network and its sample's summary statistics combined: one estimate per sample
(docs/model.md, "The strongest baseline").

The network and the summary-statistics ridge read the same sub-volume differently: the network
the whole field through its convolutions, the ridge the two-point function in every k bin and
the one-point distribution of every channel. ``network_stats`` (ours) is a ridge on [the
network's prediction, those statistics], fitted on the training split (the network's
predictions on its own training samples as inputs), its penalty per parameter by
leave-simulations-out cross-validation, as the baselines' ridges. Measured on the default's
validation split (fitted on its training split), per sample Omega_M / sigma_8 / n_s: 0.0072 /
0.0137 / 0.0219, against the network's 0.0122 / 0.0156 / 0.0242 and the summary-statistics
ridge's 0.0084 / 0.0135 / 0.0216. Pure array functions.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cosmoflow.evaluate import baselines


def network_stats_inputs(net: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """The ridge's input rows: [network prediction (L), statistics (F)] per sample, (n, L + F)."""
    return np.hstack([np.asarray(net, np.float64), np.asarray(stats, np.float64)])


def network_stats_estimates(net_train: np.ndarray, stats_train: np.ndarray, y_train: np.ndarray,
                            sims_train: Sequence, net_test: np.ndarray, stats_test: np.ndarray,
                            alphas: Sequence[float], n_folds: int
                            ) -> tuple[np.ndarray, np.ndarray, baselines.RidgePk]:
    """Per-sample estimates of the ridge on [network prediction, statistics] for the test samples.

    net_* : (n, L) the network's predictions (physical units), row for row with stats_* and y_*.
    stats_* : (n, F) the samples' statistics (``summaries.summary_features``; columns that are
        not finite in every training sample are left out, as ``baselines.RidgePk`` does).
    y_train : (n_train, L) labels; sims_train : (n_train,) their simulations (CV groups).
    Returns ((n_test, L) estimates, (L,) the penalties chosen, the model fitted on every
    training sample).
    """
    net_train, net_test = np.asarray(net_train, np.float64), np.asarray(net_test, np.float64)
    if (net_train.shape != np.shape(y_train) or len(net_test) != len(stats_test)
            or len(stats_train) != len(y_train)):
        raise ValueError(f"network predictions {net_train.shape} / {net_test.shape}, statistics "
                         f"{np.shape(stats_train)} / {np.shape(stats_test)} and labels "
                         f"{np.shape(y_train)} must have one row per sample")
    model, chosen, _ = baselines.fit_ridge_cv(network_stats_inputs(net_train, stats_train), y_train,
                                              sims_train, alphas, n_folds)
    return model.predict(network_stats_inputs(net_test, stats_test)), chosen, model
