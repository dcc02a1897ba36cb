#!/usr/bin/env bash
# Runs a command with Node.js 22 or later first on PATH: usage scripts/with-node.sh COMMAND [ARGS...].
# The command and every `node` it starts (npm scripts, vitest and its workers, tsx, tsc, the child
# processes tests spawn with process.execPath, `#!/usr/bin/env node` tools) then run on the version
# the function runs on in Lambda. That is the machine's node when it is 22 or later, else the private
# one that scripts/setup-node.sh provides in .node/ (fetched on first use, offline afterwards).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
MIN_MAJOR=22

current="$(command -v node || true)"
if [ -z "$current" ] || [ "$("$current" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt "$MIN_MAJOR" ]; then
  bash "$root/scripts/setup-node.sh" >&2
  if [ -x "$root/.node/bin/node" ]; then
    PATH="$root/.node/bin:$PATH"
    export PATH
  fi
fi
exec "$@"
