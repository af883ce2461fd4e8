# Shared by scripts/test, scripts/demo and scripts/bench: installs the test server (osmem-server, an
# in-memory OpenSearch-compatible server from PyPI) into the project's git-ignored .venv, once, and
# starts it on a free loopback port. Source this file; it defines functions and changes nothing.

OSMEM_VERSION="0.1.6"
LOOKOUT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$LOOKOUT_ROOT/.venv"

# Installs osmem-server==$OSMEM_VERSION into .venv unless that exact version is already there.
osmem_install() {
  if [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c "import osmem_server, sys; sys.exit(osmem_server.__version__ != '$OSMEM_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "installing the test server osmem-server==$OSMEM_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "osmem-server==$OSMEM_VERSION"
}

# Starts the server and sets OSMEM_URL and OSMEM_PID. Call osmem_stop (or rely on the trap) after.
osmem_start() {
  local bin log
  bin="$("$VENV/bin/python" -c 'import osmem_server; print(osmem_server.resolve_binary())')"
  log="$(mktemp -d)/osmem"
  "$bin" -addr 127.0.0.1:0 -no-stdin-watch >"$log.out" 2>"$log.err" &
  OSMEM_PID=$!
  for _ in $(seq 1 300); do
    if [ -s "$log.out" ] && head -n 1 "$log.out" | grep -q '"url"'; then
      OSMEM_URL="$(head -n 1 "$log.out" | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["url"])')"
      export OSMEM_URL OSMEM_PID
      echo "test server osmem-server $OSMEM_VERSION listening on $OSMEM_URL (pid $OSMEM_PID)" >&2
      return 0
    fi
    if ! kill -0 "$OSMEM_PID" 2>/dev/null; then
      echo "the test server exited before it was ready:" >&2
      cat "$log.err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the test server did not print its URL within 30 seconds" >&2
  kill "$OSMEM_PID" 2>/dev/null
  return 1
}

osmem_stop() {
  if [ -n "${OSMEM_PID:-}" ] && kill -0 "$OSMEM_PID" 2>/dev/null; then
    kill "$OSMEM_PID" 2>/dev/null
    wait "$OSMEM_PID" 2>/dev/null || true
  fi
  OSMEM_PID=""
}
