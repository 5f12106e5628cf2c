#!/usr/bin/env bash
# Installs what portsentry-ts needs on Debian 12 (as root), then the npm packages, then builds.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Runtime: libpcap (capture), nftables/iptables/ipset (blockers), iproute2 (routes).
# Tests: real scanners, a real syslog daemon, tcpdump for captures.
packages=(build-essential python3 libpcap-dev nftables iptables ipset iproute2 iputils-ping
  nmap hping3 masscan rsyslog tcpdump fail2ban groff-base man-db systemd logrotate libcap2-bin)

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
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
bash scripts/build.sh
