#!/usr/bin/env bash
# Builds the Debian package from this checkout: bash scripts/build-deb.sh [OUT_DIR]
#   DEB_VERSION=0.1.0-2 bash scripts/build-deb.sh   another Debian revision (default <npm version>-1)
# Needs what setup.sh installs (it runs it) and dpkg-deb; no network beyond what `npm ci`
# fetched already. Output: OUT_DIR/portsentry-ts_<version>_<arch>.deb (default: dist/deb/).
#
# Layout: the application in /usr/lib/portsentry (dist/src, the native addons, the runtime
# node_modules), /usr/sbin/portsentry (a wrapper that execs node with the daemon's flags),
# /etc/portsentry/* and the other files in /etc as conffiles, the unit in /lib/systemd/system,
# man pages, logrotate, the fail2ban filter; the jail as an example (see docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:-$repo/dist/deb}

bash scripts/setup.sh >&2
name=portsentry-ts
upstream=$(node -p 'require("./package.json").version')
version=${DEB_VERSION:-$upstream-1}
arch=$(dpkg --print-architecture)
# The addons of better-sqlite3 and unix-dgram are built against this node's ABI: the package
# runs with the same major version only.
node_major=$(node -p 'process.versions.node.split(".")[0]')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
app=$root/usr/lib/portsentry
doc=$root/usr/share/doc/$name
install -d "$app" "$doc" "$root/usr/sbin" "$root/lib/systemd/system" "$root/etc/portsentry" \
  "$root/etc/default" "$root/etc/logrotate.d" "$root/etc/fail2ban/filter.d" \
  "$root/usr/share/man/man8" "$root/usr/share/man/man5" "$root/usr/share/portsentry" "$root/DEBIAN"

# --- the application ---
cp -r dist/src "$app/dist-src"
install -d "$app/dist" && mv "$app/dist-src" "$app/dist/src"
find "$app/dist" -name '*.map' -delete
install -d "$app/native/build/Release"
install -m 0644 native/build/Release/trap_accept.node native/build/Release/live_capture.node \
  native/build/Release/sock_diag.node "$app/native/build/Release/"
node -e 'const p = require("./package.json");
  const { devDependencies, scripts, allowScripts, files, ...rest } = p;
  process.stdout.write(JSON.stringify(rest, null, 2) + "\n");' >"$app/package.json"
# The runtime dependencies, as installed by npm ci (addons already built), without their
# build inputs (sources, the SQLite amalgamation, object files).
while IFS= read -r dir; do
  rel=${dir#"$repo/"}
  [[ $rel == node_modules/* ]] || continue
  install -d "$app/$(dirname "$rel")"
  cp -r "$dir" "$app/$rel"
  if [[ -d $app/$rel/build ]]; then # keep only the built addons
    mv "$app/$rel/build" "$work/build" && install -d "$app/$rel/build/Release"
    find "$work/build/Release" -maxdepth 1 -name '*.node' -exec mv {} "$app/$rel/build/Release/" \;
    rm -rf "$work/build"
  fi
  # An addon's C sources are build inputs; other packages' src/ is their code (debug's).
  [[ -f $dir/binding.gyp ]] && rm -rf "$app/$rel/deps" "$app/$rel/src"
  rm -rf "$app/$rel/test" "$app/$rel/.github"
done < <(npm ls --omit=dev --parseable --all 2>/dev/null)
# Build-time only: nan's C++ headers, better-sqlite3's test extension.
rm -rf "$app/node_modules/nan" "$app/node_modules/better-sqlite3/build/Release/test_extension.node"
find "$app" -name '*.node' -exec strip --strip-unneeded {} +
# Type declarations and source maps are for developers (a third of node_modules' size).
find "$app" \( -name '.npmignore' -o -name '.eslintrc*' -o -name '.travis.yml' -o -name '*.gyp*' \
  -o -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
find "$app" -type d -exec chmod 0755 {} + && find "$app" -type f -exec chmod 0644 {} +
chmod 0755 "$app/dist/src/cli/main.js"

# The command: node with the flags of the installed command (main.js's first line).
flags=$(sed -n '1s|^#!/usr/bin/env -S node ||p' dist/src/cli/main.js)
cat >"$root/usr/sbin/portsentry" <<EOF
#!/bin/sh
# portsentry-ts: node with the daemon's flags (a bounded young generation, code compiled at
# start); exec, so that node itself is the service's main process (sd_notify, signals).
exec /usr/bin/node $flags /usr/lib/portsentry/dist/src/cli/main.js "\$@"
EOF
chmod 0755 "$root/usr/sbin/portsentry"

# --- configuration (conffiles), unit, man pages, logrotate, fail2ban ---
install -m 0600 etc/portsentry.conf "$root/etc/portsentry/"
install -m 0644 etc/portsentry.ignore "$root/etc/portsentry/"
install -m 0644 packaging/default/portsentry "$root/etc/default/portsentry"
install -m 0644 packaging/logrotate/portsentry "$root/etc/logrotate.d/portsentry"
# fail2ban ships filter.d/portsentry.conf itself: ours is the .local that overrides it.
install -m 0644 packaging/fail2ban/filter.d/portsentry.conf "$root/etc/fail2ban/filter.d/portsentry.local"
# The jail is not enabled by installing: copy it to /etc/fail2ban/jail.d/ to use it.
install -d "$root/usr/share/portsentry/fail2ban" "$root/usr/share/portsentry/grafana"
install -m 0644 packaging/fail2ban/jail.d/portsentry.local "$root/usr/share/portsentry/fail2ban/"
install -m 0644 packaging/grafana/portsentry.json "$root/usr/share/portsentry/grafana/"
sed 's|/usr/bin/portsentry|/usr/sbin/portsentry|g' packaging/systemd/portsentry.service \
  >"$root/lib/systemd/system/portsentry.service"
chmod 0644 "$root/lib/systemd/system/portsentry.service"
gzip -9n <man/portsentry.8 >"$root/usr/share/man/man8/portsentry.8.gz"
gzip -9n <man/portsentry.conf.5 >"$root/usr/share/man/man5/portsentry.conf.5.gz"

# --- documentation Debian requires ---
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: portsentry-ts

Files: *
Copyright: the portsentry-ts authors
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software
 and associated documentation files (the "Software"), to deal in the Software without
 restriction, including without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
 BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
Comment: /usr/lib/portsentry/node_modules holds the npm dependencies, each with its own
 license file (MIT, ISC, Apache-2.0; better-sqlite3 embeds SQLite, public domain).
EOF
maintainer="portsentry-ts maintainers <maintainers@portsentry-ts.invalid>"
date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
{
  echo "$name ($version) unstable; urgency=medium"
  echo
  echo "  * Built from a checkout by scripts/build-deb.sh ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
  echo
  echo " -- $maintainer  $date"
} | gzip -9n >"$doc/changelog.Debian.gz"

# --- control files ---
cat >"$root/DEBIAN/conffiles" <<'EOF'
/etc/portsentry/portsentry.conf
/etc/portsentry/portsentry.ignore
/etc/default/portsentry
/etc/logrotate.d/portsentry
/etc/fail2ban/filter.d/portsentry.local
EOF
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: nodejs (>= $node_major), nodejs (<< $((node_major + 1))), libc6 (>= 2.34), libgcc-s1, libstdc++6, libpcap0.8, nftables
Suggests: fail2ban, prometheus
Conflicts: portsentry
Replaces: portsentry
Provides: portsentry
Section: net
Priority: optional
Homepage: https://www.npmjs.com/package/portsentry-ts
Description: port-scan detector and blocker, successor to PortSentry 1.2
 portsentry-ts watches unused ports (bound traps, or libpcap capture for the
 stealth and advanced modes), classifies scans and blocks their sources with
 nftables, iptables, ipset, hosts.deny, routes or a command. It reads PortSentry
 1.2's configuration and writes its log lines and history file; a kernel trap
 can block on the first probe. systemd Type=notify, Prometheus /metrics.
 .
 The service is not started or enabled on installation: review
 /etc/portsentry/portsentry.ignore, then run: systemctl enable --now portsentry
EOF

install -d "$out"
# The default directory holds one package, so that `apt install ./dist/deb/*.deb` is unambiguous.
[[ $# -eq 0 ]] && rm -f "$out/${name}"_*.deb
deb=$out/${name}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
