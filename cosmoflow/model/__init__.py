"""The CosmoFlow 3D convolutional network: ``build_model(**config["model"], n_outputs=...)``."""
from cosmoflow.model.network import ConvSpec, build_model, conv_specs, recommended_blocks
from cosmoflow.model.summary import PAPER_TABLE_I, layer_table, train_flops

__all__ = ["ConvSpec", "build_model", "conv_specs", "recommended_blocks", "layer_table",
           "train_flops", "PAPER_TABLE_I"]
