#!/usr/bin/env bash
# One entry point for both README commands. Idempotent: each step checks before it works.
#   bash scripts/bootstrap.sh app  [PROJECT]   set up, then open the app (demo project by default)
#   bash scripts/bootstrap.sh test [PYTEST ARGS] set up, start test services, run the whole suite
#   bash scripts/bootstrap.sh setup             set up only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mode=${1:-setup}
[ $# -gt 0 ] && shift

DEB_PKGS=(libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils xvfb x11-apps ffmpeg mediainfo
          libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
          libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libfontconfig1
          libdbus-1-3 libglib2.0-0)

missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] missing Debian packages: ${missing[*]}" >&2
    echo "[setup] install them with: sudo apt-get install ${missing[*]}" >&2
    [ "$mode" = test ] && exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
# Re-install only when the dependency list changed.
stamp=.venv/.triergon-stamp
want=$(sha256sum pyproject.toml | cut -c1-64)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing Python packages into .venv (torch 2.11 + torchaudio 2.11 first: they must match)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "torch==2.11.0" "torchaudio==2.11.0"
  .venv/bin/python -m pip install -q -e ".[dev,cluster]"
  echo "$want" > "$stamp"
fi

case "$mode" in
  setup) echo "[setup] done" ;;
  app)
    # The demo video and project are generated, not committed (resources/make_demo.py is idempotent).
    if [ $# -eq 0 ] && [ -f resources/make_demo.py ]; then
      .venv/bin/python resources/make_demo.py --ensure
    fi
    if [ $# -eq 0 ] && [ -f resources/demo/demo_project.json ]; then
      exec .venv/bin/triergon-studio app resources/demo/demo_project.json
    fi
    exec .venv/bin/triergon-studio app "$@" ;;
  test)
    # shellcheck source=scripts/test_services.sh
    source scripts/test_services.sh
    start_test_services
    trap stop_test_services EXIT
    set +e
    .venv/bin/python -m pytest "$@"
    rc=$?
    set -e
    exit $rc ;;
  *) echo "usage: bash scripts/bootstrap.sh app|test|setup" >&2; exit 2 ;;
esac
