#!/usr/bin/env bash
# Installs what is missing, builds, and runs the daemon in the foreground with the bundled
# config. Arguments go to the daemon; without any it runs the basic modes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if (($# == 0)); then set -- -tcp -udp; fi
exec node dist/src/cli/main.js -c etc/portsentry.conf "$@"
