#!/usr/bin/env bash
# Unauthenticated floods against `pushdeploy serve`, with RSS before / during / after:
#  1. tokenless 1 MiB bodies to POST /hooks/registry (401 from the header, body never read);
#  2. unsigned 1 MiB bodies to POST /hooks/forgejo (HMAC needs the body: bounded by
#     server.maxBodiesInFlight / maxBodyBytesInFlight, past which 503 + Retry-After).
# Each flood runs wrk with 100 connections for 10 s (far more than 1,000 bodies).
# Usage: bench/wrk-flood.sh   (PROFILE=debug to use target/debug instead of a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/wrk-flood.sh: install wrk (apt-get install wrk)" >&2; exit 1; }
profile=${PROFILE:-release}
if [ "$profile" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/pushdeploy.yaml" <<YAML
dataDir: $work/data
server: {listen: 127.0.0.1:$port}
intake:
  bodyLimit: 1048576
  registry: {authorization: [{fromEnv: NOTIFY_AUTH}]}
  forgejo: {secrets: [{fromEnv: FORGEJO_SECRET}]}
imageRepositories: [{name: app, image: 127.0.0.1:1/app, insecure: true, interval: 1h}]
imagePolicies: [{name: app, imageRepositoryRef: {name: app}, policy: {numerical: {order: asc}}}]
YAML
NOTIFY_AUTH="Bearer flood-token" FORGEJO_SECRET=flood-secret RUST_LOG=warn \
  "target/$profile/pushdeploy" serve --config "$work/pushdeploy.yaml" 2>"$work/log" &
server=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$server/status"; }
cat > "$work/flood.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Forgejo-Event-Type"] = "package"
wrk.body = string.rep("x", 1024 * 1024 - 16)
LUA
statuses() { awk '/Requests\/sec/ {print $2 " req/s"} /Non-2xx/ {print "non-2xx: " $5}' | paste -sd' '; }
echo "RSS at start:                 $(rss)"
for route in /hooks/registry /hooks/forgejo; do
  wrk -t2 -c100 -d10s -s "$work/flood.lua" "http://127.0.0.1:$port$route" > "$work/wrk.out" &
  flood=$!
  peak=0
  while kill -0 $flood 2>/dev/null; do
    now=$(awk '/VmRSS/ {print $2}' "/proc/$server/status"); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  echo "$route flood: $(statuses < "$work/wrk.out"); peak RSS during: $((peak / 1024)) MB"
  sleep 5
  echo "RSS 5 s after the $route flood: $(rss)"
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null && echo "/healthz answers after both floods"
curl -fsS "http://127.0.0.1:$port/metrics" | grep -E '^pushdeploy_http_refused_total' || true
