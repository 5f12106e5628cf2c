#!/usr/bin/env bash
# First probe → log line, compared fairly: runs netns-bench's detect-types scenario (one fresh
# daemon per scan) against several variants, alternating them round by round so that the
# machine's drift hits each alike, and prints each variant's median, mean and share ≤ 1 ms.
#
#   NETNS_BENCH=/path/to/netns-bench bash bench/first-probe-ab.sh ROUNDS VARIANT...
#
# VARIANT: "ROOT|NODE_FLAGS" runs `node NODE_FLAGS ROOT/dist/src/cli/main.js -stcp -sudp`
# (ROOT: a built checkout; the installed command's flags are not added for you), or "floor":
# bench/first-line-floor.c, the least any daemon can do. Env: FAMILIES ("4 6"), SCANS
# ("sS sF sU"). Traffic stays in the harness's namespaces; each round is bounded by its timeouts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${NETNS_BENCH:?set NETNS_BENCH to the netns-bench directory}"
rounds=${1:?usage: first-probe-ab.sh ROUNDS VARIANT...}
shift
(($# > 0)) || { echo "usage: first-probe-ab.sh ROUNDS VARIANT..." >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CONF_TEMPLATE="$NETNS_BENCH/examples/portsentry-ts-fw.conf.tmpl" READY_RE='active and listening' \
  DETECT_RE='attackalert: .* from host: ' FAMILIES="${FAMILIES:-4 6}" SCANS="${SCANS:-sS sF sU}" QUIET_WAIT=5

command_of() {
  if [[ $1 == floor ]]; then
    [[ -x $work/floor ]] || gcc -O2 -o "$work/floor" "$here/first-line-floor.c" -lpcap
    echo "$work/floor {IFACE}"
  else
    local root=${1%%|*} flags=${1#*|}
    echo "node $flags $root/dist/src/cli/main.js -c {CONF} -i {IFACE} -stcp -sudp"
  fi
}

for ((round = 1; round <= rounds; round++)); do
  i=0
  for variant in "$@"; do
    # shellcheck disable=SC2046 # the command is split on purpose
    "$NETNS_BENCH/run.sh" detect-types -- $(command_of "$variant") 2>/dev/null |
      grep -o '"latency_ms": [0-9.]*' | awk '{print $2}' >> "$work/$i" || true
    i=$((i + 1))
  done
done

i=0
for variant in "$@"; do
  python3 - "$variant" "$work/$i" <<'EOF'
import statistics, sys
name, path = sys.argv[1], sys.argv[2]
try:
    x = sorted(float(l) for l in open(path) if l.strip())
except FileNotFoundError:
    x = []
if not x:
    print(f"{name}: no detection measured")
else:
    le1 = 100 * sum(v <= 1.0 for v in x) // len(x)
    print(f"{name}: n={len(x)} median={statistics.median(x):.3f} ms mean={statistics.mean(x):.3f} "
          f"min={x[0]:.3f} max={x[-1]:.3f} <=1ms={le1}%")
EOF
  i=$((i + 1))
done
