#!/usr/bin/env bash
# BullMQ on S6's shape (20,000 jobs, concurrency 10,000, a 2 s handler that streams nothing), with
# what bench.cjs does not report: its worker processes' peak RSS (VmHWM) and CPU, and its
# redis-server's CPU when the S6 worker ended, read from /proc every 100 ms. Run from the project
# root; needs ../shared/peers (or PEERS=dir). CPU includes the worker's 2,000-job warm-up (Redis's: the seeding too).
#   scripts/side-by-side/bullmq-s6-proc.sh [--out FILE]   (any argument is passed on to the peers' run.sh,
#   e.g. --out FILE appends its RESULT JSON lines to FILE, as run.sh does; FILE absolute, bench.cjs runs elsewhere)
# The /proc reads (a ps walk of the run's processes every 100 ms) run on the same cores as BullMQ.
set -uo pipefail
PEERS=${PEERS:-../shared/peers}
[ -x "$PEERS/run.sh" ] || { echo "$PEERS/run.sh not found (set PEERS)" >&2; exit 2; }
log=$(mktemp)
"$PEERS/run.sh" --scenarios S3 --c3 10000 --delay3 2000 --n3 20000 "$@" > "$log" 2>&1 &
run=$!
declare -A hwm cpu order
n=0; first=""; redis=0; redis_at_first=""
descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'; }
while kill -0 "$run" 2>/dev/null; do
  for p in $(descendants "$run"); do
    case "$(cat "/proc/$p/cmdline" 2>/dev/null | tr '\0' ' ')" in
      *redis-server*) t=$(ticks "$p"); [ -n "$t" ] && redis=$t ;;
      *"bench.cjs worker"*)
        h=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null); [ -z "$h" ] && continue
        if [ -z "${order[$p]:-}" ]; then n=$((n + 1)); order[$p]=$n; [ "$n" = 1 ] && first=$p; fi
        hwm[$p]=$h; cpu[$p]=$(ticks "$p") ;;
    esac
  done
  if [ -n "$first" ] && [ -z "$redis_at_first" ] && ! kill -0 "$first" 2>/dev/null; then redis_at_first=$redis; fi
  sleep 0.1
done
wait "$run"
grep '^RESULT ' "$log" | grep -o '"variant":"throughput[^"]*","metrics":{[^}]*}'
for p in "${!order[@]}"; do
  [ "${order[$p]}" = 1 ] && echo "S6 worker (pid $p): VmHWM $((hwm[$p] / 1024)) MiB, CPU ${cpu[$p]}0 ms ($(( ${cpu[$p]} * 10000 / 22000 )) µs per job of 22,000)"
done
echo "redis-server CPU when it ended: ${redis_at_first:-?}0 ms; load average $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$log"
