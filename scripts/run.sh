#!/usr/bin/env bash
# Installs what is missing, builds, and runs the daemon in the foreground with the bundled
# config. Arguments go to the daemon; without any it runs the advanced modes, as the systemd
# unit does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if (($# == 0)); then set -- -atcp -audp; fi
exec node dist/src/cli/main.js -c etc/portsentry.conf "$@"
