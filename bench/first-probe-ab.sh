#!/usr/bin/env bash
# First probe → log line, compared fairly: runs netns-bench's detect-types scenario (one fresh
# daemon per scan) against several variants, alternating them round by round so that the
# machine's drift hits each alike, and prints each variant's median, mean and share ≤ 1 ms.
#
#   NETNS_BENCH=/path/to/netns-bench bash bench/first-probe-ab.sh ROUNDS VARIANT...
#
# VARIANT: "ROOT|NODE_FLAGS" runs `node NODE_FLAGS ROOT/dist/src/cli/main.js -stcp -sudp`
# (ROOT: a built checkout; the installed command's flags are not added for you); "floor":
# bench/first-line-floor.c, the least any daemon can do; "floor-node": the least a node process
# that reads the capture as the daemon does can do (bench/first-line-floor-node.ts, built).
# Env: FAMILIES ("4 6"), SCANS ("sS sF sU"); PRECISE=1 runs a copy of the harness whose log
# reader waits on inotify instead of polling every millisecond (bench/precise-stamper.py): the
# 0–1 ms of polling error is gone, the reader's own wake-up (~0.15 ms) stays.
# Traffic stays in the harness's namespaces; each round is bounded by its timeouts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${NETNS_BENCH:?set NETNS_BENCH to the netns-bench directory}"
rounds=${1:?usage: first-probe-ab.sh ROUNDS VARIANT...}
shift
(($# > 0)) || { echo "usage: first-probe-ab.sh ROUNDS VARIANT..." >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
harness=$NETNS_BENCH
if [[ ${PRECISE:-0} == 1 ]]; then
  harness=$work/netns-bench
  cp -r "$NETNS_BENCH" "$harness"
  chmod -R u+w "$harness"
  python3 "$here/precise-stamper.py" "$harness/lib/psb.py"
fi
export CONF_TEMPLATE="$harness/examples/portsentry-ts-fw.conf.tmpl" READY_RE='active and listening' \
  DETECT_RE='attackalert: .* from host: ' FAMILIES="${FAMILIES:-4 6}" SCANS="${SCANS:-sS sF sU}" QUIET_WAIT=5

command_of() {
  case $1 in
    floor)
      [[ -x $work/floor ]] || gcc -O2 -o "$work/floor" "$here/first-line-floor.c" -lpcap
      echo "$work/floor {IFACE}"
      ;;
    floor-node) echo "node $here/../dist/bench/first-line-floor-node.js {IFACE}" ;;
    *)
      local root=${1%%|*} flags=${1#*|}
      echo "node $flags $root/dist/src/cli/main.js -c {CONF} -i {IFACE} -stcp -sudp"
      ;;
  esac
}

for ((round = 1; round <= rounds; round++)); do
  i=0
  for variant in "$@"; do
    # shellcheck disable=SC2046 # the command is split on purpose
    "$harness/run.sh" detect-types -- $(command_of "$variant") 2>/dev/null |
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
