#!/usr/bin/env bash
# Build MUSIC 1.53 (Hahn & Abel 2011), the initial-conditions generator of the original CosmoFlow
# simulations, for `ics.generator: music` (docs/ics.md). Progress goes to stderr; the last line of
# stdout is the path of the binary:
#
#   MUSIC=$(bash workflow/scripts/build_music.sh | tail -n1)                 # from the public repository
#   MUSIC=$(bash workflow/scripts/build_music.sh music-src.tar.gz | tail -n1) # from a source archive
#   MUSIC_SOURCE=/path/to/music-src.tar.gz bash workflow/scripts/build_music.sh
#
# Source, the first given of:
#   1. the argument or $MUSIC_SOURCE: a tar archive (.tar, .tar.gz, .tgz, .tar.xz, .tar.bz2) holding
#      MUSIC's source folder (main.cc + Makefile, THE_CODE_VERSION "1.53");
#   2. $MUSIC_GIT_URL (default https://github.com/NERSC/cosmoflow-sims) at $MUSIC_GIT_COMMIT: the
#      MUSIC/ folder of that repository, checked against the pinned tree id (same files as the
#      archive in ../shared/tools/music/).
# Build folder: $MUSIC_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/cosmoflow/music-1.53); the
# binary is $MUSIC_CACHE_DIR/MUSIC. A later call with the same source reuses it (the stamp file
# holds the archive's sha256 or the commit), in well under a second.
# Needs a C++ compiler with OpenMP ($CXX, default g++), make, FFTW3 (+ threads), GSL, serial
# HDF5 and, on glibc >= 2.32, libtirpc. Debian/Ubuntu:
#   apt-get install g++ make libfftw3-dev libgsl-dev libhdf5-dev libtirpc-dev
# ~100 s on 2 cores the first time ($MUSIC_JOBS parallel compiles, default nproc).
# Exit status: 0 built or reused; 1 build failed (the end of the build log on stderr);
# 2 bad input (argument, archive, source version, checkout); 3 a build dependency is missing.
set -euo pipefail

VERSION="1.53"
GIT_URL="${MUSIC_GIT_URL:-https://github.com/NERSC/cosmoflow-sims}"
GIT_COMMIT="${MUSIC_GIT_COMMIT:-04701369e2dc07d5c9ea1c82bd1ddbd6ef45636e}"  # master, 2019-03-26
GIT_TREE="8fc8c235cd489d69b75bde7742cc727f8fb18813"  # its MUSIC/ folder (unchanged since dafaccb)
CACHE="${MUSIC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cosmoflow/music-$VERSION}"
CXX="${CXX:-g++}"
JOBS="${MUSIC_JOBS:-$(nproc 2>/dev/null || echo 2)}"

say() { echo "build_music: $*" >&2; }
die() { local code=$1; shift; say "error: $*"; exit "$code"; }

case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
esac
(($# <= 1)) || die 2 "at most one argument (a MUSIC source archive), got $#: $*"
source_arg="${1:-${MUSIC_SOURCE:-}}"

# --- the source: what it is, and the identity the stamp records -------------------------------
if [[ -n "$source_arg" ]]; then
  archive="$source_arg"
  [[ -e "$archive" ]] || die 2 "MUSIC source archive '$archive' does not exist"
  [[ -f "$archive" && -r "$archive" ]] || die 2 "MUSIC source archive '$archive' is not a readable file"
  listing="$(tar -tf "$archive" 2>/dev/null)" \
    || die 2 "'$archive' is not a tar archive (.tar, .tar.gz, .tgz, .tar.xz, .tar.bz2)"
  main_cc="$(grep -E '(^|/)main\.cc$' <<<"$listing" | awk '{ print length, $0 }' | sort -n \
             | head -n1 | cut -d' ' -f2- || true)"
  [[ -n "$main_cc" ]] || die 2 "'$archive' holds no MUSIC source (no main.cc in it)"
  found="$(tar -xOf "$archive" "$main_cc" | grep -m1 'define THE_CODE_VERSION' || true)"
  [[ "$found" == *"\"$VERSION\""* ]] \
    || die 2 "'$archive' is not MUSIC $VERSION (its $main_cc: ${found:-no THE_CODE_VERSION})"
  identity="archive sha256 $(sha256sum "$archive" | cut -d' ' -f1)"
else
  archive=""
  command -v git >/dev/null || die 3 "no MUSIC_SOURCE archive given and git is missing (apt-get install git)"
  identity="git $GIT_URL $GIT_COMMIT"
fi
identity="MUSIC $VERSION, $identity, $CXX"

bin="$CACHE/MUSIC"
stamp="$CACHE/.stamp"
mkdir -p "$CACHE"
if command -v flock >/dev/null; then  # one build at a time per cache folder
  exec 9>"$CACHE/.lock"
  flock 9
fi
if [[ -x "$bin" && "$(cat "$stamp" 2>/dev/null)" == "$identity" ]]; then
  say "reusing $bin ($identity)"
  echo "$bin"
  exit 0
fi

# --- build dependencies: compile and link one line against each ---------------------------------
command -v "$CXX" >/dev/null || die 3 "no C++ compiler '$CXX' (apt-get install g++, or set CXX)"
command -v make >/dev/null || die 3 "make is missing (apt-get install make)"
multiarch="$("$CXX" -print-multiarch 2>/dev/null || true)"
# Debian keeps serial HDF5 under hdf5/serial and SunRPC (dropped from glibc 2.32) in libtirpc.
cpaths="-I. -I/usr/include/hdf5/serial -I/usr/include/tirpc"
lpaths="${multiarch:+-L/usr/lib/$multiarch/hdf5/serial}"
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
probe() {  # probe <header> <call> <link flags...>: true when the program compiles and links
  local header=$1 call=$2; shift 2
  printf '#include <%s>\nint main() { %s; return 0; }\n' "$header" "$call" >"$probe_dir/p.cc"
  # shellcheck disable=SC2086  # the path lists are word lists
  "$CXX" -fopenmp $cpaths $lpaths "$probe_dir/p.cc" -o "$probe_dir/p" "$@" >/dev/null 2>&1
}
missing=()
probe omp.h "omp_get_max_threads()" || missing+=("OpenMP for $CXX (apt-get install g++)")
probe fftw3.h "fftw_init_threads()" -lfftw3_threads -lfftw3 \
  || missing+=("FFTW3 with threads (apt-get install libfftw3-dev)")
probe gsl/gsl_spline.h "gsl_interp_accel_alloc()" -lgsl -lgslcblas \
  || missing+=("GSL (apt-get install libgsl-dev)")
probe hdf5.h "H5open()" -lhdf5 || missing+=("HDF5 (apt-get install libhdf5-dev)")
rpc_lib="-ltirpc"
if ! probe rpc/xdr.h "XDR x; xdrmem_create(&x, 0, 0, XDR_ENCODE)" -ltirpc; then
  if probe rpc/xdr.h "XDR x; xdrmem_create(&x, 0, 0, XDR_ENCODE)"; then
    rpc_lib=""  # an older glibc that still has SunRPC
  else
    missing+=("SunRPC/XDR (apt-get install libtirpc-dev)")
  fi
fi
if ((${#missing[@]})); then
  list="$(printf '%s; ' "${missing[@]}")"
  die 3 "MUSIC $VERSION cannot be built here, missing: ${list%; }. On Debian/Ubuntu, all of them:" \
        "apt-get install g++ make libfftw3-dev libgsl-dev libhdf5-dev libtirpc-dev"
fi

# --- unpack (or check out) into a fresh build folder ---------------------------------------------
build="$CACHE/build"
rm -rf "$build"
mkdir -p "$build"
if [[ -n "$archive" ]]; then
  say "unpacking $archive"
  tar -xf "$archive" -C "$build"
  src="$build/$(dirname "$main_cc")"
else
  say "fetching $GIT_URL at $GIT_COMMIT"
  repo="$build/repo"
  git init -q "$repo"
  if ! git -C "$repo" fetch -q --depth 1 "$GIT_URL" "$GIT_COMMIT" 2>"$build/git.log"; then
    git -C "$repo" fetch -q "$GIT_URL" 2>>"$build/git.log" \
      || { tail -n 20 "$build/git.log" >&2; die 2 "could not fetch $GIT_URL (no network? set MUSIC_SOURCE to a source archive)"; }
  fi
  tree="$(git -C "$repo" rev-parse -q --verify "$GIT_COMMIT^{commit}:MUSIC" 2>/dev/null)" \
    || die 2 "$GIT_URL has no commit $GIT_COMMIT with a MUSIC/ folder"
  if [[ "$tree" != "$GIT_TREE" && -z "${MUSIC_GIT_COMMIT:-}" ]]; then
    die 2 "$GIT_URL $GIT_COMMIT:MUSIC is tree $tree, expected $GIT_TREE (MUSIC $VERSION as pinned)"
  fi
  git -C "$repo" archive "$GIT_COMMIT" MUSIC | tar -x -C "$build"
  rm -rf "$repo"
  src="$build/MUSIC"
fi
[[ -f "$src/main.cc" && -f "$src/Makefile" ]] || die 2 "no main.cc + Makefile in $src"
grep -q "define THE_CODE_VERSION \"$VERSION\"" "$src/main.cc" \
  || die 2 "the source is not MUSIC $VERSION: $(grep -m1 'define THE_CODE_VERSION' "$src/main.cc" || echo 'no THE_CODE_VERSION in main.cc')"

# --- compile: the Makefile's own flags, with this machine's compiler and library paths ----------
sed -i -e "s|^CC *=.*|CC      = $CXX|" \
       -e "s|^CPATHS *=.*|CPATHS  = $cpaths|" \
       -e "s|^LPATHS *=.*|LPATHS  = $lpaths|" \
       -e "s|^LFLAGS *=.*|LFLAGS  = -lgsl -lgslcblas $rpc_lib|" "$src/Makefile"
say "compiling MUSIC $VERSION in $src ($JOBS jobs, log $CACHE/build.log)"
if ! make -C "$src" -j"$JOBS" >"$CACHE/build.log" 2>&1; then
  tail -n 40 "$CACHE/build.log" >&2
  die 1 "make failed (full log: $CACHE/build.log)"
fi
[[ -x "$src/MUSIC" ]] || die 1 "make succeeded but wrote no MUSIC binary (log: $CACHE/build.log)"
cp -f "$src/MUSIC" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
echo "$identity" >"$stamp"
say "built $bin"
echo "$bin"
