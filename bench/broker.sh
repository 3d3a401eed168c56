#!/usr/bin/env bash
# bench/broker.sh: fan-out throughput of sockit broker beside ncat --broker.
#
# For each client count, one client sends 64-byte records (in 4 KiB writes)
# and every other client must receive all of them, in order; the result is
# deliveries per second (records x receivers / seconds). The clients are
# interop/broker/fanclient processes of at most 5,000 connections each.
#
#   bash bench/broker.sh                  # 100 1000 10000 clients, both servers
#   bash bench/broker.sh 100 1000         # chosen counts
#   SERVERS=sockit bash bench/broker.sh   # one server only
#
# Output: one line per run, tab-separated, on stdout:
#   server clients records deliveries seconds deliveries_per_s status
# ncat runs with --max-conns 100000 (its default is 100). It multiplexes with select(), so it cannot serve descriptors past
# FD_SETSIZE (1024): expect its runs above ~1,000 clients to fail; the status
# column says how. Logs stay in $WORK (printed on stderr).
set -euo pipefail

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 10000)
servers=${SERVERS:-"sockit ncat"}
total_records=${TOTAL_RECORDS:-2000000} # deliveries per run, about
timeout_s=${TIMEOUT:-90} # ncat accepts only ~30 clients/s here: 1,000 take ~40 s

root=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sockit-broker-bench.XXXXXX")
echo "bench/broker.sh: logs in $WORK" >&2
(cd "$root" && CGO_ENABLED=0 go build -o "$WORK/sockit" ./cmd/sockit && go build -o "$WORK/fanclient" ./interop/broker/fanclient)

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for CMD...: poll CMD every 0.1 s for up to $timeout_s seconds.
wait_for() {
	local i
	for ((i = 0; i < timeout_s * 10; i++)); do
		if "$@"; then return 0; fi
		sleep 0.1
	done
	return 1
}

sockit_clients() { # the broker's own count, from its metrics
	curl -s "http://127.0.0.1:$mport/metrics" | awk '$1=="sockit_broker_clients"{print $2}' | grep -qx "$1"
}
ncat_clients() { # ncat -v logs one line per accepted client
	[ "$(grep -c 'Connection from 127.0.0.1:' "$WORK/$run.server.log")" -ge "$1" ]
}
all_lines() { # all_lines PATTERN FILE...: every file has a line matching
	local f
	for f in "${@:2}"; do grep -q "$1" "$f" || return 1; done
}

echo -e "server\tclients\trecords\tdeliveries\tseconds\tdeliveries_per_s\tstatus"
for n in "${counts[@]}"; do
	records=$((total_records / (n - 1) + 1))
	for server in $servers; do
		run="$server-$n"
		port=$(freeport)
		mport=$(freeport)
		case $server in
		sockit)
			"$WORK/sockit" broker "127.0.0.1:$port" -q --client-queue 65536 --metrics "127.0.0.1:$mport" \
				>/dev/null 2>"$WORK/$run.server.log" &
			;;
		ncat)
			if ! command -v ncat >/dev/null; then
				echo -e "ncat\t$n\t-\t-\t-\t-\tncat not installed"
				continue
			fi
			ncat -v -l --broker --max-conns 100000 127.0.0.1 "$port" >/dev/null 2>"$WORK/$run.server.log" &
			;;
		esac
		spid=$!
		# ncat's listen backlog is small: clients dialed in a burst overflow it
		# and hang unaccepted, so dial its clients one at a time.
		workers=64
		[ "$server" = ncat ] && workers=1
		pids+=("$spid")
		wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null

		# Clients: processes of at most 5,000; the first client of process 0 sends.
		procs=$(((n + 4999) / 5000))
		outs=()
		fifos=()
		for ((p = 0; p < procs; p++)); do
			per=$((n / procs + (p < n % procs ? 1 : 0)))
			senders=$((p == 0 ? 1 : 0))
			fifo="$WORK/$run.in$p"
			mkfifo "$fifo"
			"$WORK/fanclient" -addr "127.0.0.1:$port" -proc "$p" -n "$per" -senders "$senders" \
				-total "$records" -timeout "${timeout_s}s" -dial-workers "$workers" <"$fifo" >"$WORK/$run.out$p" 2>&1 &
			pids+=("$!")
			exec {fd}>"$fifo"
			fifos+=("$fd")
			outs+=("$WORK/$run.out$p")
		done
		status=ok
		if ! wait_for all_lines '^connected\|^error' "${outs[@]}" || grep -q '^error' "${outs[@]}"; then
			status="clients could not connect: $(grep -h '^error' "${outs[@]}" | head -1 || echo timeout)"
			if [ "$server" = ncat ]; then
				status="$status; ncat accepted $(grep -c 'Connection from 127.0.0.1:' "$WORK/$run.server.log") clients"
				if grep -q FD_SETSIZE "$WORK/$run.server.log"; then
					status="$status, then: $(grep -m1 FD_SETSIZE "$WORK/$run.server.log")"
				fi
			fi
		elif ! wait_for "${server}_clients" "$n"; then
			status="server accepted only $(
				if [ "$server" = sockit ]; then curl -s "http://127.0.0.1:$mport/metrics" | awk '$1=="sockit_broker_clients"{print $2}'
				else grep -c 'Connection from 127.0.0.1:' "$WORK/$run.server.log"; fi
			) of $n clients"
		fi
		deliveries=- seconds=- rate=-
		if [ "$status" = ok ]; then
			for fd in "${fifos[@]}"; do echo "bench $records" >&"$fd"; done
			wait_for all_lines '^bench\|^error' "${outs[@]}" || true
			if grep -q '^error' "${outs[@]}" || ! all_lines '^bench' "${outs[@]}"; then
				status="failed: $(grep -h '^error' "${outs[@]}" | head -1 || echo timeout)"
			else
				read -r deliveries seconds < <(awk '/^bench/{d+=$2; if ($3>s) s=$3} END{print d, s}' "${outs[@]}")
				rate=$(awk -v d="$deliveries" -v s="$seconds" 'BEGIN{printf "%.0f", d/s}')
			fi
		fi
		if ! kill -0 "$spid" 2>/dev/null; then
			status="$status; server died: $(tail -1 "$WORK/$run.server.log")"
		fi
		echo -e "$server\t$n\t$records\t$deliveries\t$seconds\t$rate\t$status"
		for fd in "${fifos[@]}"; do echo quit >&"$fd" 2>/dev/null || true; exec {fd}>&-; done
		cleanup
		pids=()
	done
done
