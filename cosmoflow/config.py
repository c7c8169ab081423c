"""Configuration: load, validate against config/config.schema.yaml, and cross-check keys.

Errors name the file, the key path (e.g. ``sims.n_sims``) and what was expected.
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "config" / "config.schema.yaml"
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


def _describe(error) -> str:
    if error.validator == "additionalProperties":
        return f"unknown key(s): {error.message}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"got {error.instance!r}, expected {error.validator} {error.validator_value}"
    if error.validator == "type":
        return f"got {error.instance!r} ({type(error.instance).__name__}), expected type {error.validator_value}"
    if error.validator == "enum":
        return f"got {error.instance!r}, expected one of {error.validator_value}"
    if error.validator == "required":
        return error.message
    if error.validator in ("anyOf", "oneOf"):
        return f"got {error.instance!r}, expected {error.schema.get('description', error.message)}"
    return f"{error.message}"


def _violations(instance, schema: dict, prefix: tuple = ()) -> list[str]:
    """'key.path: what was wrong' lines of ``instance`` against ``schema`` (paths after prefix)."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(instance),
                    key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(map(str, (*prefix, *e.absolute_path))) or '<top level>'}: {_describe(e)}"
            for e in errors]


def schema_errors(config: dict, schema_path: str | Path = SCHEMA) -> list[str]:
    """All schema violations as 'key.path: what was wrong' lines (empty when valid)."""
    return _violations(config, yaml.safe_load(Path(schema_path).read_text()))


def section_errors(sections: dict, schema_path: str | Path = SCHEMA) -> list[str]:
    """Schema violations of the given top-level sections only (e.g. model, train, data).

    For entry points that receive a subset of the config (``python -m cosmoflow.train``).
    """
    props = yaml.safe_load(Path(schema_path).read_text()).get("properties", {})
    errs = []
    for name, value in sections.items():
        if name not in props:
            errs.append(f"{name}: unknown config section")
        else:
            errs += _violations(value, props[name], (name,))
    return errs


def section_keys(section: str, schema_path: str | Path = SCHEMA) -> set[str]:
    """The keys the schema declares in a top-level section (with or without a default)."""
    props = yaml.safe_load(Path(schema_path).read_text()).get("properties", {})
    return set(props.get(section, {}).get("properties", {}))


def fill_defaults(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Return a copy of config with schema defaults filled in for absent optional keys."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    out = copy.deepcopy(config)

    def fill(node: dict, sch: dict) -> None:
        for key, sub in sch.get("properties", {}).items():
            if key not in node:
                if "default" in sub:
                    node[key] = copy.deepcopy(sub["default"])
                elif sub.get("type") == "object":
                    node[key] = {}
            if isinstance(node.get(key), dict) and sub.get("type") == "object":
                fill(node[key], sub)

    fill(out, schema)
    return out


#: Options whose "off" value is their absence: a config giving that value is the same config as
#: one without the key (same rule parameters, so results made before the option keep theirs).
OFF_IS_ABSENT = {("model", "power_bins"): 0, ("model", "power_into"): "head", ("model", "moments"): False,
                 ("model", "global_pooling"): "mean", ("model", "summary_term"): None}


def canonical(config: dict) -> dict:
    """A copy of config without the OFF_IS_ABSENT keys that hold their "off" value."""
    out = copy.deepcopy(config)
    for (section, key), off in OFF_IS_ABSENT.items():
        if isinstance(out.get(section), dict) and out[section].get(key, off) == off:
            out[section].pop(key, None)
    return out


def fill_section_defaults(sections: dict, schema_path: str | Path = SCHEMA) -> dict:
    """``fill_defaults`` for a subset of top-level sections (e.g. model, train, data)."""
    filled = fill_defaults(sections, schema_path)
    return {k: filled[k] for k in sections}


def apply_sets(config: dict, sets: list[str]) -> dict:
    """Apply ``--set SECTION.KEY=VALUE`` overrides to ``config`` in place (VALUE read as YAML;
    the last one of a key wins) and return it. ValueError for an item not of that form,
    KeyError naming the key for one that is neither in the config nor in its section's schema."""
    for item in sets:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise ValueError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        if section not in config or (name not in config[section] and name not in section_keys(section)):
            raise KeyError(f"--set {item!r}: no key {key!r} in the configuration")
        config[section][name] = yaml.safe_load(value)
    return config


def cross_check(config: dict) -> list[str]:
    """Checks that span several keys (the schema checks each key alone)."""
    errs: list[str] = []
    sims = config["sims"]
    n_cal = sims.get("n_cal", 0)
    held = sims["n_val"] + sims["n_test"] + n_cal
    if held >= sims["n_sims"]:
        names = "n_val + n_test + n_cal" if n_cal else "n_val + n_test"
        errs.append(f"sims: {names} = {held} must be < n_sims = "
                    f"{sims['n_sims']} (at least one training simulation)")
    errs += cosmology_errors(config["cosmology"])
    n = config["simulation"]["n_particles"]
    if n & (n - 1):
        errs.append(f"simulation.n_particles: got {n}, expected a power of 2 (MUSIC unigrid levels)")
    vox = config.get("voxels", {})
    if vox:
        if vox["n_voxels"] % vox["subvolume"]:
            errs.append(f"voxels: n_voxels = {vox['n_voxels']} must be a multiple of subvolume = "
                        f"{vox['subvolume']}")
        if config.get("model") and config["model"].get("input_size") != vox["subvolume"]:
            errs.append(f"model.input_size = {config['model'].get('input_size')} must equal "
                        f"voxels.subvolume = {vox['subvolume']}")
    model = config.get("model")
    if model:
        from cosmoflow.model import check_model

        try:
            check_model(model)
            from cosmoflow.model import summary_term

            summary_term.check(model.get("summary_term"),
                               input_norm=config.get("data", {}).get("input_norm", "log1p"))
        except ValueError as err:
            errs.append(str(err))
    return errs


def cosmology_errors(cos: dict) -> list[str]:
    """Checks of the cosmology section that span keys: the parameterisation
    (``sampling.spec_errors``: one of sigma_8 / A_s, one of H0 / h, low < high, something varied)
    and Omega_b below every Omega_m."""
    from cosmoflow import sampling

    errs = sampling.spec_errors(cos)
    if not errs:
        spec = sampling.parameter_spec(cos)
        bounds = {k: v if isinstance(v, tuple) else (v, v) for k, v in spec.items()}
        if bounds["Omega_b"][1] >= bounds["Omega_m"][0]:
            errs.append(f"cosmology.Omega_b: got {cos['Omega_b']}, expected below the lowest "
                        f"Omega_m {bounds['Omega_m'][0]} (Omega_cdm = Omega_m - Omega_b > 0)")
    return errs


def validate(config: dict, source: str = "config") -> dict:
    """Validate a config dict; return it with defaults filled. Raise ConfigError listing every
    problem as '<source>: key.path: ...'."""
    errs = schema_errors(config)
    if not errs:
        config = fill_defaults(config)
        errs = cross_check(config)
    if errs:
        raise ConfigError(f"invalid configuration ({source}):\n" + "\n".join(f"  {source}: {e}" for e in errs))
    return config


def load(*paths: str | Path) -> dict:
    """Load one or more YAML files (later ones override earlier ones key by key, as Snakemake
    merges --configfile), validate, fill defaults."""
    paths = paths or (DEFAULT_CONFIG,)
    merged: dict = {}
    for p in paths:
        p = Path(p)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{p}: cannot read YAML config ({err})") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of config sections, got {type(data).__name__}")
        merged = deep_update(merged, data)
    return validate(merged, source=", ".join(str(p) for p in paths))


def deep_update(base: dict, new: dict) -> dict:
    """Recursively merge ``new`` into a copy of ``base`` (as snakemake merges --configfile)."""
    out = copy.deepcopy(base)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
