#!/usr/bin/env bash
# wrk against POST /hooks/registry of a release `pushdeploy serve` (trust-free config, file://
# remote, no registry needed for intake): rejected requests (bad token) and accepted durable
# events (each a new event id, journaled with synchronous=FULL before the 2xx).
# Goals: rejected >= 20k req/s, accepted >= 2k/s. Floor in the same run: wrk against /healthz.
# Usage: bench/wrk.sh   (needs wrk; scripts/test does not install it: apt-get install wrk)
# WRK_JOURNAL_URL=postgres://… puts the journal on that PostgreSQL instead of SQLite.
PROFILE=release
source "$(dirname "$0")/wrk-common.sh"
git init -q --bare -b main "$work/remote.git"
journal=""
if [ -n "${WRK_JOURNAL_URL:-}" ]; then
  journal=$'  journal: {url: {fromEnv: WRK_JOURNAL_URL}}\n'
fi
start_server "$journal" NOTIFY_AUTH="Bearer wrk-token" RUST_LOG=error
cat > "$work/post.lua" <<'LUA'
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/vnd.docker.distribution.events.v1+json"
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
request = function()
  counter = counter + 1
  local id = string.format("%d-%d", math.random(1, 1e9), counter)
  local body = '{"events":[{"id":"' .. id .. '","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"unknown","tag":"1-a"}}]}'
  if os.getenv("WRK_ACCEPTED") == "1" then
    body = '{"events":[{"id":"' .. id .. '","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"1-a","url":"http://127.0.0.1:1/v2/app/manifests/x"}}]}'
  end
  return wrk.format(nil, "/hooks/registry", nil, body)
end
LUA
rate() { awk '/Requests\/sec/ {print $2}'; }
floor=$(wrk -t2 -c32 -d5s "http://127.0.0.1:$port/healthz" | rate)
rejected=$(WRK_AUTH="Bearer wrong" wrk -t2 -c32 -d5s -s "$work/post.lua" "http://127.0.0.1:$port" | rate)
accepted=$(WRK_AUTH="Bearer wrk-token" WRK_ACCEPTED=1 wrk -t2 -c32 -d5s -s "$work/post.lua" "http://127.0.0.1:$port" | rate)
echo "floor (GET /healthz):                 $floor req/s"
echo "rejected (bad token, 401):            $rejected req/s  (goal >= 20000)"
echo "accepted durable events (200):        $accepted req/s  (goal >= 2000)"
python3 -c "print(f'ratios to floor: rejected {float(\"$rejected\")/float(\"$floor\"):.2f}x, accepted {float(\"$accepted\")/float(\"$floor\"):.2f}x')"
