#!/usr/bin/env bash
# Fetches MySQL 9.7 LTS (server, client, MySQL Router) for the tests, the sandbox and the chaos suite.
#
# Why this way: Debian 12 carries no MySQL, and Debian unstable's MySQL 9.7 packages need a newer libc
# and libstdc++ than Debian 12 has. So nothing is installed into the system and the system's apt sources
# stay untouched: a private apt configuration (its own sources list naming suite `sid`, its own state and
# cache folders, the system's Debian keyring) downloads the packages with their dependencies, and each
# one is unpacked with `dpkg-deb -x` into a private prefix. The binaries are started through that
# prefix's own loader (functions/sandbox/harness/mysql-install.ts), never the system's.
#
# Idempotent: does nothing once the prefix holds a complete unpack. The cache folder is outside the
# clone: $MYSQL_FAILOVER_CACHE, else ~/.cache/mysql-failover. Set MYSQL_FAILOVER_SKIP_MYSQL=1 to skip
# (the MySQL tests then report themselves skipped with the reason).
set -euo pipefail

CACHE="${MYSQL_FAILOVER_CACHE:-$HOME/.cache/mysql-failover}"
VERSION_WANTED="9.7"
PREFIX="$CACHE/mysql-$VERSION_WANTED"
APT_DIR="$CACHE/apt-sid"
MARKER="$PREFIX/.complete"
PACKAGES=(mysql-server-core mysql-client-core mysql-router)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR="${MYSQL_FAILOVER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

fail() {
  echo "setup-mysql: $*" >&2
  echo "setup-mysql: the MySQL 9.7 tests will be skipped until this succeeds (rerun: bash scripts/setup-mysql.sh)" >&2
  exit 1
}

if [ "${MYSQL_FAILOVER_SKIP_MYSQL:-0}" = 1 ]; then
  echo "setup-mysql: skipped (MYSQL_FAILOVER_SKIP_MYSQL=1)"
  exit 0
fi
if [ -f "$MARKER" ]; then
  echo "setup-mysql: MySQL $(cat "$MARKER") ready in $PREFIX"
  exit 0
fi
[ "$(uname -m)" = x86_64 ] || fail "only x86_64 is supported (Debian amd64 packages), this is $(uname -m)"
command -v apt-get >/dev/null 2>&1 || fail "needs apt-get and dpkg-deb (a Debian-based system)"
command -v dpkg-deb >/dev/null 2>&1 || fail "needs dpkg-deb"
[ -r "$KEYRING" ] || fail "needs the Debian archive keyring $KEYRING (package debian-archive-keyring)"

mkdir -p "$APT_DIR/state/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/etc/preferences.d"
echo "deb [signed-by=$KEYRING] $MIRROR sid main" >"$APT_DIR/etc/sources.list"
# An empty package status: apt resolves every dependency (libc, libstdc++ included) from sid, so the
# prefix is complete on its own and never mixes with the system's libraries.
: >"$APT_DIR/state/status"
APT_OPTS=(
  -o "Dir::Etc::SourceList=$APT_DIR/etc/sources.list"
  -o "Dir::Etc::SourceParts=/nonexistent"
  -o "Dir::Etc::Preferences=/nonexistent"
  -o "Dir::Etc::PreferencesParts=$APT_DIR/etc/preferences.d"
  -o "Dir::State=$APT_DIR/state"
  -o "Dir::State::status=$APT_DIR/state/status"
  -o "Dir::Cache=$APT_DIR/cache"
  -o "APT::Architecture=amd64"
  -o "APT::Architectures::=amd64"
  -o "APT::Get::AllowUnauthenticated=false"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
LOG="$CACHE/setup-mysql.log"
echo "setup-mysql: fetching MySQL $VERSION_WANTED from Debian sid (private apt state in $APT_DIR; log: $LOG)"
if ! apt-get "${APT_OPTS[@]}" update >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  fail "apt-get update of the private sid sources failed (no network, or no access to $MIRROR?)"
fi
if ! DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y --download-only \
  --no-install-recommends "${PACKAGES[@]}" >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  fail "could not download ${PACKAGES[*]} from sid"
fi

rm -rf "$PREFIX.partial"
mkdir -p "$PREFIX.partial"
for deb in "$APT_DIR"/cache/archives/*.deb; do
  dpkg-deb -x "$deb" "$PREFIX.partial" || fail "could not unpack $deb"
done
LOADER="$PREFIX.partial/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -x "$LOADER" ] || LOADER="$PREFIX.partial/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -e "$LOADER" ] || fail "the unpacked packages hold no loader (ld-linux-x86-64.so.2)"
LIBS="$PREFIX.partial/usr/lib/x86_64-linux-gnu:$PREFIX.partial/lib/x86_64-linux-gnu:$PREFIX.partial/usr/lib/mysql-router:$PREFIX.partial/usr/lib/mysqlrouter/private"
version="$("$LOADER" --library-path "$LIBS" "$PREFIX.partial/usr/sbin/mysqld" --version 2>&1)" ||
  fail "the unpacked mysqld does not run: $version"
"$LOADER" --library-path "$LIBS" "$PREFIX.partial/usr/bin/mysqlrouter" --version >/dev/null 2>&1 ||
  fail "the unpacked mysqlrouter does not run"
rm -rf "$PREFIX"
mv "$PREFIX.partial" "$PREFIX"
# The downloaded archives are no longer needed once unpacked.
rm -f "$APT_DIR"/cache/archives/*.deb
echo "$version" | sed -E 's/.*Ver ([0-9.]+).*/\1/' >"$MARKER"
echo "setup-mysql: MySQL $(cat "$MARKER") ready in $PREFIX"
