#!/usr/bin/env bash
# bench/idle100k.sh: 100,000 live echo connections on one machine.
#
# The per-process descriptor limit here is 20,000 (hard), so one process holds
# at most ~19,900 connections: SERVERS sockit processes share one port with
# SO_REUSEPORT (`sockit serve --echo --reuseport`), and CLIENTS `sockit bench
# idle` processes open TOTAL/CLIENTS connections each, spread over SOURCE_IPS
# source addresses (127.0.0.1...) to get past one ephemeral port range. Once
# every connection is open it measures the servers' RSS and the kernel's
# memory, then the clients check that every connection still echoes a byte.
#
#   bash bench/idle100k.sh                  # TOTAL=100000, about 1 minute
#   TOTAL=20000 SERVERS=2 CLIENTS=2 bash bench/idle100k.sh
#
# Writes bench/results/idle100k.json (OUT=dir to change). Every process it
# starts is killed by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL=${TOTAL:-100000}
SERVERS=${SERVERS:-7}
CLIENTS=${CLIENTS:-7}
SOURCE_IPS=${SOURCE_IPS:-8}
HOLD=${HOLD:-20s}
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

work=$(mktemp -d /tmp/sockit-idle100k.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${SOCKIT:-}" ]; then cp "$SOCKIT" "$work/sockit"; else go build -o "$work/sockit" ./cmd/sockit; fi
S=$work/sockit
port=${PORT:-29700}
while [ -n "$(ss -Htan "sport = :$port")" ]; do port=$((port + 1)); done

rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
sockmem() { awk '/^TCP:/{print $NF}' /proc/net/sockstat; } # pages

server_pids=()
for i in $(seq "$SERVERS"); do
  "$S" serve "127.0.0.1:$port" --echo --reuseport -q 2>"$work/server$i.log" &
  pids+=($!); server_pids+=($!)
done
for i in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
sleep 0.5 # every server has bound before the load starts
before_rss=0
for p in "${server_pids[@]}"; do before_rss=$((before_rss + $(rss "$p"))); done
before_avail=$(meminfo MemAvailable) before_slab=$(meminfo Slab) before_sockmem=$(sockmem)

log "opening $TOTAL connections: $SERVERS servers on 127.0.0.1:$port, $CLIENTS clients, $SOURCE_IPS source addresses"
t0=$(date +%s.%N)
per=$(( (TOTAL + CLIENTS - 1) / CLIENTS ))
client_pids=()
for i in $(seq "$CLIENTS"); do
  n=$per; [ "$i" -eq "$CLIENTS" ] && n=$((TOTAL - per * (CLIENTS - 1)))
  "$S" bench idle "127.0.0.1:$port" -c "$n" -d "$HOLD" --source-ips "$SOURCE_IPS" --timeout 60s \
    --json --progress never >"$work/client$i.json" 2>"$work/client$i.err" &
  pids+=($!); client_pids+=($!)
done
for i in $(seq 1200); do
  held=$(cat "$work"/client*.err | grep -c holding || true)
  [ "$held" -ge "$CLIENTS" ] && break
  sleep 0.1
done
open=$(ss -Htn state established "sport = :$port" | wc -l)
t1=$(date +%s.%N)
log "$open connections established in $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
sleep 2 # let the servers settle after the last accept
after_rss=0 per_server=""
for p in "${server_pids[@]}"; do
  r=$(rss "$p"); after_rss=$((after_rss + r))
  conns=$(( $(ls "/proc/$p/fd" | wc -l) - 4 ))
  per_server+="${per_server:+, }{\"pid\":$p,\"rss_kib\":$r,\"fds\":$conns}"
done
after_avail=$(meminfo MemAvailable) after_slab=$(meminfo Slab) after_sockmem=$(sockmem)
log "servers' RSS $before_rss -> $after_rss KiB; waiting for the clients to check every connection"
ok=0 errs=0
for i in $(seq "$CLIENTS"); do
  wait "${client_pids[$i-1]}" || true
  o=$(grep -o '"ops": [0-9]*' "$work/client$i.json" | head -1 | awk '{print $2}')
  e=$(grep -o '"errors": [0-9]*' "$work/client$i.json" | head -1 | awk '{print $2}')
  ok=$((ok + ${o:-0})) errs=$((errs + ${e:-0}))
done

kb() { awk "BEGIN{printf \"%.3f\", ($1) * 1024 / $open / 1000}"; } # KiB total -> KB per connection
per_conn=$(kb "$after_rss - $before_rss")
sys_per_conn=$(kb "$before_avail - $after_avail")
slab_per_conn=$(kb "$after_slab - $before_slab")
cat >"$OUT/idle100k.json" <<JSON
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "sockit": "$("$S" version)",
  "total": $TOTAL,
  "servers": $SERVERS,
  "clients": $CLIENTS,
  "source_ips": $SOURCE_IPS,
  "established": $open,
  "checked_alive": $ok,
  "errors": $errs,
  "server_rss_before_kib": $before_rss,
  "server_rss_after_kib": $after_rss,
  "server_rss_per_conn_kb": $per_conn,
  "mem_available_drop_per_conn_kb": $sys_per_conn,
  "slab_growth_per_conn_kb": $slab_per_conn,
  "tcp_sockmem_pages_before": $before_sockmem,
  "tcp_sockmem_pages_after": $after_sockmem,
  "per_server": [$per_server]
}
JSON
cat "$OUT/idle100k.json"
log "$open established, $ok checked alive, $errs errors; server RSS $per_conn KB per connection; whole machine $sys_per_conn KB per connection (both ends, kernel and clients)"
