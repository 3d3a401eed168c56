#!/usr/bin/env bash
# bench/compare.sh: measure sockit against its peers on loopback, in one run.
#
# Starts sockit (default flags), nginx stream, HAProxy, socat, ncat, the naive
# Go server (bench/naive), the minimal C loop (bench/cloop.c) and the seed's
# Python server; runs the same loads against each with `sockit bench`,
# interleaved (run 1 of every server, then run 2...), RUNS times; prints a
# table of medians and ratios to sockit; writes every result as JSON and the
# plots into bench/results (OUT=dir to change).
#
#   bash bench/compare.sh            # about 12 minutes on 2 cores
#   QUICK=1 bash bench/compare.sh    # one short run of each, about 2 minutes
#   ONLY=greet|relay|idle bash bench/compare.sh
#   SOCKIT=/path/to/sockit bash bench/compare.sh   # measure that binary
#
# Every process it starts is killed by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

QUICK=${QUICK:-0}
RUNS=${RUNS:-5}
DUR=${DUR:-3s}            # one greeting load, fast servers
SLOW_DUR=${SLOW_DUR:-2s}  # one greeting load, forking servers
RELAY_SIZE=${RELAY_SIZE:-2GiB}
SLOW_RELAY_SIZE=${SLOW_RELAY_SIZE:-512MiB}
IDLE_N=${IDLE_N:-15000}       # idle echo connections
IDLE_RELAY_N=${IDLE_RELAY_N:-3000} # idle relayed connections (each relay holds 2+ fds per connection)
IDLE_SPLICE_N=${IDLE_SPLICE_N:-6000} # idle connections to the naive echo: io.Copy holds a pipe (3 fds each)
CONCS=${CONCS:-"1 4 16 64 256"}
ONLY=${ONLY:-all}
if [ "$QUICK" = 1 ]; then
  RUNS=1 DUR=1s SLOW_DUR=1s RELAY_SIZE=512MiB SLOW_RELAY_SIZE=128MiB IDLE_N=3000 IDLE_RELAY_N=1000 IDLE_SPLICE_N=2000 CONCS="1 64"
fi
OUT=${OUT:-$root/bench/results}
mkdir -p "$OUT/raw"
if [ "$ONLY" = all ]; then rm -f "$OUT"/raw/*.json; else rm -f "$OUT"/raw/"${ONLY}"_*.json; fi

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- peers -------------------------------------------------------------------
need=()
command -v nginx >/dev/null || need+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v haproxy >/dev/null || need+=(haproxy)
command -v socat >/dev/null || need+=(socat)
command -v ncat >/dev/null || need+=(ncat)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v ss >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/sockit-compare.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "building into $work"
if [ -n "${SOCKIT:-}" ]; then
  cp "$SOCKIT" "$work/sockit" # a binary built elsewhere (SOCKIT=path)
else
  go build -o "$work/sockit" ./cmd/sockit
fi
go build -o "$work/naive" ./bench/naive
go build -o "$work/report" ./bench/report
gcc -O2 -o "$work/cloop" bench/cloop.c
S=$work/sockit

# --- helpers -----------------------------------------------------------------
next_port=${PORT_BASE:-28700}
newport() { # sets P to a free loopback port
  while [ -n "$(ss -Htan "sport = :$next_port" 2>/dev/null)" ]; do next_port=$((next_port + 1)); done
  P=$next_port
  next_port=$((next_port + 1))
}
# start NAME CMD...: run CMD in the background, its output in $work/NAME.log
start() {
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}
waitport() {
  local i
  for i in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  log "nothing listening on port $1"; return 1
}
conf() { # conf TEMPLATE DIR PORT [TARGET]
  mkdir -p "$2"
  sed -e "s|@PORT@|$3|g" -e "s|@DIR@|$2|g" -e "s|@TARGET@|${4:-}|g" "bench/peers/$1" >"$2/conf"
}
# rss PID: resident KiB of PID and its children
rss() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $total
}
# established PORT: connections established to local port PORT
established() { ss -Htn state established "sport = :$1" | wc -l; }

# --- servers -----------------------------------------------------------------
printf 'Thank you for connecting\n' >"$work/greeting"
declare -A gport expect
start_greeters() {
  newport; gport[sockit]=$P; start sockit_greet "$S" serve "127.0.0.1:${gport[sockit]}"
  newport; gport[nginx]=$P; conf nginx-greet.conf "$work/ng" "${gport[nginx]}"
  start nginx_greet nginx -p "$work/ng" -c "$work/ng/conf"
  newport; gport[cloop]=$P; start cloop "$work/cloop" "${gport[cloop]}" 2
  newport; gport[naive]=$P; start naive_greet "$work/naive" -listen "127.0.0.1:${gport[naive]}"
  newport; gport[socat]=$P
  start socat_greet socat -lf /dev/null "TCP-LISTEN:${gport[socat]},bind=127.0.0.1,reuseaddr,fork,backlog=4096" "OPEN:$work/greeting,rdonly"
  newport; gport[ncat]=$P; start ncat_greet ncat -lk 127.0.0.1 "${gport[ncat]}" --exec "/bin/echo Thank you for connecting"
  newport; gport[seed]=$P; start seed_greet python3 testdata/seed/server.py "${gport[seed]}"
  expect[seed]='Thank you for connecting' # the seed sends no newline
  local s; for s in "${!gport[@]}"; do waitport "${gport[$s]}"; done
}
fast_greeters="sockit nginx cloop naive"
slow_greeters="socat ncat seed"

declare -A rport
start_relays() {
  newport; rport[echo]=$P; start echo "$work/naive" -mode echo -listen "127.0.0.1:${rport[echo]}"
  local e=127.0.0.1:${rport[echo]}
  rport[direct]=${rport[echo]}
  newport; rport[sockit]=$P; start sockit_relay "$S" relay "127.0.0.1:${rport[sockit]}" "$e"
  newport; rport[nginx]=$P; conf nginx-relay.conf "$work/nr" "${rport[nginx]}" "$e"
  start nginx_relay nginx -p "$work/nr" -c "$work/nr/conf"
  newport; rport[haproxy]=$P; conf haproxy-relay.cfg "$work/hr" "${rport[haproxy]}" "$e"
  start haproxy_relay haproxy -f "$work/hr/conf"
  newport; rport[naive]=$P; start naive_relay "$work/naive" -mode relay -listen "127.0.0.1:${rport[naive]}" -to "$e"
  newport; rport[socat]=$P; start socat_relay socat -lf /dev/null "TCP-LISTEN:${rport[socat]},bind=127.0.0.1,reuseaddr,fork" "TCP:$e"
  newport; rport[ncat]=$P; start ncat_relay ncat -lk 127.0.0.1 "${rport[ncat]}" --sh-exec "ncat 127.0.0.1 ${rport[echo]}"
  local s; for s in "${!rport[@]}"; do waitport "${rport[$s]}"; done
}
fast_relays="direct sockit nginx haproxy naive"
slow_relays="socat ncat"

# bench NAME MODE PORT ARGS...: one load; the JSON goes to $OUT/raw/NAME.json
bench() {
  local name=$1 mode=$2 p=$3; shift 3
  "$S" bench "$mode" "127.0.0.1:$p" --json --progress never "$@" >"$OUT/raw/$name.json" 2>"$work/bench.err" || true
  if [ ! -s "$OUT/raw/$name.json" ]; then
    log "$name: no result: $(head -c 300 "$work/bench.err")"; rm -f "$OUT/raw/$name.json"
  fi
}

# --- greeting ----------------------------------------------------------------
if [ "$ONLY" = all ] || [ "$ONLY" = greet ]; then
  start_greeters
  log "greeting: ${RUNS} runs x concurrency ${CONCS} (fast servers), 1 and 64 (forking servers)"
  for run in $(seq "$RUNS"); do
    for c in $CONCS; do
      for s in $fast_greeters; do
        bench "greet_${s}_c${c}_r${run}" greet "${gport[$s]}" -c "$c" -d "$DUR" --timeout 5s
      done
      case " 1 64 " in *" $c "*)
        for s in $slow_greeters; do
          bench "greet_${s}_c${c}_r${run}" greet "${gport[$s]}" -c "$c" -d "$SLOW_DUR" --timeout 5s \
            --expect "${expect[$s]:-Thank you for connecting\n}"
        done;;
      esac
    done
    log "greeting run $run done"
  done
fi

# --- relay -------------------------------------------------------------------
if [ "$ONLY" = all ] || [ "$ONLY" = relay ]; then
  start_relays
  log "relay: ${RUNS} runs, 1 stream of $RELAY_SIZE ($SLOW_RELAY_SIZE through socat and ncat)"
  for run in $(seq "$RUNS"); do
    for s in $fast_relays; do
      bench "relay_${s}_c1_r${run}" relay "${rport[$s]}" -n 1 --size "$RELAY_SIZE" --timeout 30s
    done
    # ncat --sh-exec relays through a child ncat and stalls on a full-duplex
    # stream; a short timeout records that without waiting long.
    for s in $slow_relays; do
      bench "relay_${s}_c1_r${run}" relay "${rport[$s]}" -n 1 --size "$SLOW_RELAY_SIZE" --timeout 5s
    done
    log "relay run $run done"
  done
fi

# --- idle connections --------------------------------------------------------
# idle NAME PORT PID N: hold N connections to PORT, report PID's RSS growth.
idle() {
  local name=$1 p=$2 pid=$3 n=$4 before after i
  before=$(rss "$pid")
  "$S" bench idle "127.0.0.1:$p" -c "$n" -d 12s --source-ips 2 --timeout 30s --json --progress never \
    >"$work/idle.json" 2>"$work/idle.err" &
  local cpid=$!
  pids+=($cpid)
  for i in $(seq 1200); do
    grep -q holding "$work/idle.err" && break
    kill -0 $cpid 2>/dev/null || break
    sleep 0.1
  done
  for i in $(seq 20); do # until the server has them all, or 10 s
    [ "$(established "$p")" -ge "$n" ] && break
    sleep 0.5
  done
  sleep 2 # let the server settle after the last accept
  local est; est=$(established "$p")
  after=$(rss "$pid")
  wait $cpid || true
  printf '{"server":"%s","connections":%d,"established":%d,"rss_before_kib":%d,"rss_after_kib":%d,"bench":%s}\n' \
    "$name" "$n" "$est" "$before" "$after" "$(cat "$work/idle.json" || echo null)" >"$OUT/raw/idle_${name}.json"
  log "idle $name: $est of $n connections established, RSS $before -> $after KiB ($(( (after - before) * 1024 / (est > 0 ? est : 1) )) B/conn)"
}
if [ "$ONLY" = all ] || [ "$ONLY" = idle ]; then
  newport; e=$P; start idle_echo_backend "$work/naive" -mode echo -listen "127.0.0.1:$e"; waitport "$e"
  newport; p=$P; start idle_sockit_echo "$S" serve "127.0.0.1:$p" --echo; waitport "$p"
  idle sockit-echo "$p" "$pid_idle_sockit_echo" "$IDLE_N"; kill "$pid_idle_sockit_echo"
  newport; p=$P; start idle_naive_echo "$work/naive" -mode echo -listen "127.0.0.1:$p"; waitport "$p"
  idle naive-echo "$p" "$pid_idle_naive_echo" "$IDLE_SPLICE_N"; kill "$pid_idle_naive_echo"
  newport; p=$P; start idle_sockit_relay "$S" relay "127.0.0.1:$p" "127.0.0.1:$e"; waitport "$p"
  idle sockit-relay "$p" "$pid_idle_sockit_relay" "$IDLE_RELAY_N"; kill "$pid_idle_sockit_relay"
  newport; p=$P; conf nginx-relay.conf "$work/ni" "$p" "127.0.0.1:$e"
  start idle_nginx_relay nginx -p "$work/ni" -c "$work/ni/conf"; waitport "$p"
  idle nginx-relay "$p" "$pid_idle_nginx_relay" "$IDLE_RELAY_N"; kill "$pid_idle_nginx_relay"
  newport; p=$P; conf haproxy-relay.cfg "$work/hi" "$p" "127.0.0.1:$e"
  start idle_haproxy_relay haproxy -f "$work/hi/conf"; waitport "$p"
  idle haproxy-relay "$p" "$pid_idle_haproxy_relay" "$IDLE_RELAY_N"; kill "$pid_idle_haproxy_relay"
fi

# --- report ------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  if [ -n "${SOCKIT:-}" ]; then
    echo "sockit: $("$S" version), the binary SOCKIT=$SOCKIT${SOCKIT_TREE:+ built from $SOCKIT_TREE}"
  else
    echo "sockit: $("$S" version), tree $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  fi
  echo "load average (1, 5, 15 min): $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo "cpu: $(nproc) x $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "kernel: $(uname -r)"
  echo "memory: $(awk '/MemTotal/{print $2 " kB"}' /proc/meminfo)"
  echo "peers: $(nginx -v 2>&1 | sed 's/.*: //'), $(haproxy -v | head -1 | awk '{print "haproxy " $3}'), $(socat -V | awk '/socat version/{print "socat " $3}'), $(ncat --version 2>&1 | awk '{print "ncat " $3; exit}'), $(python3 --version)"
  echo "runs: $RUNS; greeting $DUR per load ($SLOW_DUR forking servers); relay $RELAY_SIZE per stream ($SLOW_RELAY_SIZE socat, ncat)"
} >"$OUT/machine.txt"
"$work/report" -in "$OUT/raw" -out "$OUT" -machine "$OUT/machine.txt" | tee "$OUT/table.md"
