"""MUSIC ``.conf`` files: write one from a simulation's parameters, parse one (ours or a user's).

The format is MUSIC's INI dialect (Hahn & Abel 2011, MUSIC 1.53 ``config_file.hh``):
``[section]`` headers, ``key = value`` lines, comments starting with ``#``, ``;`` or ``%``
(whole line or trailing), booleans ``yes/no`` (also ``true/false``, ``1/0``). Keys such as
``seed[9]`` are plain strings. Errors name the file, the section and the key.

Also writes the CAMB-format transfer table (``transfer = camb_file``) that MUSIC reads
(``plugins/transfer_camb.cc``: 13 whitespace-separated columns k [h/Mpc], T_cdm, T_b, -, -, -,
T_tot, -, -, -, T_vcdm, T_vb, -; only the shape k^n T^2 matters, MUSIC normalises to sigma_8).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cosmology import Cosmology

COMMENT_CHARS = "#;%"
TRUE_WORDS = {"yes", "true", "on", "1"}
FALSE_WORDS = {"no", "false", "off", "0"}
_REQUIRED = object()


class ConfError(ValueError):
    """A MUSIC .conf is malformed, misses a key or holds a value of the wrong kind."""


def _strip_comment(line: str) -> str:
    cut = min((i for i in (line.find(c) for c in COMMENT_CHARS) if i >= 0), default=len(line))
    return line[:cut].strip()


@dataclass
class MusicConf:
    """A parsed MUSIC configuration: ``sections[section][key] = raw string value``.

    ``text`` is the original file text (stored verbatim in ics.hdf5), ``source`` its path.
    """

    sections: dict[str, dict[str, str]]
    text: str
    source: str = "<memory>"
    lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def has(self, section: str, key: str) -> bool:
        return key in self.sections.get(section, {})

    def get(self, section: str, key: str, kind: type = str, default=_REQUIRED):
        """Value of ``[section] key`` converted to ``kind`` (str, int, float or bool)."""
        where = f"{self.source}: [{section}] {key}"
        if not self.has(section, key):
            if default is _REQUIRED:
                raise ConfError(f"{where}: missing (expected a {kind.__name__} value)")
            return default
        raw = self.sections[section][key]
        if kind is bool:
            word = raw.lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ConfError(f"{where} = {raw!r} (line {self.lines.get((section, key))}): expected yes or no")
        try:
            value = kind(raw)
        except ValueError:
            raise ConfError(f"{where} = {raw!r} (line {self.lines.get((section, key))}): expected a "
                            f"{kind.__name__}") from None
        if kind is float and not math.isfinite(value):
            raise ConfError(f"{where} = {raw!r}: expected a finite number")
        return value

    def with_value(self, section: str, key: str, value: str) -> "MusicConf":
        """A copy with ``[section] key = value`` set, editing the text line in place (or adding it)."""
        lines = self.text.splitlines()
        if (section, key) in self.lines:
            i = self.lines[(section, key)] - 1
            lines[i] = f"{key:<16}= {value}"
        else:
            heads = [i for i, ln in enumerate(lines) if _strip_comment(ln).lower() == f"[{section.lower()}]"]
            if heads:
                lines.insert(heads[0] + 1, f"{key:<16}= {value}")
            else:
                lines += ["", f"[{section}]", f"{key:<16}= {value}"]
        return parse_conf("\n".join(lines) + "\n", self.source)


def parse_conf(text: str, source: str = "<memory>") -> MusicConf:
    """Parse MUSIC .conf text. Section and key names keep their case (MUSIC's are case-sensitive)."""
    sections: dict[str, dict[str, str]] = {}
    lines: dict[tuple[str, str], int] = {}
    current = None
    for num, line in enumerate(text.splitlines(), start=1):
        body = _strip_comment(line)
        if not body:
            continue
        if body.startswith("["):
            m = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", body)
            if not m:
                raise ConfError(f"{source}: line {num}: malformed section header {line.strip()!r}")
            current = m.group(1)
            sections.setdefault(current, {})
            continue
        if "=" not in body:
            raise ConfError(f"{source}: line {num}: expected 'key = value', got {line.strip()!r}")
        if current is None:
            raise ConfError(f"{source}: line {num}: 'key = value' before any [section] header")
        key, value = (s.strip() for s in body.split("=", 1))
        if not key:
            raise ConfError(f"{source}: line {num}: empty key in {line.strip()!r}")
        sections[current][key] = value
        lines[(current, key)] = num
    return MusicConf(sections=sections, text=text, source=source, lines=lines)


def read_conf(path: str | Path) -> MusicConf:
    """Read and parse a MUSIC .conf file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfError(f"{path}: cannot read MUSIC .conf ({err.strerror})") from err
    return parse_conf(text, str(path))


@dataclass(frozen=True)
class IcsParams:
    """What an IC generator needs, read from a MUSIC .conf (unigrid only).

    box : [Mpc/h]; n : cells (particles) per side = 2^level; z_start : redshift of the ICs;
    seed : MUSIC ``seed[level]``; transfer : 'eisenstein' | 'camb_file'; transfer_file : absolute
    path or None; use_2LPT : whether level_* d/v carry the second-order term (as MUSIC does).
    """

    box: float
    level: int
    z_start: float
    seed: int
    cosmology: Cosmology
    Omega_L: float
    w0: float
    transfer: str
    transfer_file: str | None
    use_2LPT: bool
    filename: str
    output_format: str

    @property
    def n(self) -> int:
        return 1 << self.level

    @property
    def a_start(self) -> float:
        return 1.0 / (1.0 + self.z_start)


TRANSFERS = ("eisenstein", "camb_file")


MUSIC_TCMB = 2.726  # K, MUSIC 1.53's default [cosmology] Tcmb (transfer_eisenstein.cc)


def ics_params(conf: MusicConf) -> IcsParams:
    """Validate a parsed .conf for a unigrid run and extract its values (errors name file/key)."""
    src = conf.source
    T_cmb = conf.get("cosmology", "Tcmb", float, MUSIC_TCMB)
    lmin = conf.get("setup", "levelmin", int)
    lmax = conf.get("setup", "levelmax", int)
    if lmin != lmax:
        raise ConfError(f"{src}: [setup] levelmin = {lmin}, levelmax = {lmax}: only unigrid runs "
                        f"(levelmin = levelmax) are supported")
    if not 1 <= lmax <= 12:
        raise ConfError(f"{src}: [setup] levelmax = {lmax}: expected 1..12 (2 .. 4096 cells per side)")
    box = conf.get("setup", "boxlength", float)
    if box <= 0:
        raise ConfError(f"{src}: [setup] boxlength = {box}: expected > 0 [Mpc/h]")
    z = conf.get("setup", "zstart", float)
    if z < 0:
        raise ConfError(f"{src}: [setup] zstart = {z}: expected >= 0")
    seed_key = f"seed[{lmax}]"
    seed = conf.get("random", seed_key, str)
    if not re.fullmatch(r"-?\d+", seed):
        raise ConfError(f"{src}: [random] {seed_key} = {seed!r}: expected an integer seed (white-noise "
                        f"files are only read by the parity tests)")
    transfer = conf.get("cosmology", "transfer", str)
    if transfer not in TRANSFERS:
        raise ConfError(f"{src}: [cosmology] transfer = {transfer!r}: expected one of {TRANSFERS}")
    tfile = None
    if transfer == "camb_file":
        tfile = conf.get("cosmology", "transfer_file", str)
        p = Path(tfile)
        if not p.is_absolute() and conf.source != "<memory>":
            p = Path(conf.source).resolve().parent / p
        tfile = str(p)
    om = conf.get("cosmology", "Omega_m", float)
    cosmo = Cosmology(Omega_m=om, sigma_8=conf.get("cosmology", "sigma_8", float),
                      n_s=conf.get("cosmology", "nspec", float), H0=conf.get("cosmology", "H0", float),
                      Omega_b=conf.get("cosmology", "Omega_b", float), T_cmb=T_cmb)
    return IcsParams(box=box, level=lmax, z_start=z, seed=int(seed), cosmology=cosmo,
                     Omega_L=conf.get("cosmology", "Omega_L", float),
                     w0=conf.get("cosmology", "w0", float, -1.0),
                     transfer=transfer, transfer_file=tfile,
                     use_2LPT=conf.get("setup", "use_2LPT", bool, True),
                     filename=conf.get("output", "filename", str),
                     output_format=conf.get("output", "format", str))


def check_builtin_supported(p: IcsParams, source: str) -> None:
    """The builtin generator is flat LCDM only; say so instead of silently changing the run."""
    if abs(p.cosmology.Omega_m + p.Omega_L - 1.0) > 1e-6:
        raise ConfError(f"{source}: [cosmology] Omega_m + Omega_L = {p.cosmology.Omega_m + p.Omega_L:.6g}: "
                        f"the builtin generator is flat LCDM only (write Omega_L = 1 - Omega_m, or use "
                        f"ics.generator: music)")
    if p.w0 != -1.0:
        raise ConfError(f"{source}: [cosmology] w0 = {p.w0}: the builtin generator supports w0 = -1 only")


def make_conf(*, box: float, n: int, z_start: float, seed: int, cosmo: Cosmology, transfer: str,
              transfer_file: str | None = None, use_2LPT: bool = False, w0: float = -1.0,
              filename: str = "ics.hdf5", comment: str = "") -> str:
    """Text of a unigrid MUSIC .conf (generic HDF5 output, no baryons, Omega_L = 1 - Omega_m).

    transfer : 'eisenstein' or 'camb_file' (then ``transfer_file`` names the CAMB-format table).
    """
    level = int(round(math.log2(n)))
    if 1 << level != n:
        raise ValueError(f"n = {n}: expected a power of 2 (MUSIC levels)")
    if transfer not in TRANSFERS:
        raise ValueError(f"transfer = {transfer!r}: expected one of {TRANSFERS}")
    if transfer == "camb_file" and not transfer_file:
        raise ValueError("transfer = camb_file needs transfer_file")

    def yn(b: bool) -> str:
        return "yes" if b else "no"

    tf = f"transfer        = {transfer}\n"
    if transfer == "camb_file":
        tf += f"transfer_file   = {transfer_file}\n"
    head = "".join(f"# {ln}\n" for ln in comment.splitlines())
    return (f"{head}[setup]\n"
            f"boxlength       = {box!r}\n"
            f"zstart          = {z_start!r}\n"
            f"levelmin        = {level}\n"
            f"levelmax        = {level}\n"
            f"overlap         = 4\n"
            f"align_top       = no\n"
            f"baryons         = no\n"
            f"use_2LPT        = {yn(use_2LPT)}\n"
            f"use_LLA         = no\n"
            f"periodic_TF     = yes\n"
            f"\n[cosmology]\n"
            f"Omega_m         = {cosmo.Omega_m!r}\n"
            f"Omega_L         = {cosmo.Omega_L!r}\n"
            f"w0              = {w0!r}\n"
            f"wa              = 0.0\n"
            f"Omega_b         = {cosmo.Omega_b!r}\n"
            f"H0              = {cosmo.H0!r}\n"
            f"sigma_8         = {cosmo.sigma_8!r}\n"
            f"nspec           = {cosmo.n_s!r}\n"
            f"Tcmb            = {cosmo.T_cmb!r}\n"
            f"{tf}"
            f"\n[random]\n"
            f"seed[{level}]         = {int(seed)}\n"
            f"\n[output]\n"
            f"format          = generic\n"
            f"filename        = {filename}\n"
            f"\n[poisson]\n"
            f"fft_fine        = yes\n"
            f"accuracy        = 1e-5\n"
            f"pre_smooth      = 3\n"
            f"post_smooth     = 3\n"
            f"smoother        = gs\n"
            f"laplace_order   = 6\n"
            f"grad_order      = 6\n")


def camb_transfer_text(k, pk, n_s: float) -> str:
    """CAMB-format transfer table MUSIC reads (13 columns) from P_lin(k) [(Mpc/h)^3], k [h/Mpc].

    T(k) = sqrt(P / k^n_s), normalised to T(k_min) = 1; the same T in the cdm, baryon, total
    and velocity columns (MUSIC with baryons = no uses the total column).
    """
    k = np.asarray(k, dtype=np.float64)
    pk = np.asarray(pk, dtype=np.float64)
    if k.ndim != 1 or k.shape != pk.shape or np.any(np.diff(k) <= 0) or np.any(pk <= 0):
        raise ValueError("camb_transfer_text: expected increasing k and positive P(k) of equal length")
    T = np.sqrt(pk / k**n_s)
    T /= T[0]
    cols = np.column_stack([k, T, T, T, T, T, T, T, T, T, T, T, T])
    lines = ["# k[h/Mpc] T_cdm T_b - - - T_tot - - - T_vcdm T_vb - (CAMB layout for MUSIC camb_file)"]
    lines += [" ".join(f"{v:.17g}" for v in row) for row in cols]  # exact float64 round trip
    return "\n".join(lines) + "\n"


def read_camb_transfer(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(k [h/Mpc], T_tot) from a CAMB-format transfer file (column 1 and 7), as MUSIC reads it."""
    path = Path(path)
    try:
        data = np.loadtxt(path, comments="#", ndmin=2)
    except (OSError, ValueError) as err:
        raise ConfError(f"{path}: cannot read CAMB transfer table ({err})") from err
    if data.shape[1] < 7 or data.shape[0] < 4:
        raise ConfError(f"{path}: CAMB transfer table has shape {data.shape}: expected >= 4 rows "
                        f"of >= 7 columns (k, T_cdm, T_b, ..., T_tot in column 7)")
    k, T = data[:, 0], data[:, 6]
    if np.any(np.diff(k) <= 0) or np.any(T <= 0):
        raise ConfError(f"{path}: expected increasing k and positive T_tot")
    return k, T
