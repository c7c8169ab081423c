"""The network: shapes and parameters vs docs/model.md, other input sizes, errors."""
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from cosmoflow.model import build_model, layer_table

ROOT = Path(__file__).resolve().parents[1]
PAPER_FILTERS = [16, 32, 64, 128, 256, 256, 256]


def _doc_table() -> dict:
    rows = {}
    for line in (ROOT / "docs" / "model.md").read_text().splitlines():
        m = re.match(r"\|\s*(conv\d|pool\d|fc\d|output)\s*\|\s*([\dx]+)\s*\|\s*([\d,]+)\s*\|", line)
        if m:
            shape = tuple(int(v) for v in m.group(2).split("x"))
            rows[m.group(1)] = (shape, int(m.group(3).replace(",", "")))
    return rows


def test_128_model_matches_docs_table_and_paper_count():
    cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["model"]
    model = build_model(**cfg, n_outputs=3)
    doc = _doc_table()
    rows = layer_table(model)
    assert len(doc) == len(rows) == 13
    for r in rows:
        assert doc[r["name"]] == (r["output_shape"], r["params"]), r["name"]
    n = model.count_params()
    assert n == sum(p for _, p in doc.values())
    assert abs(n - 7.04e6) / 7.04e6 < 0.002          # paper: 28.15 MB of float32
    convs = [l for l in model.layers if l.__class__.__name__ == "Conv3D"]
    pools = [l for l in model.layers if l.__class__.__name__ == "AveragePooling3D"]
    dense = [l for l in model.layers if l.__class__.__name__ == "Dense"]
    assert (len(convs), len(pools), len(dense)) == (7, 3, 3)
    assert not any("BatchNorm" in l.__class__.__name__ for l in model.layers)


@pytest.mark.parametrize("size,filters", [(64, PAPER_FILTERS[:3] + PAPER_FILTERS[4:]),
                                          (256, [16, 32, 64, 64, 128, 256, 256, 256])])
def test_other_sizes_flatten_to_2048(size, filters):
    model = build_model(size, filters, [2048, 560], 0.01, 4)
    flat = model.get_layer("flatten").output.shape[-1]
    assert flat == 2048
    assert model.output.shape[-1] == 4


def test_wrong_filter_count_for_size_names_the_key():
    with pytest.raises(ValueError, match=r"model.input_size=64 .* use 6 conv_filters"):
        build_model(64, PAPER_FILTERS, [32], 0.01, 3)


def test_forward_pass_and_leaky_relu():
    model = build_model(16, [4, 8, 8, 8], [16, 8], 0.01, 3)
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 16, 1)).astype(np.float32)
    y = model(x).numpy()
    assert y.shape == (2, 3) and np.all(np.isfinite(y))
    assert model.get_layer("act1").negative_slope == pytest.approx(0.01)


def test_redshift_channels_only_widen_conv1():
    one = build_model(16, [4, 8, 8, 8], [16, 8], 0.01, 3)
    four = build_model(16, [4, 8, 8, 8], [16, 8], 0.01, 3, n_channels=4)
    assert four.input.shape[1:] == (16, 16, 16, 4)
    assert four.get_layer("conv1").kernel.shape == (3, 3, 3, 4, 4)
    assert four.count_params() - one.count_params() == 3 ** 3 * 3 * 4   # 3 more input channels
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 16, 4)).astype(np.float32)
    assert four(x).shape == (2, 3)
