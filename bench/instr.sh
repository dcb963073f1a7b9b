#!/bin/bash
# Instructions per request of one proxy build, counted by valgrind's callgrind:
# two runs of the same build back to back agree within 0.2%, so a change of 1%
# shows, where timing A/Bs on a shared VM swing by more than that. Count the
# builds you compare close together: timers fire per millisecond of wall time,
# so a busy machine moves the count (bench/README.md).
#   bash bench/instr.sh <dir> [mode=h1] [path=small] [warm=100000] [measured=10000]
# Runs `bench/cirque_proxy.ts <mode>` of checkout <dir> (or, when <mode> is a
# script such as bench/serve_floor.ts, that script) under callgrind on CPU 1
# with instrumentation off, warms it with <warm> requests (h2load --h1, 10
# connections), counts user-space instructions (all threads: V8, GC, Deno's ops,
# tokio) over <measured> more, and prints instructions per request. The warm-up
# is long because V8 goes on compiling (TurboFan, on its own threads, counted
# too) for tens of thousands of requests under valgrind: after 20 000 the fast
# path still counted 108k per request on /small, after 100 000 71k. With
# PROFILE=1 it also writes V8's perf map of JIT code and prints the top frames
# (bench/instr_top.ts). Needs the origin of `deno task bench:proxy` on
# 127.0.0.1:29100 and the packages valgrind and nghttp2-client. It counts
# instructions, not time: a syscall, a cache miss or an op's wait weighs
# nothing here, so confirm a gain with bench/ab_concurrent.sh.
set -e
D=$(cd "$1" && pwd); M=${2:-h1}; P=${3:-small}; W=${4:-100000}; N=${5:-10000}
PORT=29101
OUT=$(mktemp -d)
FLAGS=()
RUN=(bench/cirque_proxy.ts "$M")
case "$M" in *.ts) RUN=("$M") ;; esac
[ -n "$PROFILE" ] && FLAGS=(env "DENO_V8_FLAGS=--perf-basic-prof,--logfile=$OUT/v8.log")
(cd "$D" && exec "${FLAGS[@]}" taskset -c 1 valgrind --tool=callgrind --smc-check=all-non-file \
  --instr-atstart=no --callgrind-out-file="$OUT/cg.%p" \
  deno run -A --quiet "${RUN[@]}" "$PORT" 127.0.0.1:29100 >/dev/null 2>"$OUT/err") &
shell=$!
for _ in $(seq 240); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.5; done
vpid=$(pgrep -f "callgrind-out-file=$OUT/cg" | head -1)
[ -n "$vpid" ] || { echo "the proxy did not start: $(cat "$OUT/err")" >&2; exit 1; }
load() { taskset -c 0 h2load --h1 -n "$1" -c 10 "http://127.0.0.1:$PORT/$P" | awk '/^requests:/{print $8}'; }
ok=$(load "$W")
callgrind_control -i on "$vpid" >/dev/null
ok2=$(load "$N")
callgrind_control -d "$vpid" >/dev/null
callgrind_control -i off "$vpid" >/dev/null
kill -TERM "$vpid"
wait "$shell" 2>/dev/null || true
[ "$ok2" = "$N" ] || echo "warning: only $ok2 of $N measured requests succeeded ($ok of $W warm-up)" >&2
dump=$(ls "$OUT"/cg.*.1)
total=$(awk '/^totals:/{print $2}' "$dump")
echo "$D $M /$P: $((total / N)) instructions per request ($N requests after $W)"
if [ -n "$PROFILE" ]; then
  mv "/tmp/perf-$vpid.map" "$OUT/perf.map"
  deno run -A "$(dirname "$0")/instr_top.ts" "$dump" "$OUT/perf.map" "$N" "${TOP:-30}"
fi
echo "callgrind output: $dump"
