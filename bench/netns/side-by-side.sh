#!/usr/bin/env bash
# side-by-side.sh ROUNDS OUT.jsonl: netns-bench's idle, flood and benign scenarios against the C
# PortSentry 2.x and against this build, interleaved round by round (C, ours, C, ours ...), so
# that a slower or busier machine moves both. Every result line is tagged with its daemon and
# appended to OUT.jsonl; `node dist/bench/side-by-side-summary.js OUT.jsonl` prints medians and
# ranges. Needs root, netns-bench (NETNS_BENCH) and a C build (PORTSENTRY_C: the `portsentry`
# binary built from its public source, e.g. `cmake -B build && make -C build`).
#
#   NETNS_BENCH=/path/netns-bench PORTSENTRY_C=/path/portsentry bash bench/netns/side-by-side.sh 3 out.jsonl
#
# Scenarios: idle (netns-bench's default, log only: BLOCK_*=0), idle-blocking (BLOCK_*=1, as
# shipped: our kernel trap armed), flood and benign (log only, as netns-bench runs them: with
# KERNEL_TRAP="1" in our template the kernel observes the modes, the capture is not opened).
# Env: SCENARIOS ("idle idle-blocking flood benign"), OURS_MODES ("-atcp -audp", the shipped
# unit's), QUIET_WAIT (20).
set -euo pipefail
rounds=${1:?rounds}
out=${2:?output file}
B=${NETNS_BENCH:?path of netns-bench}
C=${PORTSENTRY_C:?path of the C portsentry binary}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
main_js=$root/dist/src/cli/main.js
[[ -f $main_js ]] || { echo "build first: $main_js missing" >&2; exit 2; }
# The installed command's node flags, read from the entry's shebang so that both stay one.
read -r -a node_flags < <(head -1 "$root/src/cli/main.ts" | sed -e 's/^#!.*env -S node//')
read -r -a ours_modes <<<"${OURS_MODES:--atcp -audp}"
scenarios=${SCENARIOS:-idle idle-blocking flood benign}
export QUIET_WAIT=${QUIET_WAIT:-20} READY_RE="active and listening" TCPDUMP_REF=0

run_one() { # DAEMON SCENARIO
  local who=$1 scenario=$2 cmd tmpl detect
  if [[ $who == c ]]; then
    tmpl=$here/c-portsentry.conf.tmpl
    detect='Scan from: |attackalert: .* from host: '
    cmd=("$C" --stealth -i '{IFACE}' -c '{CONF}')
  else
    tmpl=$here/portsentry-ts.conf.tmpl
    detect='attackalert: .* from host: '
    cmd=(node "${node_flags[@]}" "$main_js" -c '{CONF}' -i '{IFACE}' "${ours_modes[@]}")
  fi
  # Our blocks persist across restarts by design: drop our table before each start.
  local hook='ip netns exec psb-target nft delete table inet portsentry 2>/dev/null; true'
  local script=("$B/run.sh" "$scenario") block=0
  [[ $scenario == idle* ]] && script=("$B/idle.sh")
  [[ $scenario == idle-blocking ]] && block=1
  PSB_BLOCK_TCP=$block PSB_BLOCK_UDP=$block CONF_TEMPLATE=$tmpl DETECT_RE=$detect PRE_RUN_HOOK=$hook RUNS=1 NETNS_BENCH=$B \
    bash "${script[@]}" -- "${cmd[@]}" 2>>"$out.log" |
    grep '^{' | grep -v '"summary"' | sed -e "s/^{/{\"daemon\":\"$who\",\"round\":$3,\"block\":$block,/" >>"$out"
}

for ((r = 1; r <= rounds; r++)); do
  for s in $scenarios; do
    for who in c ours; do
      echo "round $r/$rounds: $s, $who" >&2
      run_one "$who" "$s" "$r"
    done
  done
done
echo "results: $out (stderr of the harness: $out.log)" >&2
