"""Initial conditions in MUSIC's "generic" HDF5 layout: the builtin generator and the reader.

The builtin generator reads the values of a MUSIC ``.conf`` (``music_conf.IcsParams``) and
does what MUSIC's unigrid mode does, in float32 with scipy.fft (see ``lpt.py``):

1. white noise w from ``seed[L]`` (numpy PCG64, independent of the thread count);
2. delta_k = FFT(w) sqrt(P_lin(k)/L^3) N^(3/2) (DC = 0), P_lin at z = 0;
3. Psi1_k = i k delta_k / k^2; Psi2 = (3/7) grad u2 with lap u2 = -S (FFT 2LPT);
4. at z_start: rho = D+ delta, d = D+ Psi1 [+ D2 Psi2], v = vfact (D+ Psi1 [+ 2 D2 Psi2]),
   the bracketed terms when the .conf says ``use_2LPT = yes`` (as MUSIC stores them).

File layout (contract with the COLA stage; see docs/ics.md):
- ``/header/grid_off_{x,y,z}`` uint32[1] = 0, ``/header/grid_len_{x,y,z}`` uint32[1] = N,
  group attrs levelmin = levelmax = L;
- ``/level_LLL_DM_{dx,dy,dz,vx,vy,vz,rho}`` float32 (N+8)^3, 4 padding cells per side filled
  with the periodic copy; d in box units, v in box units (x boxlength = km/s), rho = overdensity
  at z_start. x is the slowest axis; the Lagrangian position of cell (i,j,k) is (i+1/2,...) L/N;
- ``/lpt/psi1_{x,y,z}``, ``/lpt/psi2_{x,y,z}`` float32 N^3 [Mpc/h] at D1 = 1 (z = 0), such that
  x(a) = q + D1(a) Psi1 + D2(a) Psi2 (D2 > 0, ``cosmology.growth_D2``);
- root attrs: the cosmology, box, N, z_start, seed, transfer, Dplus, vfact, generator, conf.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import cosmology as cosmo_mod
from . import lpt
from .music_conf import IcsParams, MusicConf, check_builtin_supported, ics_params, read_camb_transfer
from .power import PowerTable, eisenstein_hu_pk, sigma_R

PAD = 4  # MUSIC's padding cells per side of each level dataset
FORMAT_VERSION = "1"
LPT_NAMES = tuple(f"lpt/psi{o}_{c}" for o in (1, 2) for c in "xyz")
COMPONENTS = ("dx", "dy", "dz", "vx", "vy", "vz", "rho")


class IcsFileError(OSError):
    """An ics.hdf5 is missing, truncated or not ours (the message names the file and dataset)."""


def level_name(level: int, what: str) -> str:
    """MUSIC's dataset name, e.g. ``level_009_DM_dx``."""
    return f"level_{level:03d}_DM_{what}"


# ----------------------------------------------------------------------------------------------
# P(k) for a .conf: the power stage's table when it describes the same run, else from the .conf
# ----------------------------------------------------------------------------------------------

def _same_cosmology(table: PowerTable, p: IcsParams) -> bool:
    c = p.cosmology
    want = {"Omega_m": c.Omega_m, "sigma_8": c.sigma_8, "n_s": c.n_s, "H0": c.H0, "Omega_b": c.Omega_b,
            "T_cmb": c.T_cmb}
    try:
        return all(abs(float(table.attrs[k]) - v) <= 1e-9 * max(1.0, abs(v)) for k, v in want.items())
    except KeyError:
        return False


def table_matches(table: PowerTable, p: IcsParams) -> bool:
    """True when the power table is the spectrum the .conf asks for (same cosmology, transfer)."""
    kind = {"eisenstein": "eisenstein", "camb_file": "class"}[p.transfer]
    if table.attrs.get("transfer") != kind or not _same_cosmology(table, p):
        return False
    if p.transfer == "camb_file":  # the .conf's table must hold this spectrum's shape
        k, T = read_camb_transfer(p.transfer_file)
        if k[0] < table.k[0] * (1 - 1e-9) or k[-1] > table.k[-1] * (1 + 1e-9):
            return False
        ratio = table.P(np.clip(k, table.k[0], table.k[-1])) / (k**p.cosmology.n_s * T**2)
        return bool(np.all(np.abs(ratio / ratio[0] - 1.0) < 1e-6))
    return True


def power_for(p: IcsParams, table: PowerTable | None = None, n_k: int = 512) -> PowerTable:
    """The P_lin(k, z=0) [(Mpc/h)^3] and growth table to generate the ICs of ``p`` with.

    The power stage's table when it matches the .conf (cosmology and transfer); otherwise what
    MUSIC would use: EH98 of the .conf's cosmology, or the .conf's CAMB transfer file shaped as
    k^n_s T^2 and normalised to sigma_8 over the file's k range (no extrapolation: a k outside
    it raises). Growth: matter + Lambda (Heath), tabulated from a_start/2 to 1.
    """
    if table is not None and table_matches(table, p):
        return table
    cosmo = p.cosmology
    a = np.logspace(np.log10(min(p.a_start, 0.01) / 2), 0.0, 256)
    growth = dict(a=a, D1=cosmo_mod.growth_D1(a, cosmo), f=cosmo_mod.growth_f(a, cosmo))
    kf, kny = 2 * np.pi / p.box, np.pi * p.n / p.box
    if p.transfer == "eisenstein":
        k = np.logspace(np.log10(kf / 2), np.log10(1.1 * np.sqrt(3) * kny), n_k)
        pk = eisenstein_hu_pk(k, cosmo)
        source = "EH98 from the .conf cosmology"
    else:
        k, T = read_camb_transfer(p.transfer_file)
        shape = k**cosmo.n_s * T**2
        pk = shape * (cosmo.sigma_8 / sigma_R(k, shape, 8.0)) ** 2
        source = p.transfer_file
    attrs = dict(cosmo.as_dict(), transfer={"eisenstein": "eisenstein", "camb_file": "camb_file"}[p.transfer])
    return PowerTable(k=k, pk=pk, attrs=attrs, source=source, **growth)


# ----------------------------------------------------------------------------------------------
# White noise and fields
# ----------------------------------------------------------------------------------------------

def read_music_noise(path: str | Path) -> np.ndarray:
    """MUSIC's ``wnoise_LLLL.bin`` (3 uint32 sizes, then float64 values, x slowest) as float32."""
    path = Path(path)
    raw = path.read_bytes()
    nx, ny, nz = np.frombuffer(raw[:12], dtype=np.uint32)
    if len(raw) != 12 + 8 * int(nx) * int(ny) * int(nz):
        raise IcsFileError(f"{path}: {len(raw)} bytes, expected 12 + 8 x {nx}x{ny}x{nz} (MUSIC white noise)")
    return np.frombuffer(raw, dtype=np.float64, offset=12).reshape(nx, ny, nz).astype(np.float32)


def growth_at_start(p: IcsParams, table: PowerTable) -> tuple[float, float, float]:
    """(D+, D2, vfact [km/s per Mpc/h]) at z_start; D+ from the table (raises outside its a range)."""
    a = p.a_start
    dplus = float(table.growth(a))
    d2 = float(cosmo_mod.growth_D2(a, p.cosmology))
    return dplus, d2, float(cosmo_mod.vfact(a, p.cosmology))


def _fill_padded(buf: np.ndarray, field: np.ndarray, scale: float) -> np.ndarray:
    """Write field x scale into ``buf`` ((n+2 PAD)^3) with PAD periodic cells per side; return buf.

    Reusing one buffer for every dataset avoids allocating (and faulting in) 7 large arrays.
    """
    p, n = PAD, field.shape[0]
    inner = buf[p:p + n, p:p + n, p:p + n]
    np.multiply(field, np.float32(scale), out=inner)
    mid = slice(p, p + n)
    buf[mid, mid, :p] = buf[mid, mid, n:n + p]        # z, then y, then x (corners follow)
    buf[mid, mid, p + n:] = buf[mid, mid, p:2 * p]
    buf[mid, :p, :] = buf[mid, n:n + p, :]
    buf[mid, p + n:, :] = buf[mid, p:2 * p, :]
    buf[:p] = buf[n:n + p]
    buf[p + n:] = buf[p:2 * p]
    return buf


def _write_header(h5, p: IcsParams) -> None:
    hdr = h5.create_group("header")
    for ax in "xyz":
        hdr.create_dataset(f"grid_off_{ax}", data=np.zeros(1, dtype=np.uint32))
        hdr.create_dataset(f"grid_len_{ax}", data=np.full(1, p.n, dtype=np.uint32))
    hdr.attrs["levelmin"] = np.uint32(p.level)
    hdr.attrs["levelmax"] = np.uint32(p.level)


def root_attrs(p: IcsParams, conf: MusicConf, table: PowerTable, generator: str,
               dplus: float, d2: float, vfact: float) -> dict:
    """Root attributes of ics.hdf5 (cosmology, run, growth, the .conf text)."""
    c = p.cosmology
    return dict(Omega_m=c.Omega_m, Omega_L=p.Omega_L, Omega_b=c.Omega_b, sigma_8=c.sigma_8, n_s=c.n_s,
                H0=c.H0, h=c.h, w0=p.w0, box=p.box, N=p.n, levelmin=p.level, levelmax=p.level,
                z_start=p.z_start, a_start=p.a_start, seed=p.seed,
                transfer=str(table.attrs.get("transfer", p.transfer)), power_source=table.source,
                Dplus=dplus, D2=d2, vfact=vfact, use_2LPT=p.use_2LPT, generator=generator,
                conf=conf.text, conf_source=conf.source, format_version=FORMAT_VERSION,
                units="lpt: Mpc/h at D1=1 (z=0); level d*: box units; level v*: box units "
                      "(x box = km/s); rho: overdensity at z_start")


def write_builtin(conf: MusicConf, out: str | Path, table: PowerTable | None = None,
                  noise: np.ndarray | None = None, workers: int = -1, log=None) -> dict:
    """Generate the ICs of a .conf with the builtin generator and write ``out`` atomically.

    Parameters
    ----------
    conf : parsed MUSIC .conf (unigrid, flat LCDM, w0 = -1).
    out : path of ics.hdf5 (written to a temporary name in the same folder, then renamed).
    table : the power stage's table; used when it matches the .conf (else see ``power_for``).
    noise : optional (N, N, N) white noise replacing the seeded one (parity tests with MUSIC).
    workers : scipy.fft threads (the result does not depend on it).

    Returns the root attributes written.
    """
    from .atomic import atomic_path

    p = ics_params(conf)
    check_builtin_supported(p, conf.source)
    ptab = power_for(p, table)
    dplus, d2, vf = growth_at_start(p, ptab)
    n, box = p.n, p.box
    say = log or (lambda msg: None)
    t0 = time.perf_counter()
    if noise is None:
        noise = lpt.white_noise(n, p.seed)
    elif noise.shape != (n, n, n):
        raise ValueError(f"noise shape {noise.shape} != ({n},{n},{n}) of {conf.source}")
    delta_k = lpt.linear_delta_k(noise, box, ptab.P, 1.0, workers)
    del noise
    say(f"noise + delta_k: {time.perf_counter() - t0:.2f} s")
    attrs = root_attrs(p, conf, ptab, "builtin", dplus, d2, vf)
    with atomic_path(out) as tmp:
        import h5py

        with h5py.File(tmp, "w") as h5:
            _write_header(h5, p)
            for key, value in attrs.items():
                h5.attrs[key] = value
            L = p.level
            pad = np.empty((n + 2 * PAD,) * 3, dtype=np.float32)

            def put(what: str, field: np.ndarray, scale: float) -> None:
                h5.create_dataset(level_name(L, what), data=_fill_padded(pad, field, scale))

            put("rho", lpt.to_real(delta_k, n, workers), dplus)
            grp = h5.create_group("lpt")
            grp.attrs["units"] = "Mpc/h, D1 = 1 at z = 0; x = q + D1 Psi1 + D2 Psi2"
            psi2 = []
            for c, comp in zip("xyz", lpt.second_order_components(delta_k, box, workers)):
                grp.create_dataset(f"psi2_{c}", data=comp)
                if p.use_2LPT:
                    psi2.append(comp)
                del comp
            say(f"2LPT: {time.perf_counter() - t0:.2f} s")
            for i, (c, psi1) in enumerate(zip("xyz", lpt.zeldovich_components(delta_k, box, workers))):
                grp.create_dataset(f"psi1_{c}", data=psi1)
                if p.use_2LPT:
                    d = dplus * psi1 + d2 * psi2[i]
                    put(f"d{c}", d, 1.0 / box)
                    d += d2 * psi2[i]  # D1 Psi1 + 2 D2 Psi2
                    put(f"v{c}", d, vf / box)
                    del d
                else:
                    put(f"d{c}", psi1, dplus / box)
                    put(f"v{c}", psi1, vf * dplus / box)
                del psi1
            del delta_k
    say(f"total: {time.perf_counter() - t0:.2f} s")
    return attrs


# ----------------------------------------------------------------------------------------------
# Reader (used by the COLA stage)
# ----------------------------------------------------------------------------------------------

def _decode(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_lpt(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read the 1LPT and 2LPT displacement fields of an ics.hdf5.

    Returns
    -------
    psi1, psi2 : (3, N, N, N) float32  [Mpc/h] at D1 = 1 (z = 0), components x, y, z.
    attrs : dict  Root attributes (box [Mpc/h], N, z_start, cosmology, Dplus, vfact, conf, ...).

    Raises ``IcsFileError`` naming the file and the missing/broken dataset for a truncated,
    foreign or incomplete file.
    """
    import h5py

    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise IcsFileError(f"{path}: cannot open as HDF5 ICs (truncated or not an HDF5 file): {err}") from err
    with h5:
        missing = [name for name in LPT_NAMES if name not in h5]
        if missing:
            raise IcsFileError(f"{path}: missing dataset(s) {', '.join('/' + m for m in missing)}; "
                               f"expected an ics.hdf5 written by the ics stage (MUSIC generic + /lpt)")
        attrs = {k: _decode(v) for k, v in h5.attrs.items()}
        for key in ("box", "N", "z_start"):
            if key not in attrs:
                raise IcsFileError(f"{path}: missing root attribute {key!r}")
        n = int(attrs["N"])
        out = np.empty((2, 3, n, n, n), dtype=np.float32)
        for j, name in enumerate(LPT_NAMES):
            ds = h5[name]
            if ds.shape != (n, n, n):
                raise IcsFileError(f"{path}: dataset /{name} has shape {ds.shape}, expected ({n},{n},{n})")
            try:
                ds.read_direct(out[j // 3, j % 3])
            except (OSError, RuntimeError) as err:
                raise IcsFileError(f"{path}: cannot read dataset /{name} (truncated file?): {err}") from err
    return out[0], out[1], attrs


def read_conf_text(path: str | Path) -> str:
    """The MUSIC .conf text stored in an ics.hdf5."""
    import h5py

    with h5py.File(path, "r") as h5:
        return _decode(h5.attrs["conf"])
