#!/bin/bash
# Concurrent A/B of the Cirque fast path between two checkouts: both proxies
# run at once, pinned to CPU 1, each loaded by its own wrk (25 connections, on
# CPU 0) over the same window, so a slow spell of the machine hits both alike.
#   bash bench/ab_concurrent.sh <dirA> <dirB> [rounds=10] [secs=4] [path=small] [mode=h1]
# Mode serve-tls (HTTP/2 over TLS through Deno.serve, `--unstable-no-legacy-abort`
# as in the harness) is loaded by h2load instead (25 connections, -m10 each),
# with the harness's test certificate (bench/scratch/run/cert.pem, key.pem).
# FA / FB: V8 flags for A / B (DENO_V8_FLAGS). HDR: a request header for wrk, e.g.
# HDR="Authorization: Bearer alice-token" for mode gateway; HDRS: a file of request
# headers, one per line (bench/browser_headers.txt: what a browser sends). Needs the origin of
# `deno task bench:proxy` on 127.0.0.1:29100 (bench/scratch/run/origin/nginx.conf).
# Prints req/CPU-s of A and B per round, and the median of the B/A ratios.
A=$1; B=$2; N=${3:-10}; S=${4:-4}; P=${5:-small}; M=${6:-h1}
RUN=$(cd "$(dirname "$0")" && pwd)/scratch/run
EXTRA=(); TLS=(); HARGS=()
if [ -n "$HDRS" ]; then while IFS= read -r h; do [ -n "$h" ] && HARGS+=(-H "$h"); done <"$HDRS"; fi
[ "$M" = serve-tls ] && EXTRA=(--unstable-no-legacy-abort) && TLS=("$RUN/cert.pem" "$RUN/key.pem")
start() {
  (cd "$1" && { [ -n "$3" ] && export DENO_V8_FLAGS=$3; true; } &&
    exec taskset -c 1 deno run -A --quiet "${EXTRA[@]}" bench/cirque_proxy.ts "$M" "$2" \
      127.0.0.1:29100 "${TLS[@]}" >/dev/null 2>&1) &
  echo $!
}
# load <port> <secs> <out>: one load generator on CPU 0.
load() {
  if [ "$M" = serve-tls ]; then
    taskset -c 0 h2load -t1 -c25 -m10 -D "$2" "https://127.0.0.1:$1/$P" |
      awk '/^requests:/{print $8, "requests in"}' >"$3"
  else
    taskset -c 0 wrk -t1 -c25 ${HDR:+-H "$HDR"} "${HARGS[@]}" -d"$2"s "http://127.0.0.1:$1/$P" >"$3"
  fi
}
waitp() {
  local i=0
  while ! (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do
    sleep 0.1; i=$((i + 1)); [ $i -gt 300 ] && break
  done
}
ticks() { awk '{print $14+$15}' /proc/$1/stat 2>/dev/null; }
out=$(mktemp)
for k in $(seq "$N"); do
  pa=$(start "$A" 29111 "$FA"); pb=$(start "$B" 29112 "$FB"); waitp 29111; waitp 29112
  load 29111 1 /dev/null & w=$!
  load 29112 1 /dev/null; wait $w
  a0=$(ticks $pa); b0=$(ticks $pb)
  load 29111 "$S" "$out.a" & w=$!
  load 29112 "$S" "$out.b"; wait $w
  a1=$(ticks $pa); b1=$(ticks $pb)
  ra=$(awk '/requests in/{print $1}' "$out.a"); rb=$(awk '/requests in/{print $1}' "$out.b")
  kill $pa $pb; wait $pa $pb 2>/dev/null
  # Not children of this shell (started in a command substitution): wait until
  # both have exited, so the next round's proxies can bind the same ports.
  for _ in $(seq 100); do kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null || break; sleep 0.05; done
  if [ -z "$a1" ] || [ -z "$b1" ] || [ -z "$ra" ] || [ -z "$rb" ] || [ "$a1" = "$a0" ] ||
    [ "$b1" = "$b0" ]; then
    echo "round $k failed" >&2
    continue
  fi
  ea=$((ra * 100 / (a1 - a0))); eb=$((rb * 100 / (b1 - b0)))
  echo "$ea $eb $(awk "BEGIN{printf \"%.3f\", $eb/$ea}")" | tee -a "$out"
done
sort -k3 -n "$out" | awk '{a[NR]=$3} END {if (NR) print "median B/A", a[int((NR+1)/2)], "min", a[1], "max", a[NR], "rounds", NR}'
rm -f "$out" "$out.a" "$out.b"
