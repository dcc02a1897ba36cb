#!/usr/bin/env bash
# Runs a command with Node.js 22.12 or later first on PATH: usage scripts/with-node.sh COMMAND [ARGS...].
# The command and every `node` it starts (npm scripts, vitest and its workers, tsx, tsc, the child
# processes tests spawn with process.execPath, `#!/usr/bin/env node` tools) then run on the version
# the function runs on in Lambda. That is the machine's node when it is 22.12 or later, else the private
# one that scripts/setup-node.sh provides in .node/ (fetched on first use, offline afterwards).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Exits 0 on Node 22.12 or later (the same rule as scripts/setup-node.sh and bin/node22.mjs).
NEW_ENOUGH='const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'

current="$(command -v node || true)"
if [ -z "$current" ] || ! "$current" -e "$NEW_ENOUGH" 2>/dev/null; then
  bash "$root/scripts/setup-node.sh" >&2
  if [ -x "$root/.node/bin/node" ]; then
    PATH="$root/.node/bin:$PATH"
    export PATH
  fi
fi
exec "$@"
