"""Start training from another run's weights (``train.init_from``: a saved ``model.keras``).

``copy_weights`` copies, layer by layer, the weights of the saved model into the one built
for this run wherever a layer of the same name holds weights of the same shapes (conv
kernels, batch norm's scales and moving statistics, dense layers, the input
standardisation), except the layers named in ``skip``; the others keep their initialisation.
With ``model.summary_term`` the output layer is skipped: it starts at zero, so the model
starts as the summary ridge while its conv layers start as the saved network's, whose
features already read the labels (docs/model.md, "The summary term"). Every rank copies the
same file, so the ranks start in step, and a resumed run's checkpoint replaces the copy.
"""
from __future__ import annotations

import hashlib
from pathlib import Path


def digest(path: str | Path) -> str:
    """sha256 of the saved model file (what a run id records of it)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_weights(model, path: str | Path, *, skip=()) -> list[str]:
    """Copy into ``model`` the weights of the model saved at ``path``, layer by layer (by
    name, where every weight's shape agrees), except the layers named in ``skip``.

    Returns the names of the layers copied. ValueError naming ``train.init_from`` when the
    file does not exist or no layer with weights matches.
    """
    from cosmoflow.model.power_features import load

    if not Path(path).is_file():
        raise ValueError(f"train.init_from: {path} does not exist (expected a model.keras "
                         "saved by a training run)")
    source = {layer.name: layer for layer in load(path).layers}
    copied = []
    for layer in model.layers:
        theirs = source.get(layer.name)
        if layer.name in skip or theirs is None or not layer.weights:
            continue
        mine, other = layer.get_weights(), theirs.get_weights()
        if len(mine) == len(other) and all(a.shape == b.shape for a, b in zip(mine, other)):
            layer.set_weights(other)
            copied.append(layer.name)
    if not copied:
        raise ValueError(f"train.init_from: no layer of {path} matches this model's (names and "
                         "weight shapes): another preset or input size?")
    return copied
