"""Ridge regression with the penalty per label chosen by cross-validation over groups
(whole simulations): the P(k) and summary-statistics baselines' fit (cosmoflow.evaluate) and
the network's summary term (cosmoflow.model.summary_term). Pure numpy.
"""
from __future__ import annotations

import numpy as np


class RidgePk:
    """Ridge regression of standardised labels on standardised log P(k) features.

    ``alpha`` is one penalty for every label column, or one per column (length n_labels).
    Feature columns that are not finite in every training sample (a k shell with no mode, in
    small cubes with many bins) are left out of the fit and of the predictions.
    """

    def __init__(self, alpha) -> None:
        self.alpha = np.atleast_1d(np.asarray(alpha, np.float64))

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "RidgePk":
        X = np.asarray(features, np.float64)
        Y = np.asarray(labels, np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        alphas = np.broadcast_to(self.alpha, (Y.shape[1],))
        self.keep = np.isfinite(X).all(axis=0)
        X = X[:, self.keep]
        self.x_mean, self.x_std = X.mean(0), X.std(0) + 1e-12
        self.y_mean = Y.mean(0)
        Z = (X - self.x_mean) / self.x_std
        ZtZ, ZtY = Z.T @ Z, Z.T @ (Y - self.y_mean)
        eye = len(Z) * np.eye(Z.shape[1])
        self.coef = np.stack([np.linalg.solve(ZtZ + a * eye, ZtY[:, j])
                              for j, a in enumerate(alphas)], axis=1)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        Z = (np.asarray(features, np.float64)[:, self.keep] - self.x_mean) / self.x_std
        return Z @ self.coef + self.y_mean

    STATE = ("alpha", "keep", "x_mean", "x_std", "y_mean", "coef")

    def state(self) -> dict:
        """The fitted model as JSON-ready lists (float64 values round-trip exactly through
        JSON): penalties, kept feature columns, the features' and labels' standardisation and
        the coefficients (n_kept, n_labels)."""
        return {k: np.asarray(getattr(self, k)).tolist() for k in self.STATE}

    @classmethod
    def from_state(cls, state: dict, where: str = "ridge") -> "RidgePk":
        """The model ``state()`` wrote; ValueError naming ``where`` and the key when a key is
        missing or the shapes disagree."""
        missing = [k for k in cls.STATE if k not in state]
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing} (expected {list(cls.STATE)})")
        model = cls(state["alpha"])
        model.keep = np.asarray(state["keep"], bool)
        for k in ("x_mean", "x_std", "y_mean", "coef"):
            setattr(model, k, np.asarray(state[k], np.float64))
        n_kept, n_labels = int(model.keep.sum()), len(model.y_mean)
        if (model.keep.ndim != 1 or model.x_mean.shape != (n_kept,) or model.x_std.shape != (n_kept,)
                or model.coef.shape != (n_kept, n_labels)):
            raise ValueError(f"{where}: inconsistent shapes: keep {model.keep.shape} ({n_kept} "
                             f"kept), x_mean {model.x_mean.shape}, x_std {model.x_std.shape}, "
                             f"coef {model.coef.shape}, y_mean {model.y_mean.shape}")
        return model

    @property
    def n_features(self) -> int:
        """Number of feature columns the model reads (kept or not)."""
        return len(self.keep)


def group_folds(groups, n_folds: int) -> list[np.ndarray]:
    """Boolean held-out masks of ``n_folds`` folds that never split a group (a simulation).

    Groups are dealt to folds in sorted order, round robin; with fewer groups than folds each
    group is its own fold.
    """
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    n = min(int(n_folds), len(uniq))
    if n < 2:
        raise ValueError(f"cross-validation needs at least 2 groups (simulations), got {len(uniq)}")
    fold_of = {g: i % n for i, g in enumerate(uniq)}
    which = np.array([fold_of[g] for g in groups])
    return [which == i for i in range(n)]


def fit_ridge_cv(features: np.ndarray, labels: np.ndarray, groups, alphas, n_folds: int = 5
                 ) -> tuple[RidgePk, np.ndarray, np.ndarray]:
    """Ridge P(k) baseline with the penalty of each label chosen by grouped cross-validation.

    Folds hold out whole simulations (sub-volumes of one simulation share its labels and
    large-scale modes), so the chosen penalty is the one that generalises to new cosmologies.

    With a single training simulation nothing can be held out: the largest penalty is used
    (the most regularised fit, closest to the mean predictor).

    Returns
    -------
    model : RidgePk  refitted on all the data with the chosen penalties.
    chosen : (n_labels,) penalty per label.
    cv_mse : (n_alphas, n_labels) cross-validated mean squared error of each penalty.
    """
    return fit_ridge_cv_oof(features, labels, groups, alphas, n_folds)[:3]


def fit_ridge_cv_oof(features: np.ndarray, labels: np.ndarray, groups, alphas, n_folds: int = 5
                     ) -> tuple[RidgePk, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fit_ridge_cv` and, from the same fold fits, each sample's out-of-fold estimate at
    the chosen penalty of each label: ``(model, chosen, cv_mse, oof)``, ``oof`` (n, n_labels)
    in the labels' units, the estimate of the ridge fitted without the sample's simulation
    (with one training simulation, nothing held out: the full model's estimate).
    """
    X = np.asarray(features, np.float64)
    Y = np.asarray(labels, np.float64)
    alphas = np.asarray(alphas, np.float64)
    if len(np.unique(np.asarray(groups))) < 2:  # one training simulation: nothing to hold out
        chosen = np.full(Y.shape[1], alphas.max())
        model = RidgePk(chosen).fit(X, Y)
        return model, chosen, np.full((len(alphas), Y.shape[1]), np.nan), model.predict(X)
    folds = np.empty((len(alphas),) + Y.shape)       # out-of-fold estimates per penalty
    for held in group_folds(groups, n_folds):
        for i, a in enumerate(alphas):
            folds[i, held] = RidgePk(a).fit(X[~held], Y[~held]).predict(X[held])
    cv_mse = ((folds - Y) ** 2).mean(axis=1)
    best = np.argmin(cv_mse, axis=0)
    chosen = alphas[best]
    oof = folds[best, :, np.arange(Y.shape[1])].T
    return RidgePk(chosen).fit(X, Y), chosen, cv_mse, oof
