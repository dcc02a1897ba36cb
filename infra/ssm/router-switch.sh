#!/usr/bin/env bash
# router-switch: points one local database router (HAProxy, MySQL Router or ProxySQL) at a new primary
# and keeps fenced servers out of it, or reports where the router points now.
#
# This file is the common part: inputs, result, lock, backups, verification and the switch flow. What
# differs per router kind lives in router-kinds/<kind>.sh next to it, loaded for RS_ROUTER_KIND, behind
# one fixed set of functions (ROUTER_FUNCTIONS below); this file never branches on the kind.
# scripts/build-ssm-document.mjs embeds these files into the SSM Command document
# infra/ssm/router-switch.json; the local adapter (functions/routers/local.ts) runs these very files
# with bash. A unit test proves the document's copies equal the files.
#
# Inputs are environment variables only, never arguments, and no value is ever evaluated as code:
#   RS_ACTION switch|status   RS_ROUTER_KIND haproxy|mysqlrouter|proxysql   RS_CONFIG_PATH   RS_SECTION
#   RS_DESTINATIONS (host:port,... new primary first)   RS_FENCED (host:port,...)   RS_DRY_RUN true|false
#   RS_APPLY_MODE auto|systemd|pidfile|command   RS_SERVICE_NAME   RS_VERIFY_ADDRESS
#   RS_VERIFY_DEFAULTS_FILE   RS_VERIFY_TIMEOUT
# Operator settings that are code or secrets never travel as document parameters. They come from the
# environment of a local run, or from the instance's own root-owned file
# /etc/mysql-failover/router-switch.env (KEY=VALUE lines, read as data, never sourced):
#   RS_APPLY_COMMAND  command that makes the router pick up its config (run with bash -c)
#   RS_BACKUP_DIR     where config backups go (default /var/backups/mysql-failover)
#   RS_VERIFY_USER    user for the verification query when no defaults file is used (password: MYSQL_PWD)
#   RS_SQL_CLIENT     mariadb or mysql client binary (default: whichever is installed)
#   RS_HAPROXY_BIN    haproxy binary (default: haproxy on PATH, else /usr/sbin/haproxy)
#
# A kind file defines, and the flow below calls, in this order:
#   router_check_inputs        kind-specific checks of the inputs (exit 2 on bad input)
#   router_parse               reads where the router points now: R_PREVIOUS (exits on an unusable config)
#   router_render NEW          writes the intended state into the file NEW (made by router_new_state)
#   router_in_place NEW        0 when the router already is in the state NEW
#   router_validate NEW        0 when NEW is safe to apply (sets R_VALIDATED, or R_MESSAGE on failure)
#   router_backup              saves the current state and sets R_BACKUP
#   router_apply NEW           makes the router use NEW (sets R_APPLIED, R_CHANGED; R_MESSAGE on failure)
#   router_verify_address      prints the host:port to verify through
#   router_restore             puts R_BACKUP back and applies it
#   router_status              adds what the router's runtime says to R_RUNTIME (status action)
# and router_new_state, which sets NEW_TEMP (new_temp or new_temp_next_to_config).
#
# Output: diagnostics on stderr, exactly one JSON line on stdout (schema router-switch/1).
# Exit codes: 0 done (or nothing to do), 2 bad input, 3 the new config did not validate (nothing was
# touched), 4 applying failed and the backup was restored, 5 verification failed and the backup was
# restored, 6 restoring the backup failed too (the router needs a human), 1 anything else.
# Helpers below are called from the kind files, which shellcheck cannot follow (the kind is a runtime
# value): it would call them unreachable.
# shellcheck disable=SC2317
set -uo pipefail
umask 077
export LC_ALL=C
if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  echo "router-switch: needs bash 4.4 or later (found $BASH_VERSION)" >&2
  exit 1
fi

ROUTER_FUNCTIONS=(router_check_inputs router_parse router_new_state router_render router_in_place
  router_validate router_backup router_apply router_verify_address router_restore router_status)

# The same patterns as functions/routers/parameters.ts (SCRIPT_PATTERNS): the document's, except that a
# path need only be safe in shape here; check_paths then holds it to the allowed folders.
PAT_Destinations='^([A-Za-z0-9][A-Za-z0-9.-]{0,252}:[1-9][0-9]{0,4}(,[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[1-9][0-9]{0,4}){0,15})?$'
PAT_Fenced='^([A-Za-z0-9][A-Za-z0-9.-]{0,252}:[1-9][0-9]{0,4}(,[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[1-9][0-9]{0,4}){0,15})?$'
PAT_ConfigPath='^(/[A-Za-z0-9_][A-Za-z0-9_-]{0,63}([.][A-Za-z0-9_-]{1,63}){0,7}){1,16}$'
PAT_Section='^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$'
PAT_ServiceName='^((haproxy|mysqlrouter|proxysql)(@[A-Za-z0-9_-]{1,64})?([.]service)?)?$'
PAT_VerifyAddress='^([A-Za-z0-9][A-Za-z0-9.-]{0,252}:[1-9][0-9]{0,4})?$'
PAT_VerifyDefaultsFile='^((/[A-Za-z0-9_][A-Za-z0-9_-]{0,63}([.][A-Za-z0-9_-]{1,63}){0,7}){1,16})?$'
PAT_VerifyTimeoutSeconds='^([1-9]|[1-5][0-9]|60)$'

# Folders a path parameter may name (the document allows only these), plus the ones the instance's
# root-owned settings add (RS_ALLOWED_DIRS, colon-separated). Files there are checked by trusted_file.
ALLOWED_DIRS=(/etc/haproxy /etc/mysqlrouter /etc/proxysql /etc/mysql-failover)
# Config and defaults files are small; a larger one (or /dev/zero) is refused before anything reads it.
MAX_FILE_BYTES=1048576
RUNNER_UID=$(id -u)

# The verification password of a local run arrives in MYSQL_PWD: kept in a variable and handed to each
# client call alone, so no other child (HAProxy's daemon above all) inherits it.
VERIFY_PASSWORD=${MYSQL_PWD-}
export -n VERIFY_PASSWORD 2>/dev/null
unset MYSQL_PWD
# Nothing from the environment may point a client at an option file, a login file or a plugin.
unset MYSQL_HOME MARIADB_HOME MYSQL_TEST_LOGIN_FILE LIBMYSQL_PLUGIN_DIR LIBMYSQL_PLUGINS MARIADB_PLUGIN_DIR


# ---------------------------------------------------------------------------------------------------
# Result, logging, JSON
# ---------------------------------------------------------------------------------------------------
R_OK=false
R_CHANGED=false
R_IN_PLACE=false
R_VALIDATED=false
R_APPLIED=''
R_BACKUP=''
R_ROLLED_BACK=false
R_VERIFY_STATUS=skipped
R_VERIFY_THROUGH=''
R_VERIFY_EXPECTED=''
R_VERIFY_ANSWERED=''
R_MESSAGE=''
R_PREVIOUS=()
R_WARNINGS=()
R_RUNTIME=()
DEST=()
FENCED=()
TMP_FILES=()

log() { printf 'router-switch: %s\n' "$*" >&2; }
warn() {
  R_WARNINGS+=("$*")
  log "warning: $*"
}

# JSON is built in the variable J without subshells: forks are what makes a shell script slow on a
# loaded instance.
J=''
json_string() {
  local s=${1:0:4000}
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//[[:cntrl:]]/}
  J+="\"$s\""
}

json_array() {
  local first=1 item
  J+='['
  for item in "$@"; do
    [[ $first == 1 ]] || J+=','
    json_string "$item"
    first=0
  done
  J+=']'
}

json_bool() { if [[ $1 == true ]]; then J+=true; else J+=false; fi; }

now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    NOW_MS=$((10#$t / 1000))
  else
    NOW_MS=$(($(date +%s%N) / 1000000))
  fi
}
now_ms
START_MS=$NOW_MS

emit() {
  now_ms
  local duration_ms=$((NOW_MS - START_MS))
  J="{\"schema\":\"router-switch/1\",\"ok\":$R_OK,\"action\":"
  json_string "${RS_ACTION:-}"
  J+=',"kind":'
  json_string "${RS_ROUTER_KIND:-}"
  J+=',"host":'
  json_string "${HOSTNAME:-unknown}"
  J+=',"config":'
  json_string "${RS_CONFIG_GIVEN:-${RS_CONFIG_PATH:-}}"
  J+=',"section":'
  json_string "${RS_SECTION:-}"
  J+=',"dryRun":'
  json_bool "${RS_DRY_RUN:-false}"
  J+=",\"changed\":$R_CHANGED,\"alreadyInPlace\":$R_IN_PLACE,\"validated\":$R_VALIDATED,\"applied\":"
  json_string "$R_APPLIED"
  J+=',"backup":'
  json_string "$R_BACKUP"
  J+=',"previous":'
  json_array "${R_PREVIOUS[@]}"
  J+=',"destinations":'
  json_array "${DEST[@]}"
  J+=',"fenced":'
  json_array "${FENCED[@]}"
  J+=',"runtime":'
  json_array "${R_RUNTIME[@]}"
  J+=',"verify":{"status":'
  json_string "$R_VERIFY_STATUS"
  J+=',"through":'
  json_string "$R_VERIFY_THROUGH"
  J+=',"expected":'
  json_string "$R_VERIFY_EXPECTED"
  J+=',"answered":'
  json_string "$R_VERIFY_ANSWERED"
  J+="},\"rolledBack\":$R_ROLLED_BACK,\"warnings\":"
  json_array "${R_WARNINGS[@]}"
  J+=',"message":'
  json_string "$R_MESSAGE"
  J+=",\"durationMs\":$duration_ms}"
  printf '%s\n' "$J"
}

# Prints the result and exits; every exit of the script goes through here.
finish() {
  local code=$1
  shift
  [[ $# -gt 0 ]] && R_MESSAGE=$*
  if [[ $code == 0 ]]; then R_OK=true; else R_OK=false; fi
  [[ $code == 0 ]] || log "$R_MESSAGE"
  emit
  exit "$code"
}

cleanup() {
  local f
  for f in "${TMP_FILES[@]}"; do [[ -n $f ]] && rm -f -- "$f"; done
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------------
# Settings and inputs
# ---------------------------------------------------------------------------------------------------
load_settings() {
  local file=${RS_SETTINGS_FILE-/etc/mysql-failover/router-switch.env}
  [[ -n $file && -f $file ]] || return 0
  # The file may carry a command: trust it only if nobody but root (or the runner) can change it.
  if ! only_owner_writes "$file" || ! only_owner_writes "$(dirname -- "$file")"; then
    warn "ignoring $file: it and its folder must be owned by root and not writable by group or others"
    return 0
  fi
  local line key value
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*(RS_APPLY_COMMAND|RS_BACKUP_DIR|RS_VERIFY_USER|RS_SQL_CLIENT|RS_HAPROXY_BIN|RS_ALLOWED_DIRS)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ ${#value} -ge 2 && ${value:0:1} == "${value: -1}" && (${value:0:1} == "'" || ${value:0:1} == '"') ]]; then
      value=${value:1:${#value}-2}
    fi
    # The caller's environment wins over the file.
    if [[ -z ${!key+x} ]]; then
      printf -v "$key" '%s' "$value"
      export "${key?}"
    fi
  done <"$file"
}

# Whether PATH (followed if a link) is owned by root or the runner and not writable by group or others.
only_owner_writes() {
  local info
  info=$(stat -L -c '%u %a' -- "$1" 2>/dev/null) || return 1
  [[ ${info% *} == 0 || ${info% *} == "$RUNNER_UID" ]] && (((8#${info#* } & 8#022) == 0))
}

in_allowed_dir() {
  local dir
  for dir in "${ALLOWED_DIRS[@]}"; do [[ $1 == "$dir"/* ]] && return 0; done
  return 1
}

# trusted_file NAME PATH: PATH, links followed, must be a regular file in an allowed folder, owned by
# root and not writable by group or others, in a folder of which the same holds, and at most
# MAX_FILE_BYTES. Root reads it, and a client or router may act on what it says. Sets TRUSTED_PATH.
TRUSTED_PATH=''
trusted_file() {
  local name=$1 path=$2 real size
  in_allowed_dir "$path" || finish 2 "$name $path is not in a folder router-switch may use (${ALLOWED_DIRS[*]})"
  real=$(realpath -e -- "$path" 2>/dev/null) || finish 2 "$name $path does not exist"
  in_allowed_dir "$real" || finish 2 "$name $path leads to $real, outside the folders router-switch may use"
  [[ -f $real ]] || finish 2 "$name $path is not a regular file"
  only_owner_writes "$real" || finish 2 "$name $path must be owned by root and not writable by group or others"
  only_owner_writes "${real%/*}" ||
    finish 2 "the folder of $name $path must be owned by root and not writable by group or others"
  size=$(stat -c %s -- "$real") || finish 2 "cannot stat $name $path"
  ((size <= MAX_FILE_BYTES)) || finish 2 "$name $path is larger than $MAX_FILE_BYTES bytes"
  TRUSTED_PATH=$real
}

# read_client_login FILE ARGS PASSWORD: the login a client defaults file holds, read as data: the
# [client]/[mysql]/[mariadb] user, host, port and socket become options after --no-defaults, the
# password goes to the variable PASSWORD (handed to the client as MYSQL_PWD, for that call alone).
# Every other option (plugin-dir, default-auth, !include, ...) is ignored: a client started by root
# never loads a plugin or another file because a file said so.
read_client_login() {
  local file=$1 line group='' key value ignored=''
  local -n args=$2 password=$3
  args=(--no-defaults)
  password=''
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    if [[ $line =~ ^[[:space:]]*\[([^]]*)\][[:space:]]*$ ]]; then
      group=${BASH_REMATCH[1]}
      continue
    fi
    case $group in client | mysql | mariadb | client-server | client-mariadb) ;; *) continue ;; esac
    [[ $line =~ ^[[:space:]]*([A-Za-z][A-Za-z0-9_-]*)[[:space:]]*=[[:space:]]*(.*)$ ]] || continue
    key=${BASH_REMATCH[1]//_/-}
    value=${BASH_REMATCH[2]}
    value=${value%"${value##*[![:space:]]}"}
    if [[ ${#value} -ge 2 && ${value:0:1} == "${value: -1}" && (${value:0:1} == "'" || ${value:0:1} == '"') ]]; then
      value=${value:1:${#value}-2}
    fi
    # shellcheck disable=SC2034 # password is a nameref: the caller's variable
    case $key in
    user | host | port | socket) args+=("--$key=$value") ;;
    password) password=$value ;;
    *) ignored+=" $key" ;;
    esac
  done <"$file"
  [[ -z $ignored ]] || warn "ignored in $file (only user, password, host, port, socket are read):$ignored"
  return 0
}

need() {
  local name=$1 value=$2 pattern=$3
  [[ $value =~ $pattern ]] || finish 2 "invalid $name: does not match $pattern"
}

split_list() {
  # split_list CSV ARRAYNAME: host:port items, each with a port in range.
  local csv=$1 item port
  local -n out=$2
  out=()
  [[ -z $csv ]] && return 0
  IFS=',' read -r -a out <<<"$csv"
  for item in "${out[@]}"; do
    port=${item##*:}
    if ((10#$port < 1 || 10#$port > 65535)); then finish 2 "invalid port in $item"; fi
  done
}

validate_inputs() {
  local d
  RS_ACTION=${RS_ACTION:-switch}
  RS_SECTION=${RS_SECTION:-mysql_failover}
  RS_DESTINATIONS=${RS_DESTINATIONS:-}
  RS_FENCED=${RS_FENCED:-}
  RS_DRY_RUN=${RS_DRY_RUN:-false}
  RS_APPLY_MODE=${RS_APPLY_MODE:-auto}
  RS_SERVICE_NAME=${RS_SERVICE_NAME:-}
  RS_VERIFY_ADDRESS=${RS_VERIFY_ADDRESS:-}
  RS_VERIFY_DEFAULTS_FILE=${RS_VERIFY_DEFAULTS_FILE:-}
  RS_VERIFY_TIMEOUT=${RS_VERIFY_TIMEOUT:-20}
  RS_ROUTER_KIND=${RS_ROUTER_KIND:-}
  RS_CONFIG_PATH=${RS_CONFIG_PATH:-}
  RS_CONFIG_GIVEN=$RS_CONFIG_PATH
  case $RS_ACTION in switch | status) ;; *) finish 2 "invalid Action (switch or status)" ;; esac
  # A kind is a file name under router-kinds/ (load_router_kind): nothing else may reach the path.
  [[ $RS_ROUTER_KIND =~ ^[a-z][a-z0-9]{0,31}$ ]] || finish 2 "invalid RouterKind"
  case $RS_DRY_RUN in true | false) ;; *) finish 2 "invalid DryRun (true or false)" ;; esac
  case $RS_APPLY_MODE in auto | systemd | pidfile | command) ;; *) finish 2 "invalid ApplyMode" ;; esac
  need ConfigPath "$RS_CONFIG_PATH" "$PAT_ConfigPath"
  need Section "$RS_SECTION" "$PAT_Section"
  need Destinations "$RS_DESTINATIONS" "$PAT_Destinations"
  need Fenced "$RS_FENCED" "$PAT_Fenced"
  need ServiceName "$RS_SERVICE_NAME" "$PAT_ServiceName"
  need VerifyAddress "$RS_VERIFY_ADDRESS" "$PAT_VerifyAddress"
  need VerifyDefaultsFile "$RS_VERIFY_DEFAULTS_FILE" "$PAT_VerifyDefaultsFile"
  need VerifyTimeoutSeconds "$RS_VERIFY_TIMEOUT" "$PAT_VerifyTimeoutSeconds"
  local dirs
  IFS=':' read -r -a dirs <<<"${RS_ALLOWED_DIRS:-}"
  for d in "${dirs[@]}"; do
    [[ $d =~ $PAT_ConfigPath ]] && ALLOWED_DIRS+=("$d")
  done
  in_allowed_dir "$RS_CONFIG_PATH" ||
    finish 2 "ConfigPath $RS_CONFIG_PATH is not in a folder router-switch may use (${ALLOWED_DIRS[*]})"
  if [[ -n $RS_VERIFY_DEFAULTS_FILE ]] && ! in_allowed_dir "$RS_VERIFY_DEFAULTS_FILE"; then
    finish 2 "VerifyDefaultsFile $RS_VERIFY_DEFAULTS_FILE is not in a folder router-switch may use (${ALLOWED_DIRS[*]})"
  fi
  split_list "$RS_DESTINATIONS" DEST
  split_list "$RS_FENCED" FENCED
  if [[ $RS_ACTION == switch && ${#DEST[@]} -eq 0 ]]; then
    finish 2 "Destinations must name at least the new primary"
  fi
  local f seen=' '
  for d in "${DEST[@]}"; do
    [[ $seen == *" $d "* ]] && finish 2 "Destinations lists $d twice"
    seen+="$d "
    for f in "${FENCED[@]}"; do
      [[ $d == "$f" ]] && finish 2 "$d is fenced and cannot be a destination"
    done
  done
  [[ -n ${RS_VERIFY_ADDRESS} ]] && split_list "$RS_VERIFY_ADDRESS" _verify_address_check
  return 0
}

in_list() {
  # in_list NEEDLE ITEMS...
  local needle=$1 item
  shift
  for item in "$@"; do [[ $item == "$needle" ]] && return 0; done
  return 1
}

# ---------------------------------------------------------------------------------------------------
# Files: lock, backup, atomic rewrite, restore
# ---------------------------------------------------------------------------------------------------
BACKUP_DIR=''
# Backups and the lock are named after the config's base name plus a checksum of its full path: two
# routers may have configs with the same name in different folders.
CONFIG_KEY=''

take_lock() {
  BACKUP_DIR=${RS_BACKUP_DIR:-/var/backups/mysql-failover}
  mkdir -p -- "$BACKUP_DIR" || finish 1 "cannot create backup folder $BACKUP_DIR"
  CONFIG_KEY="${RS_CONFIG_PATH##*/}.$(printf '%s' "$RS_CONFIG_PATH" | cksum | cut -d ' ' -f 1)"
  if command -v flock >/dev/null 2>&1; then
    # fd 9 is closed for every child that may outlive us (daemons, apply commands).
    # Two switches of the same router at once (a retry racing a slow first run) must not interleave.
    exec 9>"$BACKUP_DIR/.$CONFIG_KEY.lock" || finish 1 "cannot open the lock file"
    flock -w 60 9 || finish 1 "another router switch holds the lock for $RS_CONFIG_PATH"
  else
    warn "flock not found: running without a lock"
  fi
}

backup_config() {
  local stamp
  stamp=$(date -u +%Y%m%dT%H%M%S%NZ)
  R_BACKUP="$BACKUP_DIR/$CONFIG_KEY.$stamp.bak"
  cp -p -- "$RS_CONFIG_PATH" "$R_BACKUP" || finish 1 "cannot back up $RS_CONFIG_PATH to $R_BACKUP"
  rotate_backups "$BACKUP_DIR/$CONFIG_KEY." .bak
}

# rotate_backups PREFIX SUFFIX: keeps the 20 newest backups PREFIX<stamp>SUFFIX, newest by the UTC
# stamp in the name (cp -p keeps the config's own mtime, so mtimes say nothing), and never R_BACKUP.
rotate_backups() {
  local backups=("$1"*"$2") i
  [[ -e ${backups[0]} ]] || return 0
  # Globs expand sorted by name, and the stamps sort as the times they stand for: oldest first.
  for ((i = 0; i < ${#backups[@]} - 20; i++)); do
    [[ ${backups[$i]} == "$R_BACKUP" ]] || rm -f -- "${backups[$i]}"
  done
}

# The file the kind renders the new state into (router_new_state picks where). Sets NEW_TEMP (a global,
# so the cleanup list survives: no subshell).
NEW_TEMP=''
new_temp() {
  NEW_TEMP=$(mktemp) || finish 1 "cannot create a temporary file"
  TMP_FILES+=("$NEW_TEMP")
}

# A temporary file next to the config (same file system, so the final rename is atomic), with the
# config's owner and mode.
new_temp_next_to_config() {
  temp_next_to_config || finish 1 "cannot create a temporary file next to $RS_CONFIG_PATH"
}

temp_next_to_config() {
  NEW_TEMP=$(mktemp -- "$(dirname -- "$RS_CONFIG_PATH")/.$(basename -- "$RS_CONFIG_PATH").rs.XXXXXX") || return 1
  TMP_FILES+=("$NEW_TEMP")
  chmod --reference="$RS_CONFIG_PATH" -- "$NEW_TEMP" 2>/dev/null || true
  chown --reference="$RS_CONFIG_PATH" -- "$NEW_TEMP" 2>/dev/null || true
}

install_file() {
  # install_file TMP: rename over the config.
  mv -f -- "$1" "$RS_CONFIG_PATH"
}

run_apply_command() {
  [[ -n ${RS_APPLY_COMMAND:-} ]] || {
    log "ApplyMode command needs RS_APPLY_COMMAND (environment or /etc/mysql-failover/router-switch.env)"
    return 1
  }
  R_APPLIED='command'
  # Operator-configured code from a trusted source (see the header), with the switch's facts in its env.
  RS_CONFIG_PATH=$RS_CONFIG_PATH RS_SECTION=$RS_SECTION RS_ROUTER_KIND=$RS_ROUTER_KIND \
    bash -c "$RS_APPLY_COMMAND" </dev/null >&2 9>&-
}

systemd_unit_active() {
  command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet -- "$1" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------------
# Verification: which server answers through the router
# ---------------------------------------------------------------------------------------------------
SQL_CLIENT=''

find_sql_client() {
  if [[ -n ${RS_SQL_CLIENT:-} ]]; then
    SQL_CLIENT=$RS_SQL_CLIENT
  elif command -v mariadb >/dev/null 2>&1; then
    SQL_CLIENT=mariadb
  elif command -v mysql >/dev/null 2>&1; then
    SQL_CLIENT=mysql
  else
    SQL_CLIENT=''
  fi
}

VERIFY_ARGS=()
VERIFY_READY=false

# The verification login, once: from VerifyDefaultsFile (checked by trusted_file, read as data), else
# RS_VERIFY_USER with the password of a local run. Missing file or user: verification is skipped.
load_verify_login() {
  VERIFY_ARGS=()
  if [[ -n $RS_VERIFY_DEFAULTS_FILE && -e $RS_VERIFY_DEFAULTS_FILE ]]; then
    trusted_file VerifyDefaultsFile "$RS_VERIFY_DEFAULTS_FILE"
    read_client_login "$TRUSTED_PATH" VERIFY_ARGS VERIFY_PASSWORD
    VERIFY_READY=true
  elif [[ -n ${RS_VERIFY_USER:-} ]]; then
    VERIFY_ARGS=(--no-defaults "--user=$RS_VERIFY_USER")
    VERIFY_READY=true
  fi
}

verify_credentials() {
  [[ -n $SQL_CLIENT && $VERIFY_READY == true ]]
}

# Prints "server_id port hostname" of the server answering at host:port, or nothing.
identity_at() {
  local address=$1 host port
  host=${address%:*}
  port=${address##*:}
  MYSQL_PWD=$VERIFY_PASSWORD "$SQL_CLIENT" "${VERIFY_ARGS[@]}" --protocol=TCP "--host=$host" "--port=$port" \
    --connect-timeout=2 -N -B -e 'SELECT @@server_id, @@port, @@hostname' 2>/dev/null </dev/null |
    tr '\t' ' ' | head -n 1
}

# verify THROUGH: the identity answering through the router must be that of DEST[0].
verify_router() {
  R_VERIFY_THROUGH=$1
  R_VERIFY_EXPECTED=''
  R_VERIFY_ANSWERED=''
  if ! verify_credentials; then
    R_VERIFY_STATUS=skipped
    warn "verification skipped: no client or no credentials (VerifyDefaultsFile or RS_VERIFY_USER)"
    return 0
  fi
  if [[ -z $R_VERIFY_THROUGH ]]; then
    R_VERIFY_STATUS=skipped
    warn "verification skipped: no router address (set VerifyAddress)"
    return 0
  fi
  local deadline=$(($(date +%s) + RS_VERIFY_TIMEOUT))
  while :; do
    R_VERIFY_EXPECTED=$(identity_at "${DEST[0]}")
    R_VERIFY_ANSWERED=$(identity_at "$R_VERIFY_THROUGH")
    if [[ -n $R_VERIFY_EXPECTED && $R_VERIFY_EXPECTED == "$R_VERIFY_ANSWERED" ]]; then
      R_VERIFY_STATUS=ok
      return 0
    fi
    (($(date +%s) >= deadline)) && break
    sleep 0.3
  done
  R_VERIFY_STATUS=failed
  return 1
}

# Status: who answers through the router now (no expectation).
probe_router() {
  R_VERIFY_THROUGH=$1
  if verify_credentials && [[ -n $R_VERIFY_THROUGH ]]; then
    R_VERIFY_ANSWERED=$(identity_at "$R_VERIFY_THROUGH")
    if [[ -n $R_VERIFY_ANSWERED ]]; then R_VERIFY_STATUS=answered; else R_VERIFY_STATUS=failed; fi
  else
    R_VERIFY_STATUS=skipped
  fi
}

loopback_if_wildcard() {
  case $1 in '' | 0.0.0.0 | '*' | '::' | '[::]') printf '127.0.0.1' ;; *) printf '%s' "$1" ;; esac
}


# ---------------------------------------------------------------------------------------------------
# Flows: the same for every router kind, through the kind's functions (see the header)
# ---------------------------------------------------------------------------------------------------
# Restores the backup and applies it; exits with CODE (or 6 when the restore fails too).
rollback_and_exit() {
  local code=$1 reason=$2
  log "$reason; restoring $R_BACKUP"
  if router_restore; then
    R_ROLLED_BACK=true
    R_CHANGED=false
    finish "$code" "$reason; the previous config was restored and applied"
  fi
  finish 6 "$reason; restoring the previous config FAILED too: the router needs a human (backup: $R_BACKUP)"
}

switch_router() {
  local new through
  router_new_state
  new=$NEW_TEMP
  router_render "$new"
  through=$(router_verify_address)

  if router_in_place "$new"; then
    R_VALIDATED=true
    if [[ $RS_DRY_RUN == true ]]; then
      R_IN_PLACE=true
      finish 0 "already in place: nothing would change"
    fi
    if verify_router "$through"; then
      R_IN_PLACE=true
      finish 0 "already in place: nothing changed"
    fi
    log "the router is already in place but ${DEST[0]} does not answer through it; applying it again"
  fi

  R_MESSAGE=''
  router_validate "$new" || finish 3 "${R_MESSAGE:-validation failed}; the config was not touched"

  if [[ $RS_DRY_RUN == true ]]; then
    local validates=''
    [[ $R_VALIDATED == true ]] && validates='the new config validates; '
    finish 0 "dry run: ${validates}would switch from $(
      IFS=,
      printf '%s' "${R_PREVIOUS[*]}"
    ) to $(
      IFS=,
      printf '%s' "${DEST[*]}"
    )"
  fi

  router_backup
  R_MESSAGE=''
  router_apply "$new" || rollback_and_exit 4 "${R_MESSAGE:-applying the new config failed}"
  verify_router "$through" ||
    rollback_and_exit 5 "verification failed: ${DEST[0]} (${R_VERIFY_EXPECTED:-unreachable}) does not answer through $through (answered: ${R_VERIFY_ANSWERED:-nothing})"
  finish 0 "switched to ${DEST[0]}"
}

status_router() {
  local through
  through=$(router_verify_address)
  DEST=("${R_PREVIOUS[@]}")
  probe_router "$through"
  router_status
  finish 0 "status read"
}

# Loads the functions of RS_ROUTER_KIND from the kind file next to this script (validated: one of the
# fixed names, so the path cannot leave this folder).
load_router_kind() {
  local here=${BASH_SOURCE[0]%/*}
  [[ $here == "${BASH_SOURCE[0]}" ]] && here=.
  local file="$here/router-kinds/$RS_ROUTER_KIND.sh"
  [[ -f $file ]] || finish 2 "invalid RouterKind: no $file"
  # Sourced inside this function: a kind file declares its globals with declare -g.
  # shellcheck source=/dev/null
  source "$file" || finish 1 "cannot load $file"
  local fn
  for fn in "${ROUTER_FUNCTIONS[@]}"; do
    declare -F "$fn" >/dev/null || finish 1 "$file does not define $fn"
  done
}

main() {
  load_settings
  validate_inputs
  load_router_kind
  router_check_inputs
  # Every file named by a parameter is checked before anything reads it; a link is followed, and the
  # file it leads to is the one changed (the link stays a link).
  trusted_file ConfigPath "$RS_CONFIG_PATH"
  RS_CONFIG_PATH=$TRUSTED_PATH
  load_verify_login
  find_sql_client
  # Lock before reading the config, so a concurrent run cannot change it between read and rename.
  if [[ $RS_ACTION == switch && $RS_DRY_RUN == false ]]; then take_lock; fi
  router_parse
  if [[ $RS_ACTION == status ]]; then
    status_router
  fi
  switch_router
}

main
