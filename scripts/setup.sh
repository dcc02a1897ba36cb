#!/usr/bin/env bash
# Idempotent setup for the sandbox and the tests: Debian packages, Node.js 22 and npm dependencies.
# Safe to run again; installs only what is missing. Never starts the distribution's own
# MariaDB or HAProxy services: the sandbox and the tests start their own on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(mariadb-server mariadb-client mariadb-backup zstd haproxy sysbench percona-toolkit mydumper gzip procps iproute2 openssl shellcheck)
# Binaries that prove each package is usable, in the same order as above.
BINARIES=(mariadbd mariadb mariadb-backup zstd haproxy sysbench pt-table-checksum mydumper gzip pkill ss openssl shellcheck)

missing=()
for i in "${!PACKAGES[@]}"; do
  bin="${BINARIES[$i]}"
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
    missing+=("${PACKAGES[$i]}")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run as root, or install them yourself: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing packages: ${missing[*]}; this is not a Debian-based system (no apt-get)." >&2
    echo "setup: install MariaDB server and client, HAProxy, sysbench, percona-toolkit and mydumper with your package manager." >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  # Keep the packages' own services from starting: we run our own servers on loopback ports.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/mysql-failover-apt.log 2>&1; then
    apt-get update >>/tmp/mysql-failover-apt.log 2>&1 || true
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/mysql-failover-apt.log 2>&1; then
      [ "$created_policy" = 1 ] && rm -f "$policy"
      echo "setup: apt-get could not install: ${missing[*]} (log: /tmp/mysql-failover-apt.log)" >&2
      tail -n 20 /tmp/mysql-failover-apt.log >&2
      exit 1
    fi
  fi
  [ "$created_policy" = 1 ] && rm -f "$policy"
fi
# The distribution service may have been started by an earlier install without the policy.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mariadb 2>/dev/null; then
  echo "setup: note: the system mariadb service is running; it is not used, the sandbox starts its own servers."
fi

# Node.js 22 in .node/ when the machine's node is older (see the script).
bash scripts/setup-node.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  # Under Node 22, like everything else: the dependencies' engines ask for it.
  bash scripts/with-node.sh npm ci --no-audit --no-fund --loglevel=error
fi
bash scripts/setup-mysql.sh || echo "setup: MySQL 9.7 not available; its tests will be skipped (see above)" >&2
echo "setup: ok (the sandbox and the tests run on node $(bash scripts/with-node.sh node --version))"
