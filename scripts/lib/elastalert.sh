# Used by scripts/bench: installs ElastAlert 2 (elastalert2 from PyPI, the comparison of the
# side-by-side benchmark) into a git-ignored virtual environment of its own, .venv-elastalert,
# once. ElastAlert 2 2.31.0 needs Python 3.12 or later: the first of python3.13, python3.12 or
# python3 that is new enough is used, else the newest 3.12+ that pyenv has, else pyenv installs
# 3.12. Source this file; it defines functions and changes nothing.

ELASTALERT_VERSION="2.31.0"
ELASTALERT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ELASTALERT_VENV="$ELASTALERT_ROOT/.venv-elastalert"

# Prints the path of a Python 3.12 or later, installing one with pyenv when none is found.
elastalert_python() {
  local candidate version
  for candidate in python3.13 python3.12 python3; do
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  if ! command -v pyenv >/dev/null; then
    echo "ElastAlert 2 needs Python 3.12 or later: none on PATH and no pyenv to install one" >&2
    return 1
  fi
  version="$(pyenv versions --bare | grep -E '^3\.(1[2-9]|[2-9][0-9])\.[0-9]+$' | sort -V | tail -n1)"
  if [ -z "$version" ]; then
    echo "installing Python 3.12 with pyenv (ElastAlert 2 needs 3.12 or later)" >&2
    pyenv install --skip-existing 3.12 >&2 || return 1
    version="$(pyenv versions --bare | grep -E '^3\.12\.[0-9]+$' | sort -V | tail -n1)"
  fi
  echo "$(pyenv root)/versions/$version/bin/python3"
}

# Installs elastalert2==$ELASTALERT_VERSION into .venv-elastalert unless that version is there.
elastalert_install() {
  local python installed=""
  if [ -x "$ELASTALERT_VENV/bin/elastalert" ]; then
    # Read whole before matching: `grep -q` stopping early would fail pip's write under pipefail.
    installed="$("$ELASTALERT_VENV/bin/python" -m pip show elastalert2 2>/dev/null || true)"
  fi
  if grep -qx "Version: $ELASTALERT_VERSION" <<<"$installed"; then
    return 0
  fi
  python="$(elastalert_python)" || return 1
  echo "installing elastalert2==$ELASTALERT_VERSION into $ELASTALERT_VENV ($("$python" --version))" >&2
  rm -rf "$ELASTALERT_VENV"
  "$python" -m venv "$ELASTALERT_VENV" || return 1
  "$ELASTALERT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "elastalert2==$ELASTALERT_VERSION" || return 1
}
