#!/usr/bin/env bash
# Follows one job through the Aspire dashboard, from a clean start to a clean stop:
#   1. starts the AppHost headless (dashboard telemetry API open without a login),
#   2. submits a job whose first attempts fail (a forced failure rate), waits until it is final,
#   3. prints, from the dashboard's telemetry API, the submission span (API, POST /jobs) and every
#      attempt span (Worker, "llm attempt") linked to it, with the Redis spans and log lines of
#      each attempt's trace,
#   4. stops the AppHost and everything it started.
# Exits non-zero if the dashboard does not show one linked attempt span per attempt.
#
# Usage: scripts/show-job-trace.sh [--keep]
#   --keep   leave the AppHost running after printing (Ctrl+C stops it), to look at the trace in
#            the dashboard at http://localhost:15080
# Settings (environment variables):
#   FAIL_FIRST=2          attempts that fail transiently before one succeeds (job metadata
#                         simulator.failFirstAttempts)
#   FAILURE_RATE=0        Simulator:FailureRate for every other call (0 keeps the run deterministic)
#   RETRY_BASE_DELAY=00:00:00.500   Retry:BaseDelay
#   STARTUP_TIMEOUT=300   seconds to wait for the API to be healthy (first run builds the solution)
# Needs: the .NET 10 SDK, redis-server (or a container runtime), curl, jq. Uses ports 3000 (API)
# and 15080 (dashboard), like `dotnet run --project Orchestrator.AppHost`.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
api=http://localhost:3000
dashboard=http://localhost:15080
fail_first=${FAIL_FIRST:-2}
failure_rate=${FAILURE_RATE:-0}
startup_timeout=${STARTUP_TIMEOUT:-300}
keep=false
[[ "${1:-}" == "--keep" ]] && keep=true

for tool in dotnet curl jq; do
  command -v "$tool" >/dev/null || { echo "show-job-trace: '$tool' is required" >&2; exit 2; }
done
if curl -s -o /dev/null --max-time 2 "$api/health" || curl -s -o /dev/null --max-time 2 "$dashboard"; then
  echo "show-job-trace: something already answers on $api or $dashboard; stop it first" >&2
  exit 2
fi

work=$(mktemp -d)
log="$work/apphost.log"
apphost_pid=

# The process ids of $1 and of everything it started, transitively.
descendants() {
  local level=("$1") all=()
  while ((${#level[@]})); do
    all+=("${level[@]}")
    mapfile -t level < <(ps -eo pid=,ppid= | awk -v parents=" ${level[*]} " 'index(parents, " " $2 " ") { print $1 }')
  done
  echo "${all[@]}"
}

stop_apphost() {
  [[ -n "$apphost_pid" ]] || return 0
  # The orchestrator (DCP) runs as a daemon that watches the AppHost's pid (--monitor), and it runs
  # the API, the Worker and Redis: note all those processes before stopping the AppHost. SIGTERM
  # lets the AppHost stop its resources; DCP finishes after the AppHost exits. Whatever is left
  # after 90 s is killed, by pid.
  local tree more pid dcp alive
  read -r -a tree <<<"$(descendants "$apphost_pid")"
  for pid in "${tree[@]}"; do
    for dcp in $(pgrep -f -- "--monitor $pid " || true); do
      read -r -a more <<<"$(descendants "$dcp")"
      tree+=("${more[@]}")
    done
  done
  kill -TERM -- "-$apphost_pid" 2>/dev/null || true
  for _ in $(seq 1 90); do
    alive=0
    for pid in "${tree[@]}"; do
      if [[ -e /proc/$pid && "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; then alive=1; fi
    done
    ((alive)) || break
    sleep 1
  done
  if ((alive)); then
    kill -KILL -- "-$apphost_pid" 2>/dev/null || true
    for pid in "${tree[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  # Redis (local mode) runs in its data folder under $work: report it if it outlived the AppHost.
  local leftover="" proc
  for proc in /proc/[0-9]*; do
    [[ "$(readlink "$proc/cwd" 2>/dev/null)" == "$work"* ]] && leftover+=" ${proc#/proc/}"
  done
  [[ -z "$leftover" ]] || echo "show-job-trace: still running in $work after the AppHost stopped:$leftover" >&2
  apphost_pid=
}

cleanup() {
  local status=$?
  stop_apphost
  # 130: stopped with Ctrl+C (the normal end of --keep), not a failure worth the AppHost's output.
  if [[ $status -ne 0 && $status -ne 130 && -s "$log" ]]; then
    echo "--- last lines of the AppHost output ($log) ---" >&2
    tail -n 30 "$log" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "Starting the AppHost (log: $log) ..."
set -m # job control: the AppHost gets a process group of its own, so it can be stopped as a whole
ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true \
Simulator__FailureRate="$failure_rate" \
Simulator__PermanentFailureRate=0 \
Retry__BaseDelay="${RETRY_BASE_DELAY:-00:00:00.500}" \
Retry__UseJitter=false \
Redis__DataPath="$work/redis" \
  dotnet run --project "$repo/Orchestrator.AppHost" >"$log" 2>&1 &
apphost_pid=$!
set +m

deadline=$((SECONDS + startup_timeout))
until curl -sf -o /dev/null --max-time 2 "$api/health"; do
  kill -0 "$apphost_pid" 2>/dev/null || { echo "The AppHost exited during start." >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "The API was not healthy after ${startup_timeout} s." >&2; exit 1; }
  sleep 2
done
echo "API healthy at $api; dashboard at $dashboard"

body=$(jq -cn --arg n "$fail_first" \
  '{prompt: "Explain span links in one sentence.", metadata: {"simulator.failFirstAttempts": $n}}')
job_id=$(curl -sf -X POST "$api/jobs" -H 'content-type: application/json' -d "$body" | jq -r .jobId)
echo "Submitted job $job_id (simulator.failFirstAttempts=$fail_first, Simulator:FailureRate=$failure_rate)"

deadline=$((SECONDS + 120))
while :; do
  job=$(curl -sf "$api/jobs/$job_id")
  status=$(jq -r .status <<<"$job")
  [[ "$status" == completed || "$status" == failed ]] && break
  ((SECONDS < deadline)) || { echo "Job $job_id not final after 120 s (status $status)." >&2; exit 1; }
  sleep 0.5
done
attempts=$(jq -r .attempts <<<"$job")
echo "Job $job_id is $status after $attempts attempt(s):"
jq -r '.history[] | "  attempt \(.attempt): \(.outcome)\(if .retryDelayMs then ", retry in \(.retryDelayMs) ms" else "" end)\(if .error then " (\(.error.type))" else "" end)"' <<<"$job"

# Every attribute value as a string, whatever its OTLP type.
jq_lib='
  def attr($k): first((.attributes // [])[] | select(.key == $k) | .value | to_entries[0].value | tostring) // null;
  def spans: [.data.resourceSpans[]? | .scopeSpans[]? | .spans[]?];'

# Spans reach the dashboard about a second after they end: poll until all are there.
deadline=$((SECONDS + 60))
while :; do
  submission=$(curl -sf "$dashboard/api/telemetry/spans?resource=api&limit=10000" |
    jq -c --arg job "$job_id" "$jq_lib"' spans | map(select(.kind == 2 and attr("orchestrator.job.id") == $job)) | first // empty')
  attempt_spans=$(curl -sf "$dashboard/api/telemetry/spans?resource=worker&limit=10000" |
    jq -c --arg job "$job_id" "$jq_lib"' spans | map(select(.name == "llm attempt" and attr("orchestrator.job.id") == $job))
      | sort_by(attr("orchestrator.attempt") | tonumber)')
  [[ -n "$submission" && $(jq length <<<"$attempt_spans") -ge "$attempts" ]] && break
  ((SECONDS < deadline)) || { echo "The dashboard did not show the submission and $attempts attempt span(s) within 60 s." >&2; exit 1; }
  sleep 1
done

# Redis spans are exported in batches (every 10 s) once their parent span has ended: wait for each
# attempt's trace to show at least one child span, for a while.
deadline=$((SECONDS + 30))
for trace in $(jq -r '.[].traceId' <<<"$attempt_spans"); do
  until [[ $(curl -sf "$dashboard/api/telemetry/traces/$trace" | jq "$jq_lib"' spans | length') -gt 1 ]]; do
    ((SECONDS < deadline)) || break 2
    sleep 1
  done
done

sub_trace=$(jq -r .traceId <<<"$submission")
sub_span=$(jq -r .spanId <<<"$submission")
echo
echo "Submission span (resource api):"
jq -r "$jq_lib"' "  \(.name)  trace \(.traceId)  span \(.spanId)  orchestrator.job.id=\(attr("orchestrator.job.id"))  orchestrator.idempotent_replay=\(attr("orchestrator.idempotent_replay"))"' <<<"$submission"
children=$(curl -sf "$dashboard/api/telemetry/traces/$sub_trace" |
  jq -r --arg root "$sub_span" "$jq_lib"' spans | map(select(.parentSpanId == $root) | .name) | join(", ")')
echo "  child spans: ${children:-none}"
echo "  $dashboard/traces/detail/$sub_trace"
echo
echo "Attempt spans (resource worker), each the root of its own trace and linked to the submission:"
failures=0
while read -r span; do
  trace=$(jq -r .traceId <<<"$span")
  jq -r "$jq_lib"' "  attempt \(attr("orchestrator.attempt"))/\(attr("orchestrator.max_attempts"))  outcome=\(attr("orchestrator.attempt.outcome"))"
    + (if attr("orchestrator.retry.delay_ms") then "  retry.delay_ms=\(attr("orchestrator.retry.delay_ms"))" else "" end)
    + (if attr("error.type") then "  error.type=\(attr("error.type"))" else "" end)
    + "  gen_ai.request.model=\(attr("gen_ai.request.model"))"
    + (if attr("gen_ai.usage.output_tokens") then "  gen_ai.usage.input_tokens=\(attr("gen_ai.usage.input_tokens")) gen_ai.usage.output_tokens=\(attr("gen_ai.usage.output_tokens"))" else "" end)
    + "\n    trace \(.traceId)  span \(.spanId)  parent \(.parentSpanId // "none")"
    + "\n    links: \([(.links // [])[] | "trace \(.traceId) span \(.spanId)"] | join(", "))"' <<<"$span"
  if jq -e --arg t "$sub_trace" --arg s "$sub_span" '[(.links // [])[] | select(.traceId == $t and .spanId == $s)] | length == 1' <<<"$span" >/dev/null \
     && [[ "$trace" != "$sub_trace" ]]; then
    echo "    -> links to the submission span: yes"
  else
    echo "    -> links to the submission span: NO"
    failures=$((failures + 1))
  fi
  children=$(curl -sf "$dashboard/api/telemetry/traces/$trace" |
    jq -r --arg root "$(jq -r .spanId <<<"$span")" "$jq_lib"' spans | map(select(.parentSpanId == $root) | .name) | join(", ")')
  echo "    child spans: ${children:-none}"
  curl -sf "$dashboard/api/telemetry/logs?traceId=$trace&limit=50" |
    jq -r '[.data.resourceLogs[]? | .scopeLogs[]? | .logRecords[]?] | sort_by(.timeUnixNano)[]
      | "    log [\(.severityText)] \(.body.stringValue)  (JobId=\(first(.attributes[]? | select(.key == "JobId") | .value | to_entries[0].value) // "?"), Attempt=\(first(.attributes[]? | select(.key == "Attempt") | .value | to_entries[0].value | tostring) // "?"))"'
done < <(jq -c '.[]' <<<"$attempt_spans")

linked=$(jq length <<<"$attempt_spans")
echo
if ((failures == 0 && linked == attempts)); then
  echo "OK: $linked attempt span(s) for $attempts attempt(s), every one linked to submission trace $sub_trace span $sub_span."
else
  echo "FAILED: $linked attempt span(s) for $attempts attempt(s), $failures not linked to the submission." >&2
  exit 1
fi

if $keep; then
  echo "The AppHost keeps running: $dashboard/traces (Ctrl+C stops it)."
  wait "$apphost_pid" || true
fi
