#!/usr/bin/env bash
# Rebuilds README.md from its sections in docs/sections (edit those, then run this).
set -euo pipefail
cd "$(dirname "$0")/.."
s=docs/sections
{
  cat "$s/intro.md"
  cat "$s/core.md"; echo
  cat "$s/web.md"; echo
  cat "$s/bot.md"; echo
  cat "$s/race-bench.md"
  cat "$s/layout.md"
} > README.md
