#!/usr/bin/env bash
# The whole test suite: set-up, build, lint, every test. Integration tests need root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent lint
npm test
