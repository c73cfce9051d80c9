# Sourced by scripts/test.sh and scripts/demo.sh: make .venv and node_modules current, activate .venv.
# Re-installs only when pyproject.toml or package-lock.json changed since the last run.

_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_python="${PYTHON:-python3}"

if ! "$_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed as '$_python' (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x "$_root/.venv/bin/python" ]; then
  echo "setup: creating .venv" >&2
  "$_python" -m venv "$_root/.venv"
fi
# shellcheck disable=SC1091
source "$_root/.venv/bin/activate"

_stamp() { sha256sum "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# requirements-dev.lock pins every package with its hashes (refresh it with scripts/lock.sh), so every
# machine runs the same stack; the project itself is then installed on top without resolving anything.
_py_stamp="$(_stamp "$_root/pyproject.toml" "$_root/requirements-dev.lock")"
if [ "$(cat "$_root/.venv/.installed" 2>/dev/null)" != "$_py_stamp" ]; then
  echo "setup: installing the locked Python packages (TensorFlow is large: a few minutes the first time)" >&2
  python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$_root/requirements-dev.lock"
  python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$_root"
  python -m pip check >&2
  echo "$_py_stamp" > "$_root/.venv/.installed"
fi

if [ -f "$_root/package-lock.json" ]; then
  _npm_stamp="$(_stamp "$_root/package-lock.json")"
  if [ "$(cat "$_root/node_modules/.installed" 2>/dev/null)" != "$_npm_stamp" ]; then
    echo "setup: installing the Serverless CLI and plugins (npm ci)" >&2
    (cd "$_root" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$_npm_stamp" > "$_root/node_modules/.installed"
  fi
fi
# The browser tests drive the system's Chromium (Playwright's own browser download is never used).
_chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$_chromium" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Chromium for the browser tests (apt-get)" >&2
    _sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then _sudo="sudo"; fi
    { $_sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq chromium >/dev/null; } ||
      echo "setup: warning: could not install Chromium; the browser tests will fail (set CHROMIUM=/path/to/chromium)" >&2
  else
    echo "setup: warning: $_chromium is missing and there is no apt-get; the browser tests will fail (set CHROMIUM=...)" >&2
  fi
fi
cd "$_root"
