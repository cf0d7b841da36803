#!/bin/bash
# drain.sh <repo root> <concurrency> <jobs> <outdir>: a small S2-like drain with redis-cli MONITOR on it,
# to see which scripts and commands each job costs (docs/performance.md, "Where the time goes").
# Starts its own redis-server, the API and the worker from the Release build (no-op simulated LLM),
# drains 2,000 warm-up jobs, pauses the worker (SIGSTOP), submits <jobs> over HTTP (seed.cjs, node),
# then records MONITOR and INFO commandstats while the worker drains them. Then:
#   python3 scripts/monitor/breakdown.py . <outdir> <jobs>
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
WT=$(realpath $1); C=$2; N=$3; OUT=$(realpath -m $4); mkdir -p $OUT
P=$(( 20000 + RANDOM % 20000 )); AP=$(( 40000 + RANDOM % 10000 ))
redis-server --port $P --save '' --appendonly no --daemonize no > $OUT/redis.log 2>&1 & RP=$!
sleep 0.5
export ConnectionStrings__redis=127.0.0.1:$P DOTNET_ENVIRONMENT=Production ASPNETCORE_ENVIRONMENT=Production
# From their own folders: appsettings.json (log levels) is read from the working directory.
cd $WT/Orchestrator.Api/bin/Release/net10.0
ASPNETCORE_URLS=http://127.0.0.1:$AP Auth__AllowAnonymous=true dotnet Orchestrator.Api.dll > $OUT/api.log 2>&1 & APID=$!
cd $WT/Orchestrator.Worker/bin/Release/net10.0
ASPNETCORE_URLS=http://127.0.0.1:0 Worker__Concurrency=$C Simulator__Latency=00:00:00 Simulator__FailureRate=0 Simulator__PermanentFailureRate=0 \
  dotnet Orchestrator.Worker.dll > $OUT/worker.log 2>&1 & WP=$!
for i in $(seq 1 120); do curl -sf http://127.0.0.1:$AP/alive >/dev/null && break; sleep 0.5; done
R="redis-cli -p $P"
drained() { for i in $(seq 1 600); do r=$($R HGET '{orch}:dispatch' ready); l=$($R XLEN '{orch}:stream'); [ "${r:-0}" = 0 ] && [ "$l" = 0 ] && return; sleep 0.2; done; echo "not drained"; }
node "$HERE/seed.cjs" $AP 2000; drained
kill -STOP $WP
node "$HERE/seed.cjs" $AP $N
$R SCRIPT LIST >/dev/null 2>&1
$R INFO commandstats > $OUT/before.txt
$R MONITOR > $OUT/monitor.txt & MP=$!
sleep 0.3
kill -CONT $WP
drained
sleep 0.3
kill $MP
$R INFO commandstats > $OUT/after.txt
kill $WP $APID; wait $WP $APID 2>/dev/null
$R SHUTDOWN NOSAVE >/dev/null 2>&1; wait $RP 2>/dev/null
echo "port $P done"
