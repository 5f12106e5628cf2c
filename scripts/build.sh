#!/usr/bin/env bash
# Builds what changed since the last build, nothing when nothing did: the native addons when a
# source in native/ (or node's version) is newer than them, the TypeScript when a .ts file or
# a config is newer than tsc's build info (tsc itself is incremental, and takes seconds even
# when there is nothing to do). `npm run build` rebuilds everything unconditionally.
set -euo pipefail
cd "$(dirname "$0")/.."

# Native addons: rebuilt for a newer source, a missing .node, or another node ABI.
abi_stamp=native/build/node-abi
addons=(native/build/Release/trap_accept.node native/build/Release/live_capture.node
  native/build/Release/sock_diag.node)
native_stale() {
  local a
  for a in "${addons[@]}"; do
    [[ -f $a ]] || return 0
    [[ -n $(find native -maxdepth 1 \( -name '*.c' -o -name '*.h' -o -name binding.gyp \) -newer "$a") ]] && return 0
  done
  [[ $(cat "$abi_stamp" 2>/dev/null) == "$(node -p process.versions.modules)" ]] || return 0
  return 1
}
if native_stale; then
  echo "build: native addons" >&2
  npm run --silent build:native # writes $abi_stamp
fi

# TypeScript: dist/.tsbuildinfo is tsc's own record (tsconfig.json: incremental).
info=dist/.tsbuildinfo
if [[ ! -f $info ]] ||
  [[ -n $(find src test bench tsconfig.json package.json package-lock.json -newer "$info" -print -quit) ]]; then
  echo "build: TypeScript" >&2
  npm run --silent build:ts
  touch "$info" # tsc leaves it alone when no output changed; the check above needs it newer
fi
