"""Start-up imports of keras that a training process never uses, left out.

keras 3 imports scikit-learn (for the scikit-learn estimators of ``keras.wrappers``), pandas
(for its pandas input adapter) and matplotlib.pyplot (for ``keras.visualization``) at ``import
keras`` whenever they are installed, and all three are in the pipeline's venv (scikit-learn and
matplotlib for the evaluate stage, pandas for Snakemake's Slurm executor). The training ranks
use none of them. Marked absent before the first TensorFlow import, they are not loaded:
``import tensorflow, keras`` takes 6.0-7.8 s instead of 10.5-11.3 s on a 2-core AMD EPYC (3
interleaved runs each), in each rank of every training run.
"""
from __future__ import annotations

import sys

__all__ = ["UNUSED_BY_TRAINING", "skip_unused_keras_imports"]

#: what keras imports only if installed, and the training entry point never calls
UNUSED_BY_TRAINING = ("sklearn", "pandas", "matplotlib")


def skip_unused_keras_imports(names: tuple[str, ...] = UNUSED_BY_TRAINING) -> list[str]:
    """Mark ``names`` absent in this process (``sys.modules[name] = None``: a later ``import
    name`` raises ImportError, which keras takes for "not installed"), except those already
    imported. For a program's entry point, before anything imports TensorFlow; returns the
    names it marked."""
    marked = [n for n in names if n not in sys.modules]
    for n in marked:
        sys.modules[n] = None
    return marked
