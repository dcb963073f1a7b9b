#!/bin/bash
# Interleaved HTTP/2-over-TLS runs of any `Deno.serve` rows, one after another.
#   bash bench/h2ab.sh <rounds> <secs> [--rps=N] "label:script args" ["label:script args" ...]
# Each row is started fresh on CPU 1 (`deno run -A <script args>`, from this
# checkout), warmed up for 2 s, then loaded for <secs> with h2load on CPU 0
# (-c50 -m10 /small, as the harness's HTTP/2 group; --rps=N per connection fixes
# the offered load). Prints req/CPU-s and the row's CPU use. The word CERT in
# the args stands for the harness's test certificate and key files.
# Needs the origin of `deno task bench:proxy` on 127.0.0.1:29100
# (bench/scratch/run/origin/nginx.conf) and its certificate; listens on 29101.
set -u
N=$1; S=$2; shift 2
RPS=""
case "${1:-}" in --rps=*) RPS=$1; shift ;; esac
cd "$(dirname "$0")/.."
RUN=bench/scratch/run
one() {
  label=${1%%:*}; args=${1#*:}; args=${args//CERT/$RUN/cert.pem $RUN/key.pem}
  # shellcheck disable=SC2086
  taskset -c 1 deno run -A --quiet $args >/dev/null 2>&1 & pid=$!
  i=0; while ! (exec 3<>/dev/tcp/127.0.0.1/29101) 2>/dev/null; do
    sleep 0.1; i=$((i+1)); [ $i -gt 100 ] && { echo "$label: no listener"; kill $pid; return; }
  done
  taskset -c 0 h2load -t1 -c50 -m10 -D 2 https://127.0.0.1:29101/small >/dev/null 2>&1
  a=$(awk '{print $14+$15}' /proc/$pid/stat)
  # shellcheck disable=SC2086
  r=$(taskset -c 0 h2load -t1 -c50 -m10 $RPS -D "$S" https://127.0.0.1:29101/small 2>&1 |
    awk '/^requests:/{print $8}')
  b=$(awk '{print $14+$15}' /proc/$pid/stat)
  kill $pid; wait $pid 2>/dev/null
  t=$((b-a)); [ $t -gt 0 ] || t=1
  echo "$label $((r*100/t)) req/CPU-s ($r requests, $t ticks, CPU use $((t/S))%)"
}
for _ in $(seq "$N"); do for spec in "$@"; do one "$spec"; done; done
