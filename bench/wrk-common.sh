# Sourced by bench/wrk*.sh, not run: the shared preamble. Checks for wrk, builds pushdeploy
# (PROFILE=release, the default, or debug), makes a scratch dir removed on exit and picks a free
# port. `start_server INTAKE_EXTRA VAR=value...` then starts `pushdeploy serve` on it with a
# trust-free config (one repository, one policy, no registry needed for intake; the registry
# hook's Authorization from NOTIFY_AUTH, INTAKE_EXTRA more lines under `intake:`), the given
# environment, stderr in $work/log, and waits for /healthz. Sets $profile, $work, $port, $server.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/$(basename "$0"): install wrk (apt-get install wrk)" >&2; exit 1; }
profile=${PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
work=$(mktemp -d)
server=""
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

start_server() {
  local intake_extra=$1
  shift
  cat > "$work/pushdeploy.yaml" <<YAML
dataDir: $work/data
server: {listen: 127.0.0.1:$port}
intake:
  registry: {authorization: [{fromEnv: NOTIFY_AUTH}]}
${intake_extra}imageRepositories: [{name: app, image: 127.0.0.1:1/app, insecure: true, interval: 1h}]
imagePolicies: [{name: app, imageRepositoryRef: {name: app}, policy: {numerical: {order: asc}}}]
YAML
  env "$@" "target/$profile/pushdeploy" serve --config "$work/pushdeploy.yaml" 2>"$work/log" &
  server=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}
