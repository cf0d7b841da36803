#!/usr/bin/env bash
# BullMQ and Orchestrator on the same scenarios, alternating, in one session (issue 17's table).
# Run from the project root after `dotnet build -c Release` (ours runs with --no-build, and s1-http.sh
# starts the Release build's Orchestrator.Api.dll); needs node/npm and ../shared/peers.
#   scripts/side-by-side/run.sh [--runs 3] [--scenarios S2,S3,S4,S5,S6] [--s1-amount 200000] [--out DIR]
#     --runs N         runs of each side, alternating (default 3)
#     --scenarios L    comma-separated, of S2,S3,S4,S5,S6 (default all five); S1 over HTTP always runs
#     --s1-amount N    requests per S1 measurement, passed to s1-http.sh as --amount (default 200000,
#                      s1-http.sh's own default is 50000): the load client counts whole seconds, a
#                      step of 17-25 % of a 50,000-request run here and ~5-8 % of a 200,000 one
#     --out DIR        where every raw figure and table.md go (default side-by-side-<UTC time>)
# Each run: BullMQ (../shared/peers/run.sh; S5 with its 5 s lock only, the variant compared; S6's shape
# through bullmq-s6-proc.sh, which also reads its worker's peak RSS from /proc) then ours
# (Orchestrator.Benchmarks --json), each on its own fresh redis-server; then S1 over HTTP
# (../shared/peers/s1-http.sh --runs N --amount <--s1-amount>, which alternates itself);
# then the table (table.py): medians of the runs, ratio, target, met or not.
set -euo pipefail
RUNS=3; SCEN=S2,S3,S4,S5,S6; S1_AMOUNT=200000; OUT=side-by-side-$(date -u +%Y%m%dT%H%M%SZ)
while [ $# -gt 0 ]; do case "$1" in
  --runs) RUNS=$2; shift 2;; --scenarios) SCEN=$2; shift 2;; --out) OUT=$2; shift 2;;
  --s1-amount) S1_AMOUNT=$2; shift 2;;
  *) echo "unknown argument $1" >&2; exit 2;; esac; done
PEERS=../shared/peers
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"; OUT=$(realpath "$OUT")
echo "results in $OUT; load average $(cut -d' ' -f1-3 /proc/loadavg)"
peer_scen=$(echo "$SCEN" | tr ',' '\n' | grep -v '^S6$' | grep -v '^S1$' | paste -sd, -)
for r in $(seq 1 "$RUNS"); do
  if [ -n "$peer_scen" ]; then
    echo "run $r/$RUNS BullMQ $peer_scen"
    "$PEERS/run.sh" --scenarios "$peer_scen" --s5-variants tuned --out "$OUT/bullmq.jsonl" > "$OUT/bullmq-$r.log" 2>&1 || true  # its exit status is its cleanup's
  fi
  if echo "$SCEN" | grep -q S6; then
    echo "run $r/$RUNS BullMQ S6 (S3 shape: 10,000 in flight, 2 s handler; worker peak RSS from /proc)"
    PEERS=$PEERS "$HERE/bullmq-s6-proc.sh" --out "$OUT/bullmq-s6.jsonl" > "$OUT/bullmq-s6-$r.log" 2>&1 || true
  fi
  echo "run $r/$RUNS Orchestrator $SCEN"
  ( ulimit -n 20000 2>/dev/null || true
    dotnet run -c Release --no-build --project Orchestrator.Benchmarks -- --scenario "$SCEN" --runs 1 --json ) >> "$OUT/orchestrator.jsonl" 2> "$OUT/orchestrator-$r.log"
done
echo "S1 over HTTP ($RUNS alternating runs of $S1_AMOUNT requests)"
"$PEERS/s1-http.sh" --runs "$RUNS" --amount "$S1_AMOUNT" > "$OUT/s1-http.log" 2>&1 || true
python3 "$HERE/table.py" "$OUT" | tee "$OUT/table.md"
