#!/usr/bin/env bash
# Provides Node.js 22, the version the function runs on in Lambda (nodejs22.x), to the sandbox, the
# tests, the benchmarks and the CLI when the machine's node is older than 22.12 (what vitest 5 needs). The binary comes from the npm
# registry (the package node-linux-<arch>, the official build) and goes to .node/ (ignored by git):
# .node/bin/ then holds only `node`, and scripts/with-node.sh puts that folder first on PATH.
# A machine whose node is already 22.12 or later keeps using its own, and nothing is fetched.
# Idempotent, and offline after the first run: the package tarball stays in .node/ and is never
# fetched again while it is there; its SHA-512 is checked against the digest pinned below.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=22.23.5
# Exits 0 on Node 22.12 or later (the same rule as scripts/with-node.sh and bin/node22.mjs).
NEW_ENOUGH='const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)'
PRIVATE=.node/bin/node

# The node first on PATH, leaving out our own .node/bin (a caller may already have put it there).
machine_node() {
  local dir own
  own="$(pwd)/.node/bin"
  local IFS=:
  for dir in $PATH; do
    [ "$dir" = "$own" ] || [ "$dir" = .node/bin ] && continue
    if [ -x "$dir/node" ]; then
      echo "$dir/node"
      return
    fi
  done
}

if [ -x "$PRIVATE" ] && [ "$("$PRIVATE" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  exit 0
fi
machine="$(machine_node)"
if [ -n "$machine" ] && "$machine" -e "$NEW_ENOUGH" 2>/dev/null; then
  exit 0
fi

if [ "$(uname -s)" != Linux ]; then
  echo "setup: Node.js 22.12 or later is needed (found: ${machine:-no node}); install it, then run this again." >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64)
    arch=x64
    sha512=de3842fb07285b1299c5c46a176b144a5d1cf47117167babfe7b883f1e8ee8258a5748ce516426ec7b70e52b97aaa94c084862d1c26ac9b14f11be6185c06233
    ;;
  aarch64 | arm64)
    arch=arm64
    sha512=7b52ce506295aee3c6b8b56eb67f3e0a09b9a48d403e6e0abe1fb36dbfea7bf6690fdb3e4d06f2e6252064e5a63e96d22a98f44ddf033f53743449d76ac1e2ce
    ;;
  *)
    echo "setup: Node.js 22.12 or later is needed and the registry has no build for $(uname -m); install it yourself." >&2
    exit 1
    ;;
esac

mkdir -p .node
# Several commands of a fresh clone may ask at once: one fetches and unpacks, the others wait for it.
exec 9>.node/.lock
flock 9
if [ -x "$PRIVATE" ] && [ "$("$PRIVATE" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  exit 0
fi

package="node-linux-$arch"
tarball=".node/$package-$NODE_VERSION.tgz"
if [ ! -s "$tarball" ]; then
  found=none
  [ -n "$machine" ] && found="$("$machine" --version) ($machine)"
  echo "setup: the machine's node is $found; fetching Node.js $NODE_VERSION (npm package $package) into .node/"
  rm -rf .node/fetch.*
  fetch="$(mktemp -d .node/fetch.XXXXXX)"
  # --prefer-offline: a tarball already in npm's cache (an earlier clone fetched it) is used as it is.
  npm pack --silent --prefer-offline --pack-destination "$fetch" "$package@$NODE_VERSION" >/dev/null
  mv "$fetch/$package-$NODE_VERSION.tgz" "$tarball"
  rm -rf "$fetch"
fi
if [ "$(sha512sum "$tarball" | cut -d' ' -f1)" != "$sha512" ]; then
  echo "setup: $tarball does not have the expected SHA-512; removed it, run the setup again to fetch it anew." >&2
  rm -f "$tarball"
  exit 1
fi

dest=".node/node-v$NODE_VERSION-linux-$arch"
rm -rf "$dest" "$dest.part"
mkdir -p "$dest.part"
tar -xzf "$tarball" -C "$dest.part" --strip-components=1 package/bin/node package/LICENSE
mv "$dest.part" "$dest"
mkdir -p .node/bin
ln -sfn "../node-v$NODE_VERSION-linux-$arch/bin/node" "$PRIVATE"
if [ "$("$PRIVATE" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  echo "setup: the unpacked $PRIVATE does not run on this machine; install Node.js 22.12 or later yourself." >&2
  exit 1
fi
echo "setup: Node.js $NODE_VERSION ready in .node/ (used by npm start, npm test and the other npm scripts)"
