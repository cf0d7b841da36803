# breakdown.py <repo root> <outdir> <jobs>: script calls and Redis commands per job from drain.sh's
# MONITOR capture, by script. A script is named by the SHA1 of its text as LuaScripts loads it
# (includes pasted in), which is the SHA that EVALSHA carries; commands a script runs appear in
# MONITOR as '[0 lua]' lines right after its EVALSHA.
import hashlib, os, re, sys, collections
wt, out, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
shas = {}
for base in [f'{wt}/Orchestrator.Jobs/Scripts', f'{wt}/Orchestrator.Worker/Llm/FlowControl']:
    inc = f'{wt}/Orchestrator.Jobs/Scripts/includes'
    for f in os.listdir(base):
        if not f.endswith('.lua'): continue
        src = open(os.path.join(base, f), encoding='utf-8-sig').read()
        src = re.sub(r'^--@include (?P<name>[a-z-]+)\s*$', lambda m: open(f'{inc}/{m.group("name")}.lua', encoding='utf-8-sig').read(), src, flags=re.M)
        shas[hashlib.sha1(src.encode()).hexdigest()] = f[:-4]
top = collections.Counter(); inner = collections.defaultdict(collections.Counter); plain = collections.Counter()
cur = None
line_re = re.compile(r'^\S+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?(?: "([^"]*)")?')
for line in open(f'{out}/monitor.txt', errors='replace'):
    m = line_re.match(line)
    if not m: continue
    src, cmd = m.group(1), m.group(2).lower()
    if src == 'lua':
        inner[cur][cmd] += 1
        continue
    if cmd in ('evalsha', 'eval'):
        name = shas.get(m.group(3), m.group(3)[:10]) if cmd == 'evalsha' else 'eval:?'
        top[name] += 1; cur = name
    else:
        plain[cmd] += 1; cur = None
print(f'jobs {jobs}')
tot_s = sum(top.values()); tot_c = tot_s + sum(plain.values()) + sum(sum(c.values()) for c in inner.values())
print(f'script calls/job {tot_s/jobs:.2f}; commands/job (top-level + inside scripts) {tot_c/jobs:.1f}')
for name, n in top.most_common():
    ic = inner[name]
    print(f'  {name:16s} calls/job {n/jobs:.3f}  inner cmds/job {sum(ic.values())/jobs:5.1f}  per call {sum(ic.values())/n:6.1f}  ' + ', '.join(f'{k} {v/jobs:.2f}' for k, v in ic.most_common(14)))
print('plain commands/job: ' + ', '.join(f'{k} {v/jobs:.3f}' for k, v in plain.most_common()))
