#!/usr/bin/env bash
# Installs what is missing, builds, and runs the daemon in the foreground with the bundled
# config. Arguments go to the daemon; without any it runs the advanced modes, as the systemd
# unit does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if (($# == 0)); then set -- -atcp -audp; fi
# The young generation bounded as the installed command (dist/src/cli/main.js's first line)
# bounds it: a spoofed flood makes every packet's source a surviving object.
exec node --max-semi-space-size=1 --optimize-for-size dist/src/cli/main.js -c etc/portsentry.conf "$@"
