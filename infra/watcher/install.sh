# shellcheck shell=sh
# Installs or updates the backend watcher as the systemd service mysql-failover-watcher. Runs from the
# SSM document mysql-failover-<stage>-watcher-install (infra/watcher/document.cjs), in POSIX sh as the
# SSM Agent runs it, after the prelude wrote the watcher script to "$mfw_watcher" and set MFW_*.
# Nothing here evaluates a value: each is checked against a strict pattern, written to the settings file
# as data (the watcher reads it as KEY=VALUE, never sources it) and checked again by the watcher.
# MFW_INSTALL_ROOT (tests only) puts every file under a folder and skips systemctl.
set -u
umask 022
# Set by the document's prelude (infra/watcher/document.cjs): the watcher script it just wrote.
mfw_watcher=${mfw_watcher:?the document prelude sets mfw_watcher}
root=${MFW_INSTALL_ROOT:-}
lib="$root/usr/local/lib/mysql-failover"
etc="$root/etc/mysql-failover"
unit="$root/etc/systemd/system/mysql-failover-watcher.service"

fail() {
  echo "watcher-install: $*" >&2
  rm -f "$mfw_watcher"
  printf '{"schema":"watcher-install/1","ok":false,"message":"%s"}\n' "$(printf '%s' "$*" | tr -d '"\134')"
  exit 1
}

# One value, one line, matching an extended regular expression.
check() {
  case $2 in *'
'*) fail "$1 must be one line" ;; esac
  printf '%s\n' "$2" | grep -Eq "$3" || fail "$1 is not valid: '$2'"
}
check Cluster "$MFW_CLUSTER" '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'
check Group "$MFW_GROUP" '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'
check RouterKind "$MFW_ROUTER_KIND" '^(haproxy|mysqlrouter|proxysql)$'
check ConfigPath "$MFW_CONFIG_PATH" '^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32}$'
check Section "$MFW_SECTION" '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$'
check EventBus "$MFW_EVENT_BUS" '^[A-Za-z0-9._/-]{1,256}$'
check AdminSocket "$MFW_ADMIN_SOCKET" '^((/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32})?$'
check IntervalMs "$MFW_INTERVAL_MS" '^[0-9]{2,5}$'

command -v bash >/dev/null 2>&1 || fail "bash is required"
command -v curl >/dev/null 2>&1 || fail "curl 7.75 or later is required (it signs the EventBridge request)"
case $MFW_ROUTER_KIND in
  haproxy) command -v socat >/dev/null 2>&1 || fail "socat is required to read HAProxy's runtime API" ;;
  mysqlrouter) command -v ss >/dev/null 2>&1 || fail "ss (iproute2) is required to read MySQL Router's connections" ;;
  proxysql) command -v mariadb >/dev/null 2>&1 || command -v mysql >/dev/null 2>&1 ||
    fail "a mariadb or mysql client is required to read ProxySQL's admin interface" ;;
esac
bash -n "$mfw_watcher" || fail "the watcher script does not parse with this host's bash"

mkdir -p "$lib" "$etc" "$(dirname "$unit")" || fail "cannot create the install folders"
settings="$etc/watcher.env"
tmp_settings="$settings.new"
{
  echo "# written by the SSM document mysql-failover watcher-install; re-applied by its association"
  echo "MFW_CLUSTER=$MFW_CLUSTER"
  echo "MFW_GROUP=$MFW_GROUP"
  echo "MFW_ROUTER_KIND=$MFW_ROUTER_KIND"
  echo "MFW_CONFIG_PATH=$MFW_CONFIG_PATH"
  echo "MFW_SECTION=$MFW_SECTION"
  echo "MFW_EVENT_BUS=$MFW_EVENT_BUS"
  [ -n "$MFW_ADMIN_SOCKET" ] && echo "MFW_ADMIN_SOCKET=$MFW_ADMIN_SOCKET"
  echo "MFW_INTERVAL_MS=$MFW_INTERVAL_MS"
} >"$tmp_settings" || fail "cannot write $tmp_settings"
chmod 600 "$tmp_settings"

# The new settings must be readable by the new script before anything is replaced: a probe run.
probe=$(MFW_SETTINGS_FILE="$tmp_settings" MFW_ONCE=true bash "$mfw_watcher" 2>&1) ||
  fail "the watcher refuses these settings: $probe"

# The association re-applies this every day: restart the service only when something changed.
changed=false
if ! cmp -s "$mfw_watcher" "$lib/watcher.sh"; then
  changed=true
  if ! install -m 755 "$mfw_watcher" "$lib/watcher.sh.new" || ! mv -f "$lib/watcher.sh.new" "$lib/watcher.sh"; then
    fail "cannot install $lib/watcher.sh"
  fi
fi
rm -f "$mfw_watcher"
if ! cmp -s "$tmp_settings" "$settings"; then
  changed=true
  mv -f "$tmp_settings" "$settings" || fail "cannot install $settings"
fi
rm -f "$tmp_settings"
cat >"$unit.new" <<'UNIT'
[Unit]
Description=mysql-failover watcher: starts the group's watchdog when the local router sees the primary go down
After=network-online.target haproxy.service mysqlrouter.service proxysql.service
Wants=network-online.target

[Service]
ExecStart=/bin/bash /usr/local/lib/mysql-failover/watcher.sh
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
if cmp -s "$unit.new" "$unit"; then
  rm -f "$unit.new"
else
  changed=true
  mv -f "$unit.new" "$unit" || fail "cannot install $unit"
fi

if [ -z "$root" ]; then
  command -v systemctl >/dev/null 2>&1 || fail "systemd is required to run the watcher as a service"
  systemctl daemon-reload || fail "systemctl daemon-reload failed"
  systemctl enable mysql-failover-watcher.service >/dev/null 2>&1 || fail "cannot enable the service"
  if $changed || ! systemctl is-active --quiet mysql-failover-watcher.service; then
    systemctl restart mysql-failover-watcher.service || fail "cannot start the service"
  fi
  systemctl is-active --quiet mysql-failover-watcher.service || fail "the service is not running"
fi
printf '{"schema":"watcher-install/1","ok":true,"changed":%s,"probe":%s}\n' "$changed" "$probe"
