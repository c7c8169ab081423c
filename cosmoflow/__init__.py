"""CosmoFlow pipeline: sampling, power spectra, data, model, training, evaluation."""
