#!/usr/bin/env python3
"""table.py DIR: the side-by-side table (markdown) from run.sh's results: medians per figure."""
import json, os, re, statistics, sys
from collections import defaultdict

out = sys.argv[1]

def load(name, ours):
    figures = defaultdict(lambda: defaultdict(list))
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return figures
    for line in open(path):
        line = line.strip()
        if not line.startswith('{'):
            continue
        o = json.loads(line)
        metrics = o if ours else o.get('metrics', {})
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                figures[(o['scenario'], o['variant'])][k].append(v)
    return figures

ours, bull, bull6 = load('orchestrator.jsonl', True), load('bullmq.jsonl', False), load('bullmq-s6.jsonl', False)

def med(figs, key, metric):
    values = figs.get(key, {}).get(metric, [])
    return (statistics.median(values), len(values)) if values else (None, 0)

def fmt(v, unit=''):
    if v is None:
        return 'n/a'
    return (f'{v:,.0f}' if abs(v) >= 100 else f'{v:.3g}') + unit

rows = []
def ratio_row(name, b, o, target=1.5, extra=''):
    (bv, bn), (ov, on) = b, o
    if bv is None and ov is None:
        return
    r = ov / bv if bv and ov else None
    rows.append((name, fmt(bv), fmt(ov) + extra, fmt(r) if r else 'n/a', f'≥ {target} ×', 'yes' if r and r >= target else 'no', min(bn, on)))

def s6_key():
    return next((k for k in ours if k[0] == 'S6' and 'share_of_ideal' in ours[k]), ('S6', '?'))

# S1 over HTTP: the line s1-http.sh prints
s1 = os.path.join(out, 's1-http.log')
if os.path.exists(s1):
    m = re.search(r'medians of (\d+): BullMQ\+Fastify ([\d.]+) jobs/s, Orchestrator ([\d.]+) jobs/s', open(s1).read())
    if m:
        n, b, o = int(m.group(1)), float(m.group(2)), float(m.group(3))
        rows.append(('S1 `POST /jobs` over HTTP, 64 connections (req/s)', fmt(b), fmt(o), fmt(o / b), '≥ 1.5 ×', 'yes' if o / b >= 1.5 else 'no', n))

def cpu(key):
    w, _ = med(ours, key, 'worker_cpu_us_per_job')
    r, _ = med(ours, key, 'redis_cpu_us_per_job')
    return f' (CPU/job: worker {fmt(w)} µs, Redis {fmt(r)} µs)' if w else ''

ratio_row('S2 no-op drain, concurrency 64 (jobs/s)', med(bull, ('S2', 'c64'), 'jobs_per_s'), med(ours, ('S2', 'concurrency=64'), 'jobs_per_s'), extra=cpu(('S2', 'concurrency=64')))
ratio_row('S2 no-op drain, concurrency 1 (jobs/s)', med(bull, ('S2', 'c1'), 'jobs_per_s'), med(ours, ('S2', 'concurrency=1'), 'jobs_per_s'), extra=cpu(('S2', 'concurrency=1')))
ratio_row('S4 fail twice then succeed (jobs/s)', med(bull, ('S4', 'c64'), 'jobs_per_s'), med(ours, ('S4', 'fail-2-then-succeed'), 'jobs_per_s'))

def target_row(name, b, o, target_text, met, unit=''):
    (bv, bn), (ov, on) = b, o
    if bv is None and ov is None:
        return
    rows.append((name, fmt(bv, unit), fmt(ov, unit), '—', target_text, ('yes' if met(ov) else 'no') if ov is not None else 'n/a', min(bn, on) if bn else on))

target_row('S3 burst, 100 ms calls, concurrency 500: share of ideal (warm)', med(bull, ('S3', 'throughput-c500'), 'ratio_to_ideal'), med(ours, ('S3', 'burst'), 'share_of_ideal'), '≥ 0.95', lambda v: v >= 0.95)
target_row('S3 steady 500 jobs/s, 100 ms calls: p99 submit → complete', med(bull, ('S3', 'latency@500/s'), 'p99_ms'), med(ours, ('S3', 'steady-500/s'), 'p99_ms'), '≤ 103 ms', lambda v: v <= 103, ' ms')
target_row('S5 kill -9 of the worker: recovery (BullMQ 5 s lock / ours 5 s lease)', med(bull, ('S5', 'lock=5s,stalled=5s'), 'recovery_s'), med(ours, ('S5', 'kill-9-half-way'), 'recovery_all_s'), '≤ 6 s', lambda v: v <= 6, ' s')
k6 = s6_key()
target_row('S6 10,000 in flight, 2 s calls (ours stream 100 tokens): share of ideal', med(bull6, ('S3', 'throughput-c10000'), 'ratio_to_ideal'), med(ours, k6, 'share_of_ideal'), '≥ 0.95', lambda v: v >= 0.95)
# BullMQ's S6 worker peak RSS: the line bullmq-s6-proc.sh prints in each run's log (VmHWM in MiB, warm-up
# included, as ours' worker_peak_rss_mb).
def bull_s6_rss():
    values = []
    for name in sorted(os.listdir(out)):
        if re.fullmatch(r'bullmq-s6-\d+\.log', name):
            m = re.search(r'S6 worker \(pid \d+\): VmHWM (\d+) MiB', open(os.path.join(out, name)).read())
            if m:
                values.append(float(m.group(1)))
    return (statistics.median(values), len(values)) if values else (None, 0)

target_row('S6 worker peak RSS (VmHWM, warm-up included)', bull_s6_rss(), med(ours, k6, 'worker_peak_rss_mb'), '< 500 MB', lambda v: v < 500, ' MB')

print(f'| scenario | BullMQ 6.7.0 | Orchestrator | ratio | target | met | runs |')
print('|---|---|---|---|---|---|---|')
for r in rows:
    print('| ' + ' | '.join(str(c) for c in r) + ' |')
