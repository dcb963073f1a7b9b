#!/bin/bash
# A/B check of the Cirque fast path between two checkouts, interleaved.
#   bash bench/ab.sh <dirA> <dirB> [path=small] [rounds=3] [secs=5] [mode=h1]
# Needs the origin of `deno task bench:proxy` running on 127.0.0.1:29100
# (bench/scratch/run/origin/nginx.conf). Prints req/CPU-s of each run.
A=$1; B=$2; P=${3:-small}; N=${4:-3}; S=${5:-5}; M=${6:-mode}
[ "$M" = mode ] && M=h1
one() {
  dir=$1
  (cd "$dir" && exec taskset -c 1 deno run -A --quiet bench/cirque_proxy.ts "$M" 29101 127.0.0.1:29100 >/dev/null 2>&1) & pid=$!
  i=0; while ! (exec 3<>/dev/tcp/127.0.0.1/29101) 2>/dev/null; do sleep 0.1; i=$((i+1)); [ $i -gt 100 ] && break; done
  # The gateway's token check needs the header; the cache would not share responses to it.
  if [ "$M" = gateway ]; then auth=(-H 'Authorization: Bearer alice-token'); else auth=(); fi
  taskset -c 0 wrk -t1 -c50 -d1s "${auth[@]}" http://127.0.0.1:29101/$P >/dev/null
  a=$(awk '{print $14+$15}' /proc/$pid/stat)
  r=$(taskset -c 0 wrk -t1 -c50 -d${S}s "${auth[@]}" http://127.0.0.1:29101/$P | awk '/requests in/{print $1}')
  b=$(awk '{print $14+$15}' /proc/$pid/stat)
  hwm=$(awk '/VmHWM/{print int($2/1024)}' /proc/$pid/status)
  kill $pid; wait $pid
  echo "$dir $P $((r*100/(b-a))) req/CPU-s ($r req, $((b-a)) ticks, ${hwm} MiB)"
}
for k in $(seq $N); do one "$A"; one "$B"; done
