#!/usr/bin/env bash
# Installs what is missing, builds, and runs the daemon in the foreground with the bundled
# config. Arguments go to the daemon; without any it runs the advanced modes, as the systemd
# unit does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if (($# == 0)); then set -- -atcp -audp; fi
# With the node flags of the installed command (dist/src/cli/main.js's first line: a bounded
# young generation, optimized for size), so that a flood costs what it costs in production.
read -ra node_flags < <(sed -n '1s|^#!/usr/bin/env -S node ||p' dist/src/cli/main.js)
exec node "${node_flags[@]}" dist/src/cli/main.js -c etc/portsentry.conf "$@"
