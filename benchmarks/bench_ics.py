"""Benchmark the builtin IC generator against a real MUSIC 1.53 at the same size, same run.

    python benchmarks/bench_ics.py            # 256^3 and 512^3 (targets: <= 4 s; <= 40 s, <= 6 GB)
    python benchmarks/bench_ics.py --quick    # 128^3
    python benchmarks/bench_ics.py --sizes 256 --music /path/to/MUSIC --threads 2

Each case runs in its own subprocess (wall time of the generation call, peak RSS from
ru_maxrss of that process); MUSIC runs in a scratch folder on the same .conf (unigrid, EH98,
zstart = 0, 1LPT as the original CosmoFlow runs) with OMP_NUM_THREADS = threads. MUSIC is taken
from --music, $MUSIC, PATH or the build cache of `workflow/scripts/build_music.sh`
($MUSIC_CACHE_DIR, default ~/.cache/cosmoflow/music-1.53); it is skipped, saying so, when none
exists (build it with `bash workflow/scripts/build_music.sh [source archive]`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pycola_wrapper import music_conf as mc  # noqa: E402
from pycola_wrapper.cosmology import Cosmology  # noqa: E402

COSMO = Cosmology(Omega_m=0.3, sigma_8=0.8, n_s=0.96, H0=70.3)
TARGETS = {256: (4.0, None), 512: (40.0, 6.0)}  # seconds, GB (issue 4)

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from pycola_wrapper import ics, music_conf as mc
conf = mc.read_conf({conf!r})
table = ics.power_for(mc.ics_params(conf))  # the power stage's job, not timed
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
ics.write_builtin(conf, {out!r}, table=table, workers={threads})
dt, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
print(json.dumps(dict(seconds=dt, cpu=cpu, rss_gb=r1.ru_maxrss / 2**20)))
"""


def music_cache() -> Path:
    """Where workflow/scripts/build_music.sh builds MUSIC (its MUSIC_CACHE_DIR default)."""
    if os.environ.get("MUSIC_CACHE_DIR"):
        return Path(os.environ["MUSIC_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "cosmoflow" / "music-1.53"


def find_music(explicit: str | None) -> str | None:
    for cand in (explicit, os.environ.get("MUSIC"), shutil.which("MUSIC"),
                 str(music_cache() / "MUSIC")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def run_builtin(conf: Path, out: Path, threads: int) -> dict:
    code = CHILD.format(root=str(ROOT), conf=str(conf), out=str(out), threads=threads)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"builtin generator failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["file_gb"] = out.stat().st_size / 1e9
    out.unlink()
    return res


def run_music(binary: str, conf: Path, workdir: Path, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    with open(workdir / "music.stdout", "w") as fh:
        proc = subprocess.Popen([binary, conf.name], cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        tail = (workdir / "music.stdout").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"MUSIC failed ({status}):\n{tail}")
    out = workdir / "music.hdf5"
    res = dict(seconds=dt, cpu=usage.ru_utime + usage.ru_stime, rss_gb=usage.ru_maxrss / 2**20,
               file_gb=out.stat().st_size / 1e9)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="128^3 only")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="grid sizes (default 256 512)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--music", default=None, help="MUSIC binary (default: $MUSIC, PATH, build_music.sh's cache)")
    ap.add_argument("--no-music", action="store_true", help="do not run MUSIC")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)
    sizes = [128] if args.quick else (args.sizes or [256, 512])
    music = None if args.no_music else find_music(args.music)
    if music is None and not args.no_music:
        print("MUSIC: no binary found (--music, $MUSIC, PATH, build_music.sh's cache): baseline skipped")
    print(f"cores: {os.cpu_count()}, threads: {args.threads}, MUSIC: {music or '-'}")
    header = (f"{'N':>5} {'builtin s':>10} {'cpu s':>7} {'RSS GB':>7} {'file GB':>8} | {'MUSIC s':>8} "
              f"{'cpu s':>7} {'RSS GB':>7} {'file GB':>8} | {'time ratio':>10} {'cpu ratio':>9} "
              f"{'RSS ratio':>9} | target")
    print(header)
    print("-" * len(header))
    ok = True
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-ics-", dir=args.workdir) as tmp:
            tmp = Path(tmp)
            conf = tmp / "bench.conf"
            conf.write_text(mc.make_conf(box=float(n), n=n, z_start=0.0, seed=34567, cosmo=COSMO,
                                         transfer="eisenstein", filename="music.hdf5"))
            ours = run_builtin(conf, tmp / "ours.hdf5", args.threads)
            base = run_music(music, conf, tmp, args.threads) if music else None
        t_max, rss_max = TARGETS.get(n, (None, None))
        verdict = []
        if t_max is not None:
            verdict.append(f"<= {t_max:g} s {'ok' if ours['seconds'] <= t_max else 'MISSED'}")
            ok &= ours["seconds"] <= t_max
        if rss_max is not None:
            verdict.append(f"<= {rss_max:g} GB {'ok' if ours['rss_gb'] <= rss_max else 'MISSED'}")
            ok &= ours["rss_gb"] <= rss_max
        if base:
            mcols = (f"{base['seconds']:8.2f} {base['cpu']:7.1f} {base['rss_gb']:7.2f} {base['file_gb']:8.2f} | "
                     f"{base['seconds'] / ours['seconds']:9.1f}x {base['cpu'] / ours['cpu']:8.1f}x "
                     f"{base['rss_gb'] / ours['rss_gb']:8.1f}x")
        else:
            mcols = f"{'-':>8} {'-':>7} {'-':>7} {'-':>8} | {'-':>10} {'-':>9} {'-':>9}"
        print(f"{n:>5} {ours['seconds']:10.2f} {ours['cpu']:7.1f} {ours['rss_gb']:7.2f} {ours['file_gb']:8.2f} | "
              f"{mcols} | "
              f"{', '.join(verdict) or '-'}", flush=True)
    print("ratio = MUSIC / builtin (> 1: builtin faster / smaller); cpu = user + sys seconds of the process "
          f"(robust to other load; load average now {os.getloadavg()[0]:.1f})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
