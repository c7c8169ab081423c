"""Per-layer output shapes, parameter counts and forward flops of a built model."""
from __future__ import annotations

import math


#: Paper Table I (Mathuriya et al. 2018): per conv layer (fwd ms, bww ms, bwd ms,
#: fwd TF/s, bww TF/s, bwd TF/s); Conv3D_1 has no backward-data pass.
PAPER_TABLE_I = {
    "conv1": (1.46, 0.78, None, 1.18, 2.22, None),
    "conv2": (4.13, 6.59, 6.81, 3.43, 2.15, 2.41),
    "conv3": (0.97, 0.77, 1.12, 5.32, 6.70, 6.32),
    "conv4": (0.71, 0.81, 0.80, 0.13, 0.12, 1.21),
    "conv5": (0.96, 1.05, 1.15, 0.12, 0.11, 0.33),
    "conv6": (0.59, 0.91, 0.68, 0.05, 0.03, 0.10),
    "conv7": (0.59, 0.76, 0.60, 0.01, 0.01, 0.05),
}
#: Paper section V-A: parameters (28.15 MB float32 / 4 B) and Gflop per sample fwd + bwd.
PAPER_PARAMS = 28.15e6 / 4
PAPER_GFLOP_FWD_BWD = 69.33


def layer_table(model: "keras.Model") -> list[dict]:
    """One row per Conv3D / pooling / Dense layer of ``model`` (batch 1).

    Returns
    -------
    list of dict
        Keys ``name``, ``kind`` (conv|pool|dense), ``output_shape`` (tuple without batch),
        ``params`` (int), ``fwd_flops`` (float; 2 per multiply-add for conv/dense, 8 per
        pooled output voxel for the 2^3 average, activations and bias adds not counted).
    """
    import keras

    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv3D):
            kind = "conv"
            out = tuple(layer.output.shape[1:])
            k = math.prod(layer.kernel_size)
            cin = layer.kernel.shape[-2]
            flops = 2.0 * k * cin * math.prod(out)
        elif isinstance(layer, keras.layers.AveragePooling3D):
            kind = "pool"
            out = tuple(layer.output.shape[1:])
            flops = 8.0 * math.prod(out)
        elif isinstance(layer, keras.layers.Dense):
            kind = "dense"
            out = tuple(layer.output.shape[1:])
            flops = 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
        else:
            continue
        rows.append({"name": layer.name, "kind": kind, "output_shape": out,
                     "params": int(layer.count_params()), "fwd_flops": flops})
    return rows


def train_flops(rows: list[dict]) -> float:
    """Flops per sample for forward + backward (batch 1) from ``layer_table`` rows.

    Backward = backward-weights (same flops as forward) + backward-data (same flops as
    forward) for conv and dense layers, except that the first layer needs no gradient
    with respect to the input (as Table I, which has no Bwd for Conv3D_1); pooling
    backward counted as its forward.
    """
    total = 0.0
    first = True
    for r in rows:
        if r["kind"] in ("conv", "dense"):
            total += r["fwd_flops"] * (2.0 if first else 3.0)
            first = False
        else:
            total += 2.0 * r["fwd_flops"]
    return total
