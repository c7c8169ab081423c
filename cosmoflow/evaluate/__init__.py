"""Evaluation: metrics, baselines, plots and the evaluate stage."""
