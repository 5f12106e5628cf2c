#!/usr/bin/env bash
# Installs what portsentry-ts needs on Debian 12 (as root), then the npm packages, then builds.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime: libpcap (capture), nftables/iptables/ipset (blockers), iproute2 (routes).
# Tests: real scanners, a real syslog daemon, tcpdump for captures, a real Prometheus that
# scrapes METRICS_LISTEN (test/integration/prometheus.test.ts starts its own, on a lab's loopback),
# lintian for the .deb that scripts/build-deb.sh builds (dpkg-deb comes with dpkg), a real
# redis-server for the fleet tests (each test starts its own, on its own port and directory).
packages=(build-essential python3 libpcap-dev nftables iptables ipset iproute2 iputils-ping
  nmap hping3 masscan rsyslog tcpdump fail2ban groff-base man-db systemd logrotate libcap2-bin
  prometheus lintian redis-server)
# Packages whose Debian service must not run here: prometheus would scrape and store on :9090
# for good, redis-server would hold :6379. The tests start their own instance with their own
# config and data directory.
no_service=(prometheus redis-server)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d exit 101 tells the maintainer scripts not to start any service while we
  # install (unless the machine has one already, e.g. a container image's).
  policy_rc=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy_rc ]]; then
    printf '#!/bin/sh\n# setup.sh: no service starts during this install\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    own_policy=1
    trap '[[ $own_policy == 1 ]] && rm -f "$policy_rc"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if ((own_policy)); then rm -f "$policy_rc" && own_policy=0; fi
fi
# ... and not at the next boot either (the package enables it); stopped if it runs already.
for unit in "${no_service[@]}"; do
  if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
    echo "setup: disabling the $unit service (tests run their own)" >&2
    systemctl disable --quiet "$unit" 2>/dev/null || true
  fi
  if [[ -d /run/systemd/system ]] && systemctl is-active --quiet "$unit" 2>/dev/null; then
    systemctl stop "$unit" || true
  fi
done

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
bash scripts/build.sh
