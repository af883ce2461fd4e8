# Shared by scripts/test (and usable by scripts/demo and scripts/bench): installs the second test
# server (noida-db, a stand-alone emulator from PyPI that answers as Elasticsearch 8.15) into the
# project's git-ignored .venv, once, and starts its Elasticsearch API on a free loopback port with
# a fresh data folder. The `noida-db` command pip installs is a Python wrapper whose process is
# not the server's: the binary inside the package is started directly, so that stopping its
# process id stops the server. Source this file; it defines functions and changes nothing.

NOIDA_VERSION="0.2.3"
LOOKOUT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$LOOKOUT_ROOT/.venv"

# Installs noida-db==$NOIDA_VERSION into .venv unless that exact version is already there.
noida_install() {
  if [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('noida-db') != '$NOIDA_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "installing the test server noida-db==$NOIDA_VERSION into $VENV" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "noida-db==$NOIDA_VERSION"
}

# The server binary inside the installed package (not the pip wrapper).
noida_binary() {
  "$VENV/bin/python" -c 'import noida_db, pathlib; print(pathlib.Path(noida_db.__file__).parent / "noida-db")'
}

# Starts the server and sets NOIDA_URL and NOIDA_PID. Call noida_stop (or rely on a trap) after.
noida_start() {
  local bin
  bin="$(noida_binary)"
  NOIDA_DIR="$(mktemp -d)"
  # Port 0: the system picks a free port and the server prints the URL it listens on.
  "$bin" start --only elasticsearch --host 127.0.0.1 --elasticsearch-port 0 \
    --data-dir "$NOIDA_DIR/data" >"$NOIDA_DIR/out" 2>"$NOIDA_DIR/err" &
  NOIDA_PID=$!
  for _ in $(seq 1 300); do
    NOIDA_URL="$(sed -n 's/^ *elasticsearch *\(http:[^ ]*\).*$/\1/p' "$NOIDA_DIR/out" | head -n 1)"
    if [ -n "$NOIDA_URL" ] && "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$NOIDA_URL" 2>/dev/null; then
      export NOIDA_URL NOIDA_PID
      echo "test server noida-db $NOIDA_VERSION listening on $NOIDA_URL (pid $NOIDA_PID)" >&2
      return 0
    fi
    if ! kill -0 "$NOIDA_PID" 2>/dev/null; then
      echo "the test server noida-db exited before it was ready:" >&2
      cat "$NOIDA_DIR/err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the test server noida-db did not answer within 30 seconds" >&2
  kill "$NOIDA_PID" 2>/dev/null
  return 1
}

noida_stop() {
  if [ -n "${NOIDA_PID:-}" ] && kill -0 "$NOIDA_PID" 2>/dev/null; then
    kill "$NOIDA_PID" 2>/dev/null
    wait "$NOIDA_PID" 2>/dev/null || true
  fi
  NOIDA_PID=""
  if [ -n "${NOIDA_DIR:-}" ]; then
    rm -rf "$NOIDA_DIR"
    NOIDA_DIR=""
  fi
}
