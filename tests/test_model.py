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
    paper_part = (ROOT / "docs" / "model.md").read_text().split("## Presets", 1)[0]
    for line in paper_part.splitlines():
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


# -- presets -----------------------------------------------------------------------------------
from cosmoflow.model import PRESETS, check_model, resolve  # noqa: E402


def _doc_preset_table(preset: str) -> dict:
    """Rows of the per-layer table under the '### Preset `<preset>`' heading of docs/model.md."""
    text = (ROOT / "docs" / "model.md").read_text()
    part = text.split(f"### Preset `{preset}`", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in part.splitlines():
        m = re.match(r"\|\s*(\w+)\s*\|\s*([\dx]+)\s*\|\s*([\d,]+)\s*\|", line)
        if m:
            rows[m.group(1)] = (tuple(int(v) for v in m.group(2).split("x")),
                                int(m.group(3).replace(",", "")))
    return rows


@pytest.mark.parametrize("preset", ["light", "mlperf"])
def test_preset_matches_its_docs_table(preset):
    """docs/model.md's table of each preset (32^3 x 4 inputs, 3 outputs) is the built model."""
    model = build_model(32, preset=preset, n_outputs=3, n_channels=4)
    doc = _doc_preset_table(preset)
    built = {l.name: (tuple(l.output.shape[1:]), int(l.count_params())) for l in model.layers
             if l.count_params() or l.name.startswith(("pool", "global"))}
    assert doc == built
    assert model.count_params() == sum(p for _, p in doc.values())


def test_light_preset_layers():
    model = build_model(32, preset="light", n_outputs=3, n_channels=4)
    kinds = [l.__class__.__name__ for l in model.layers]
    assert kinds.count("Conv3D") == 4 and kinds.count("BatchNormalization") == 4
    assert kinds.count("MaxPooling3D") == 3 and "GlobalAveragePooling3D" in kinds
    assert model.get_layer("fc_drop1").rate == pytest.approx(0.2)
    assert not model.get_layer("conv1").use_bias          # batch norm's shift replaces it


def test_mlperf_preset_output_is_bounded_tanh():
    model = build_model(32, preset="mlperf", n_outputs=4, n_channels=4)
    x = 50.0 * np.random.default_rng(1).standard_normal((2, 32, 32, 32, 4)).astype(np.float32)
    y = model(x, training=False).numpy()
    assert y.shape == (2, 4) and np.all(np.abs(y) <= 1.2)
    assert [l.kernel_size for l in model.layers if l.__class__.__name__ == "Conv3D"] == [(2, 2, 2)] * 5


def test_options_override_preset_defaults():
    cfg = resolve({"preset": "paper", "batch_norm": True, "pooling": "max", "dropout": 0.3})
    assert cfg["conv_filters"] == PRESETS["paper"].DEFAULTS["conv_filters"]
    model = build_model(32, [4, 8, 8, 8, 8], [16], 0.01, 3, batch_norm=True, pooling="max",
                        dropout=0.3)
    names = [l.name for l in model.layers]
    assert "bn1" in names and "fc_drop1" in names
    assert model.get_layer("pool1").__class__.__name__ == "MaxPooling3D"


def test_standardisation_is_inside_the_saved_model(tmp_path):
    import keras

    mean, std = [1.0, 2.0], [0.5, 4.0]
    model = build_model(16, preset="light", n_outputs=3, n_channels=2, input_mean=mean,
                        input_std=std, conv_filters=[4, 8], dense=[8])
    x = np.random.default_rng(2).standard_normal((1, 16, 16, 16, 2)).astype(np.float32)
    std_layer = model.get_layer("standardize")
    np.testing.assert_allclose(std_layer(x).numpy(), (x - mean) / np.array(std), rtol=1e-5,
                               atol=1e-6)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(again(x, training=False).numpy(), model(x, training=False).numpy(),
                               rtol=1e-6)


def test_preset_errors_name_the_key():
    with pytest.raises(ValueError, match="model.preset"):
        resolve({"preset": "resnet"})
    with pytest.raises(ValueError, match="model.conv_filters"):
        check_model({"preset": "light", "input_size": 16, "conv_filters": [1] * 7})
    with pytest.raises(ValueError, match="model.conv_filters"):
        check_model({"preset": "mlperf", "input_size": 16})
