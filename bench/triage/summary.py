"""Summarises `atalaya tickets triage --trace` output: tickets/s over the wall time (which
includes process start and model loading), per-ticket latency from the traces, per-step
p50/p99, statuses."""
import argparse, json, statistics, sys

ap = argparse.ArgumentParser()
ap.add_argument('file')
ap.add_argument('--wall', type=float, required=True)
ap.add_argument('--concurrency', type=int, default=1)
ap.add_argument('--round', type=int, default=1)
a = ap.parse_args()

def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return round(xs[k], 3)

lines = [json.loads(l) for l in open(a.file, encoding='utf-8') if l.strip()]
ok = [l for l in lines if 'error' not in l]
lat = [l['elapsed_ms'] for l in ok]
steps = {}
for l in ok:
    for e in l.get('trace', []):
        if e.get('status') != 'skipped':
            steps.setdefault(e['step'], []).append(e['latency_ms'])
status = {}
for l in ok:
    status[l['status']] = status.get(l['status'], 0) + 1
print(json.dumps({
    'bench': 'triage', 'round': a.round, 'concurrency': a.concurrency,
    'tickets': len(lines), 'errors': len(lines) - len(ok),
    'wall_s': round(a.wall, 3), 'tickets_per_s_wall': round(len(ok) / a.wall, 2),
    'latency_ms': {'p50': pct(lat, 50), 'p99': pct(lat, 99), 'mean': round(statistics.mean(lat), 3) if lat else None},
    'steps_ms': {k: {'p50': pct(v, 50), 'p99': pct(v, 99)} for k, v in steps.items()},
    'status': status,
}))
