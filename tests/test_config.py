"""Config validation: schema, defaults and cross-key checks give named-key errors."""
import copy

import pytest
import yaml

from cosmoflow import config as cfgmod
from conftest import ROOT, run_snakemake


@pytest.fixture
def base():
    return cfgmod.load()


def test_default_and_paper_configs_are_valid():
    # each merges over the ones before it, as `--configfile a b c` does
    for names in (["config.yaml"], ["paper.yaml"], ["medium.yaml"], ["medium.yaml", "medium_channels.yaml"]):
        cfg = cfgmod.load(ROOT / "config" / "config.yaml", *(ROOT / "config" / n for n in names))
        assert cfg["sims"]["n_sims"] > cfg["sims"]["n_val"] + cfg["sims"]["n_test"]
    assert cfg["tfrecords"]["redshift_channels"] and len(cfg["cola"]["redshifts"]) == 4
    assert cfg["sims"]["n_sims"] == 256 and cfg["train"]["epochs"] == 24  # medium.yaml's, kept


def test_paper_config_has_the_paper_scale():
    cfg = cfgmod.load(ROOT / "config" / "paper.yaml")
    assert cfg["simulation"] == {"box": 512.0, "n_particles": 512}
    assert cfg["voxels"]["n_voxels"] == 256 and cfg["voxels"]["subvolume"] == 128
    assert (cfg["sims"]["n_val"], cfg["sims"]["n_test"]) == (150, 50)
    n_samples = cfg["sims"]["n_sims"] * (256 // 128) ** 3
    assert 12_000 <= n_samples <= 13_000


@pytest.mark.parametrize("name, voxel", [("paper.yaml", 2.0), ("medium.yaml", 4.0)])
def test_configs_keep_the_papers_sampling(name, voxel):
    """The paper-like configs keep the paper's 8 particles per voxel and 8 sub-volumes per box."""
    cfg = cfgmod.load(ROOT / "config" / "config.yaml", ROOT / "config" / name)
    vox = cfg["voxels"]
    assert cfg["simulation"]["box"] / vox["n_voxels"] == pytest.approx(voxel)
    assert (cfg["simulation"]["n_particles"] / vox["n_voxels"]) ** 3 == pytest.approx(8.0)
    assert (vox["n_voxels"] // vox["subvolume"]) ** 3 == 8
    assert cfg["model"]["input_size"] == vox["subvolume"]


@pytest.mark.parametrize("name, n_test, side", [("config.yaml", 8, 64), ("workstation.yaml", 64, 64)])
def test_learning_configs_use_the_papers_voxels_priors_and_redshift_channels(name, n_test, side):
    """The default and the workstation config: 2 Mpc/h voxels (the paper's), the paper's priors,
    z = 0, 0.5, 1.5, 3 stacked as channels, the light network; 8 cubes of 64^3 (128 Mpc/h) per
    simulation."""
    cfg = cfgmod.load(ROOT / "config" / "config.yaml", ROOT / "config" / name)
    vox, cos = cfg["voxels"], cfg["cosmology"]
    assert cfg["simulation"]["box"] / vox["n_voxels"] == pytest.approx(2.0)
    assert (vox["n_voxels"] // vox["subvolume"]) ** 3 == (128 // side) ** 3
    assert cfg["model"]["input_size"] == vox["subvolume"] == side
    assert cfg["cola"]["redshifts"] == [0.0, 0.5, 1.5, 3.0] and cfg["tfrecords"]["redshift_channels"]
    assert (cos["Omega_m"], cos["sigma_8"], cos["n_s"]) == ([0.25, 0.35], [0.78, 0.95], [0.90, 1.00])
    assert cfg["model"]["preset"] == "light" and cfg["sims"]["n_test"] == n_test


@pytest.mark.parametrize("mutate, needle", [
    (lambda c: c["sims"].update(n_sims=-3), "sims.n_sims: got -3, expected minimum 1"),
    (lambda c: c["sims"].update(n_sims="many"), "sims.n_sims: got 'many' (str), expected type integer"),
    (lambda c: c.update(bogus=1), "'bogus' was unexpected"),
    (lambda c: c["cola"].update(n_stepz=3), "cola: unknown key(s)"),
    (lambda c: c["power"].update(transfer="camb"), "power.transfer: got 'camb', expected one of"),
    (lambda c: c["power"].update(class_precision={"tol_perturbation_integration": 1e-4}),
     "power.class_precision: unknown key(s): Additional properties are not allowed "
     "('tol_perturbation_integration' was unexpected)"),
    (lambda c: c["power"].update(class_precision={"l_max_g": 2}),
     "power.class_precision.l_max_g: got 2, expected minimum 4"),
    (lambda c: c["power"].update(class_precision="fast"), "power.class_precision: got 'fast' (str), expected type object"),
    (lambda c: c["cosmology"].update(sigma_8=[0.9, 0.8]), "cosmology.sigma_8: got [0.9, 0.8], expected low < high"),
    (lambda c: c["sims"].update(n_sims=16, n_val=10, n_test=10), "n_val + n_test = 20 must be < n_sims"),
    (lambda c: c["sims"].update(n_sims=16, n_val=5, n_test=5, n_cal=6),
     "sims: n_val + n_test + n_cal = 16 must be < n_sims = 16"),
    (lambda c: c["sims"].update(n_cal=-1), "sims.n_cal: got -1, expected minimum 0"),
    # the cosmology parameterisation
    (lambda c: c["cosmology"].update(A_s=[1.5e-9, 2.6e-9]),
     "cosmology.A_s: got both sigma_8 = [0.78, 0.95] and A_s = [1.5e-09, 2.6e-09], expected one of them"),
    (lambda c: c["cosmology"].update(sigma_8=None), "cosmology.sigma_8: neither sigma_8 nor A_s is given"),
    (lambda c: c["cosmology"].pop("sigma_8"), "cosmology.sigma_8: neither sigma_8 nor A_s is given"),
    (lambda c: c["cosmology"].update(sigma_8=None, A_s=[2.6e-9, 1.5e-9]),
     "cosmology.A_s: got [2.6e-09, 1.5e-09], expected low < high"),
    (lambda c: c["cosmology"].update(sigma_8=None, A_s=2.1), "cosmology.A_s: got 2.1, expected a number in (0, 1e-8]"),
    (lambda c: c["cosmology"].update(n_s=[0.9, 1.0, 1.1]), "cosmology.n_s: got [0.9, 1.0, 1.1], expected a number"),
    (lambda c: c["cosmology"].update(Omega_m=[0.25, 1.2]), "cosmology.Omega_m: got [0.25, 1.2], expected a number in (0, 1]"),
    (lambda c: c["cosmology"].update(h=0.7), "cosmology.h: got both H0 = 70.3 and h = 0.7, expected one of them"),
    (lambda c: c["cosmology"].update(H0=None), "cosmology.H0: neither H0 nor h is given"),
    (lambda c: c["cosmology"].update(H0=None, h=[0.6, 0.8], vary_H0=True), "cosmology.vary_H0: true with h given"),
    (lambda c: c["cosmology"].update(H0=[60, 80], vary_H0=True), "cosmology.vary_H0: true with H0 = [60, 80] a range"),
    (lambda c: c["cosmology"].update(Omega_m=0.3, sigma_8=0.8, n_s=0.96), "cosmology: no parameter is varied"),
    (lambda c: c["cosmology"].update(Omega_b=[0.1, 0.2], Omega_m=[0.15, 0.35]),
     "cosmology.Omega_b: got [0.1, 0.2], expected below the lowest Omega_m 0.15"),
    (lambda c: c["evaluate"].update(ridge_alphas=[]), "evaluate.ridge_alphas"),
    (lambda c: c["simulation"].update(n_particles=100), "simulation.n_particles: got 100, expected a power of 2"),
    (lambda c: c["voxels"].update(n_voxels=128, subvolume=48), "n_voxels = 128 must be a multiple of subvolume = 48"),
    (lambda c: (c["voxels"].update(subvolume=16), c["model"].update(
        preset="paper", input_size=16, conv_filters=[16, 32, 64, 128, 256, 256, 256])),
     "model.input_size=16 with 7 conv_filters: conv3 output would be empty; use 4"),
    (lambda c: (c["voxels"].update(subvolume=16), c["model"].update(
        preset="light", input_size=16, conv_filters=[8, 8, 8, 8, 8, 8])),
     "model.conv_filters: 5 pools halve model.input_size=16 below 1 voxel"),
    (lambda c: c["model"].update(preset="resnet"), "model.preset: got 'resnet', expected one of"),
    (lambda c: c["model"].update(preset="light", power_bins=8, power_into="tail"), "model.power_into"),
    (lambda c: c["model"].update(preset="light", power_into="output"),
     "model.power_into = 'output': the power branch is off"),
    (lambda c: c["model"].update(preset="mlperf", moments=True),
     "model.moments = true: only the light preset takes the moments' branch"),
])
def test_bad_values_name_the_key(base, mutate, needle):
    bad = copy.deepcopy(base)
    mutate(bad)
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.validate(bad, source="my.yaml")
    assert needle in str(err.value)
    assert "my.yaml" in str(err.value)


def test_defaults_are_filled_from_schema(base):
    sparse = copy.deepcopy(base)
    del sparse["cola"]
    del sparse["power"]["n_k"]
    filled = cfgmod.validate(sparse)
    assert filled["cola"]["n_steps"] == 10 and filled["power"]["n_k"] == 512


def test_unreadable_config_names_the_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("sims: [unclosed\n")
    with pytest.raises(cfgmod.ConfigError, match="broken.yaml"):
        cfgmod.load(bad)


def test_snakemake_stops_with_the_named_key(tmp_path):
    cf = tmp_path / "bad.yaml"
    cf.write_text(yaml.safe_dump({"sims": {"n_sims": 4, "n_val": 1, "n_test": 1},
                                  "cola": {"n_steps": 0}}))
    proc = run_snakemake(tmp_path, "-n", configfiles=(ROOT / "tests/config/tiny.yaml", cf), check=False)
    assert proc.returncode != 0
    assert "cola.n_steps: got 0, expected minimum 1" in proc.stdout + proc.stderr


def test_train_cli_names_a_mistyped_override(capsys, tmp_path):
    """`--set train.lr=2e-4` is a string in YAML 1.1: the CLI must say so before starting."""
    from cosmoflow.train.cli import main

    rc = main(["--config", str(ROOT / "config" / "config.yaml"), "--set", "train.lr=2e-4",
               "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "train.lr: got '2e-4' (str), expected type number" in err


def test_power_bins_zero_is_the_config_without_the_key(base):
    """model.power_bins: 0 (off) and no key give the same config, so the rules' parameters of
    results made before the option do not change; a non-zero value stays."""
    without = cfgmod.canonical(base)
    assert "power_bins" not in without["model"]
    off = cfgmod.canonical(dict(base, model=dict(base["model"], power_bins=0)))
    assert off == without
    on = cfgmod.canonical(dict(base, model=dict(base["model"], power_bins=24)))
    assert on["model"]["power_bins"] == 24


def test_power_into_head_is_the_config_without_the_key(base):
    """model.power_into: head (where the branch went before the option) is the config without
    the key (the same rule parameters); output stays."""
    without = cfgmod.canonical(base)
    assert "power_into" not in without["model"]
    head = cfgmod.canonical(dict(base, model=dict(base["model"], power_into="head")))
    assert head == without
    out = cfgmod.canonical(dict(base, model=dict(base["model"], power_bins=8, power_into="output")))
    assert out["model"]["power_into"] == "output"


def test_moments_false_is_the_config_without_the_key(base):
    """model.moments: false (off) and no key give the same config (the same rule parameters
    for results made before the option); true stays."""
    without = cfgmod.canonical(base)
    assert "moments" not in without["model"]
    assert cfgmod.canonical(dict(base, model=dict(base["model"], moments=False))) == without
    assert cfgmod.canonical(dict(base, model=dict(base["model"], moments=True)))["model"]["moments"] is True
