#!/usr/bin/env bash
# router-switch: points one local database router (HAProxy, MySQL Router or ProxySQL) at a new primary
# and keeps fenced servers out of it, or reports where the router points now.
#
# This file is the single source of truth. scripts/build-ssm-document.mjs embeds it verbatim into the
# SSM Command document infra/ssm/router-switch.json; the local adapter (functions/routers/local.ts) runs
# this very file with bash. A unit test proves the document's copy equals this file.
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
# Output: diagnostics on stderr, exactly one JSON line on stdout (schema router-switch/1).
# Exit codes: 0 done (or nothing to do), 2 bad input, 3 the new config did not validate (nothing was
# touched), 4 applying failed and the backup was restored, 5 verification failed and the backup was
# restored, 6 restoring the backup failed too (the router needs a human), 1 anything else.
set -uo pipefail
umask 077
export LC_ALL=C
if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  echo "router-switch: needs bash 4.4 or later (found $BASH_VERSION)" >&2
  exit 1
fi

# The same patterns as functions/routers/parameters.ts (PATTERNS) and the document's allowedPattern.
PAT_Destinations='^([A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5}(,[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5}){0,15})?$'
PAT_Fenced='^([A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5}(,[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5}){0,15})?$'
PAT_ConfigPath='^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32}$'
PAT_Section='^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$'
PAT_ServiceName='^([A-Za-z0-9_][A-Za-z0-9_.@-]{0,127})?$'
PAT_VerifyAddress='^([A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5})?$'
PAT_VerifyDefaultsFile='^((/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32})?$'
PAT_VerifyTimeoutSeconds='^[0-9]{1,3}$'


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
  json_string "${RS_CONFIG_PATH:-}"
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
  local owner mode
  owner=$(stat -c %u -- "$file") || return 0
  mode=$(stat -c %a -- "$file") || return 0
  # The file may carry a command: trust it only if nobody but root (or the runner) can change it.
  if [[ $owner != 0 && $owner != "$(id -u)" ]] || (((8#$mode & 8#022) != 0)); then
    warn "ignoring $file: it must be owned by root and not writable by group or others"
    return 0
  fi
  local line key value
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*(RS_APPLY_COMMAND|RS_BACKUP_DIR|RS_VERIFY_USER|RS_SQL_CLIENT|RS_HAPROXY_BIN)=(.*)$ ]] || continue
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
  case $RS_ACTION in switch | status) ;; *) finish 2 "invalid Action (switch or status)" ;; esac
  case $RS_ROUTER_KIND in haproxy | mysqlrouter | proxysql) ;; *) finish 2 "invalid RouterKind" ;; esac
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
  split_list "$RS_DESTINATIONS" DEST
  split_list "$RS_FENCED" FENCED
  if [[ $RS_ACTION == switch && ${#DEST[@]} -eq 0 ]]; then
    finish 2 "Destinations must name at least the new primary"
  fi
  local d f seen=' '
  for d in "${DEST[@]}"; do
    [[ $seen == *" $d "* ]] && finish 2 "Destinations lists $d twice"
    seen+="$d "
    for f in "${FENCED[@]}"; do
      [[ $d == "$f" ]] && finish 2 "$d is fenced and cannot be a destination"
    done
  done
  if [[ $RS_ROUTER_KIND == proxysql && ! $RS_SECTION =~ ^[0-9]{1,9}(:[0-9]{1,9})?$ ]]; then
    finish 2 "Section for proxysql must be WRITER or WRITER:READER hostgroup ids"
  fi
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
  # Keep the 20 newest backups of this file.
  local old
  while IFS= read -r old; do rm -f -- "$old"; done < <(
    ls -1t -- "$BACKUP_DIR/$CONFIG_KEY".*.bak 2>/dev/null | tail -n +21
  )
}

# A temporary file next to the config (same file system, so the final rename is atomic), with the
# config's owner and mode. Sets NEW_TEMP (a global, so the cleanup list survives: no subshell).
NEW_TEMP=''
new_temp_next_to_config() {
  NEW_TEMP=$(mktemp -- "$(dirname -- "$RS_CONFIG_PATH")/.$(basename -- "$RS_CONFIG_PATH").rs.XXXXXX") ||
    finish 1 "cannot create a temporary file next to $RS_CONFIG_PATH"
  TMP_FILES+=("$NEW_TEMP")
  chmod --reference="$RS_CONFIG_PATH" -- "$NEW_TEMP" 2>/dev/null || true
  chown --reference="$RS_CONFIG_PATH" -- "$NEW_TEMP" 2>/dev/null || true
}

install_file() {
  # install_file TMP: rename over the config.
  mv -f -- "$1" "$RS_CONFIG_PATH"
}

restore_backup_file() {
  local tmp
  tmp=$(mktemp -- "$(dirname -- "$RS_CONFIG_PATH")/.$(basename -- "$RS_CONFIG_PATH").rs.XXXXXX") || return 1
  TMP_FILES+=("$tmp")
  cp -p -- "$R_BACKUP" "$tmp" && mv -f -- "$tmp" "$RS_CONFIG_PATH"
}

run_apply_command() {
  [[ -n ${RS_APPLY_COMMAND:-} ]] || {
    log "ApplyMode command needs RS_APPLY_COMMAND (environment or /etc/mysql-failover/router-switch.env)"
    return 1
  }
  R_APPLIED=command
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

verify_credentials() {
  VERIFY_ARGS=()
  [[ -n $SQL_CLIENT ]] || return 1
  if [[ -n $RS_VERIFY_DEFAULTS_FILE && -r $RS_VERIFY_DEFAULTS_FILE ]]; then
    VERIFY_ARGS=("--defaults-extra-file=$RS_VERIFY_DEFAULTS_FILE")
    return 0
  fi
  if [[ -n ${RS_VERIFY_USER:-} ]]; then
    VERIFY_ARGS=(--no-defaults "--user=$RS_VERIFY_USER")
    return 0
  fi
  return 1
}

# Prints "server_id port hostname" of the server answering at host:port, or nothing.
identity_at() {
  local address=$1 host port
  host=${address%:*}
  port=${address##*:}
  "$SQL_CLIENT" "${VERIFY_ARGS[@]}" --protocol=TCP "--host=$host" "--port=$port" --connect-timeout=2 \
    -N -B -e 'SELECT @@server_id, @@port, @@hostname' 2>/dev/null </dev/null | tr '\t' ' ' | head -n 1
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
# HAProxy driver
# ---------------------------------------------------------------------------------------------------
HAP_BIN=''
HAP_LINES=()
HAP_START=-1
HAP_END=-1
HAP_SOCKET=''
HAP_PIDFILE=''
HAP_MASTER_WORKER=false
HAP_BIND=''
declare -A HAP_NAME_BY_ADDR=()
HAP_SERVER_ADDRS=()
HAP_SERVER_NAMES=()

hap_find_bin() {
  if [[ -n ${RS_HAPROXY_BIN:-} ]]; then
    HAP_BIN=$RS_HAPROXY_BIN
  elif command -v haproxy >/dev/null 2>&1; then
    HAP_BIN=haproxy
  else
    HAP_BIN=/usr/sbin/haproxy
  fi
}

HAP_SECTION_RE='^[[:space:]]*(global|defaults|frontend|backend|listen|peers|resolvers|userlist|cache|program|mailers|http-errors|ring)([[:space:]]|$)'
HAP_SERVER_RE='^([[:space:]]*)server[[:space:]]+([^[:space:]]+)[[:space:]]+([^[:space:]]+)(.*)$'

hap_parse() {
  [[ -r $RS_CONFIG_PATH ]] || finish 1 "cannot read $RS_CONFIG_PATH"
  mapfile -t HAP_LINES <"$RS_CONFIG_PATH"
  local i line in_global=false count=0 words
  HAP_START=-1
  HAP_END=${#HAP_LINES[@]}
  for i in "${!HAP_LINES[@]}"; do
    line=${HAP_LINES[$i]}
    if [[ $line =~ $HAP_SECTION_RE ]]; then
      [[ $HAP_START -ge 0 && $HAP_END -eq ${#HAP_LINES[@]} && $i -gt $HAP_START ]] && HAP_END=$i
      in_global=false
      [[ ${BASH_REMATCH[1]} == global ]] && in_global=true
      if [[ $line =~ ^[[:space:]]*(listen|backend)[[:space:]]+([^[:space:]]+)([[:space:]]|$) && ${BASH_REMATCH[2]} == "$RS_SECTION" ]]; then
        count=$((count + 1))
        HAP_START=$i
        HAP_END=${#HAP_LINES[@]}
      fi
      continue
    fi
    if [[ $in_global == true ]]; then
      read -r -a words <<<"$line"
      if [[ ${words[0]:-} == stats && ${words[1]:-} == socket && -z $HAP_SOCKET ]]; then
        HAP_SOCKET=${words[2]:-}
      elif [[ ${words[0]:-} == pidfile ]]; then
        HAP_PIDFILE=${words[1]:-}
      elif [[ ${words[0]:-} == master-worker ]]; then
        HAP_MASTER_WORKER=true
      fi
    fi
  done
  [[ $count -eq 0 ]] && finish 1 "no 'listen $RS_SECTION' or 'backend $RS_SECTION' section in $RS_CONFIG_PATH"
  [[ $count -gt 1 ]] && finish 1 "section $RS_SECTION appears $count times in $RS_CONFIG_PATH"
  HAP_SERVER_ADDRS=()
  HAP_SERVER_NAMES=()
  local actives=() backups=() rest
  for ((i = HAP_START + 1; i < HAP_END; i++)); do
    line=${HAP_LINES[$i]}
    if [[ $line =~ $HAP_SERVER_RE ]]; then
      HAP_SERVER_NAMES+=("${BASH_REMATCH[2]}")
      HAP_SERVER_ADDRS+=("${BASH_REMATCH[3]}")
      HAP_NAME_BY_ADDR[${BASH_REMATCH[3]}]=${BASH_REMATCH[2]}
      rest=" ${BASH_REMATCH[4]%%#*} "
      if [[ $rest == *' disabled '* ]]; then
        continue
      elif [[ $rest == *' backup '* ]]; then
        backups+=("${BASH_REMATCH[3]}")
      else
        actives+=("${BASH_REMATCH[3]}")
      fi
    elif [[ -z $HAP_BIND && $line =~ ^[[:space:]]*bind[[:space:]]+([^[:space:],]+) ]]; then
      local bind=${BASH_REMATCH[1]}
      bind=${bind#ipv4@}
      HAP_BIND="$(loopback_if_wildcard "${bind%:*}"):${bind##*:}"
    fi
  done
  R_PREVIOUS=("${actives[@]}" "${backups[@]}")
}

# Words of a server line's options, without backup/disabled and without a trailing comment.
hap_options() {
  local rest=${1%%#*} word out=''
  local -a words
  read -r -a words <<<"$rest"
  for word in "${words[@]}"; do
    [[ $word == backup || $word == disabled ]] && continue
    out+=" $word"
  done
  printf '%s' "$out"
}

hap_unique_name() {
  local address=$1 name n=2
  name="dst_${address//[.:-]/_}"
  while in_list "$name" "${HAP_SERVER_NAMES[@]}" "${HAP_NEW_NAMES[@]}"; do
    name="dst_${address//[.:-]/_}_$n"
    n=$((n + 1))
  done
  printf '%s' "$name"
}

HAP_NEW_NAMES=()

# Writes the rewritten config to $1: the section's server lines become DEST[0] as the only active
# server and the other destinations as backups, in order; fenced and unlisted servers are dropped.
hap_render() {
  local out=$1 i line indent='    ' template=' check' first_server=-1
  local -A opts_by_addr=()
  for ((i = HAP_START + 1; i < HAP_END; i++)); do
    line=${HAP_LINES[$i]}
    if [[ $line =~ $HAP_SERVER_RE ]]; then
      if [[ $first_server -lt 0 ]]; then
        first_server=$i
        indent=${BASH_REMATCH[1]}
        template=$(hap_options "${BASH_REMATCH[4]}")
      fi
      opts_by_addr[${BASH_REMATCH[3]}]=$(hap_options "${BASH_REMATCH[4]}")
    fi
  done
  local block=() d name opts n=0
  HAP_NEW_NAMES=()
  for d in "${DEST[@]}"; do
    if [[ -n ${HAP_NAME_BY_ADDR[$d]+x} ]]; then
      name=${HAP_NAME_BY_ADDR[$d]}
      opts=${opts_by_addr[$d]}
    else
      name=$(hap_unique_name "$d")
      opts=$template
    fi
    HAP_NEW_NAMES+=("$name")
    line="${indent}server ${name} ${d}${opts}"
    [[ $n -gt 0 ]] && line+=' backup'
    block+=("$line")
    n=$((n + 1))
  done
  # Insert after the last non-blank line of the section when it has no server line yet.
  local insert_at=$first_server
  if [[ $insert_at -lt 0 ]]; then
    insert_at=$HAP_END
    while [[ $insert_at -gt $((HAP_START + 1)) && -z ${HAP_LINES[$((insert_at - 1))]//[[:space:]]/} ]]; do
      insert_at=$((insert_at - 1))
    done
  fi
  {
    for i in "${!HAP_LINES[@]}"; do
      line=${HAP_LINES[$i]}
      if [[ $i -eq $insert_at ]]; then printf '%s\n' "${block[@]}"; fi
      if [[ $i -gt $HAP_START && $i -lt $HAP_END && $line =~ $HAP_SERVER_RE ]]; then continue; fi
      printf '%s\n' "$line"
    done
    if [[ $insert_at -ge ${#HAP_LINES[@]} ]]; then printf '%s\n' "${block[@]}"; fi
  } >"$out"
}

hap_validate() {
  local output
  if ! output=$("$HAP_BIN" -c -f "$1" 2>&1); then
    R_MESSAGE="haproxy -c rejected the new config: $(grep -E 'ALERT|ERROR' <<<"$output" | tail -n 5)"
    return 1
  fi
  return 0
}

# Sends one command to the admin socket. socat when installed, else python3, else nc -U (bash's
# /dev/tcp cannot reach a unix socket).
hap_admin() {
  local command=$1
  if command -v socat >/dev/null 2>&1; then
    printf '%s\n' "$command" | socat -t 2 - "UNIX-CONNECT:$HAP_SOCKET"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    sys.stdout.write(chunk.decode(errors="replace"))
' "$HAP_SOCKET" "$command"
  elif command -v nc >/dev/null 2>&1; then
    printf '%s\n' "$command" | nc -U -w 2 "$HAP_SOCKET"
  else
    return 127
  fi
}

# The master CLI socket of a master-worker HAProxy (-S path[,options] on the master's command line).
hap_master_socket() {
  local pidfile=${HAP_PIDFILE:-/run/haproxy.pid} pid arg next=false
  pid=$(head -n 1 -- "$pidfile" 2>/dev/null | tr -dc '0-9')
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  while IFS= read -r -d '' arg; do
    if [[ $next == true ]]; then
      arg=${arg%%,*}
      [[ $arg == /* && -S $arg ]] && printf '%s' "$arg" && return 0
      next=false
    fi
    [[ $arg == -S ]] && next=true
  done <"/proc/$pid/cmdline"
  return 1
}

# Runs one runtime command on every live worker. A reload leaves old workers serving their existing
# sessions until those end, and the stats socket only reaches the newest worker; the master CLI
# (`@!<pid> command`) reaches each of them. Without a master CLI, the stats socket is all there is.
# Success means the current worker took the command. An old worker (still serving the sessions it had
# when a reload replaced it) has its proxies stopped: it takes no new connection and refuses server
# commands with "Proxy is disabled"; its sessions are shut down one by one (hap_shutdown_sessions).
HAP_WORKER_PIDS=()
HAP_CURRENT_WORKERS=' '
hap_runtime_all() {
  local command=$1 reply failed=0 pid
  if [[ ${#HAP_WORKER_PIDS[@]} -gt 0 ]]; then
    for pid in "${HAP_WORKER_PIDS[@]}"; do
      reply=$(HAP_SOCKET=$HAP_MASTER_SOCKET hap_admin "@!$pid $command" 2>&1)
      [[ -z ${reply//[[:space:]]/} ]] && continue
      if [[ $HAP_CURRENT_WORKERS == *" $pid "* ]]; then
        warn "runtime API (worker $pid): $command: $reply"
        failed=1
      elif [[ $reply != *'Proxy is disabled'* ]]; then
        warn "runtime API (old worker $pid): $command: $reply"
      fi
    done
    return $failed
  fi
  reply=$(hap_admin "$command" 2>&1)
  if [[ -n ${reply//[[:space:]]/} ]]; then
    warn "runtime API: $command: $reply"
    return 1
  fi
  return 0
}

# Shuts down, on the old workers, every session of backend $RS_SECTION attached to server $1.
hap_shutdown_old_sessions() {
  local name=$1 pid id
  for pid in "${HAP_WORKER_PIDS[@]}"; do
    [[ $HAP_CURRENT_WORKERS == *" $pid "* ]] && continue
    while read -r id; do
      HAP_SOCKET=$HAP_MASTER_SOCKET hap_admin "@!$pid shutdown session $id" >/dev/null 2>&1 &&
        R_RUNTIME+=("shutdown session $id on old worker $pid")
    done < <(HAP_SOCKET=$HAP_MASTER_SOCKET hap_admin "@!$pid show sess" 2>/dev/null |
      awk -v be="be=$RS_SECTION" -v srv="srv=$name" '{ b = 0; s = 0; for (i = 2; i <= NF; i++) { if ($i == be) b = 1; if ($i == srv) s = 1 } } b && s { sub(/:$/, "", $1); print $1 }')
  done
}

# Takes the fenced servers out of the running processes at once: maintenance (no new connection) and
# their open sessions shut down. The reload that follows makes it permanent.
HAP_MASTER_SOCKET=''
hap_fence_runtime() {
  local f name
  [[ ${#FENCED[@]} -gt 0 ]] || return 0
  HAP_WORKER_PIDS=()
  if HAP_MASTER_SOCKET=$(hap_master_socket); then
    local procs
    procs=$(HAP_SOCKET=$HAP_MASTER_SOCKET hap_admin 'show proc' 2>/dev/null)
    mapfile -t HAP_WORKER_PIDS < <(awk '$2 == "worker" && $1 ~ /^[0-9]+$/ { print $1 }' <<<"$procs")
    # `show proc` lists the current workers before the "# old workers" line.
    HAP_CURRENT_WORKERS=" $(awk '/^# old workers/ { exit } $2 == "worker" { printf "%s ", $1 }' <<<"$procs")"
  fi
  if [[ ${#HAP_WORKER_PIDS[@]} -eq 0 && (-z $HAP_SOCKET || ! -S $HAP_SOCKET) ]]; then
    warn "no admin socket (stats socket ... level admin) to disable fenced servers at once; relying on the reload"
    return 0
  fi
  for f in "${FENCED[@]}"; do
    name=${HAP_NAME_BY_ADDR[$f]:-}
    [[ -n $name ]] || continue
    hap_runtime_all "set server $RS_SECTION/$name state maint" && R_RUNTIME+=("maint $RS_SECTION/$name")
    hap_runtime_all "shutdown sessions server $RS_SECTION/$name" &&
      R_RUNTIME+=("shutdown sessions $RS_SECTION/$name")
    [[ ${#HAP_WORKER_PIDS[@]} -gt 0 ]] && hap_shutdown_old_sessions "$name"
  done
  [[ ${#HAP_WORKER_PIDS[@]} -gt 0 ]] && R_RUNTIME+=("workers ${HAP_WORKER_PIDS[*]}")
  return 0
}

hap_reload() {
  local mode=$RS_APPLY_MODE unit=${RS_SERVICE_NAME:-haproxy}
  if [[ $mode == auto ]]; then
    if [[ -n ${RS_APPLY_COMMAND:-} ]]; then
      mode=command
    elif systemd_unit_active "$unit"; then
      mode=systemd
    else
      mode=pidfile
    fi
  fi
  case $mode in
  command) run_apply_command ;;
  systemd)
    R_APPLIED=systemd
    systemctl reload -- "$unit" >&2 9>&-
    ;;
  pidfile)
    local pidfile=${HAP_PIDFILE:-/run/haproxy.pid} pid cmdline
    pid=$(head -n 1 -- "$pidfile" 2>/dev/null | tr -dc '0-9')
    if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
      log "no running HAProxy behind pidfile $pidfile"
      return 1
    fi
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
    if [[ $HAP_MASTER_WORKER == true || " $cmdline " == *' -W '* || " $cmdline " == *' -Ws '* ]]; then
      # Master-worker: the master re-executes itself and re-reads the config; its pid stays the same.
      R_APPLIED=pidfile:master-reload
      kill -USR2 "$pid"
    else
      # Standalone: a new process takes over the listeners and asks the old one to finish (-sf).
      R_APPLIED=pidfile:soft-restart
      # fd 9 (our lock) must not leak into the daemon, or the lock would outlive this run.
      local pid_args=()
      [[ -z $HAP_PIDFILE ]] && pid_args=(-p "$pidfile")
      "$HAP_BIN" -f "$RS_CONFIG_PATH" "${pid_args[@]}" -D -sf "$pid" </dev/null >&2 9>&-
    fi
    ;;
  *) return 1 ;;
  esac
}

hap_through() {
  if [[ -n $RS_VERIFY_ADDRESS ]]; then printf '%s' "$RS_VERIFY_ADDRESS"; else printf '%s' "$HAP_BIND"; fi
}

# ---------------------------------------------------------------------------------------------------
# MySQL Router driver
# ---------------------------------------------------------------------------------------------------
MR_LINES=()
MR_DEST_LINE=-1
MR_DEST_PREFIX=''
MR_STRATEGY=''
MR_BIND=''

mr_parse() {
  [[ -r $RS_CONFIG_PATH ]] || finish 1 "cannot read $RS_CONFIG_PATH"
  mapfile -t MR_LINES <"$RS_CONFIG_PATH"
  local name=${RS_SECTION#routing:} i line in_section=false count=0 mode='' strategy='' bind_address='' bind_port=''
  local dest_count=0
  for i in "${!MR_LINES[@]}"; do
    line=${MR_LINES[$i]}
    if [[ $line =~ ^[[:space:]]*\[([^]]*)\][[:space:]]*$ ]]; then
      in_section=false
      if [[ ${BASH_REMATCH[1]} == "routing:$name" ]]; then
        in_section=true
        count=$((count + 1))
      fi
      continue
    fi
    [[ $in_section == true ]] || continue
    [[ $line =~ ^[[:space:]]*[#\;] ]] && continue
    if [[ $line =~ ^([[:space:]]*destinations[[:space:]]*=[[:space:]]*)(.*)$ ]]; then
      MR_DEST_LINE=$i
      MR_DEST_PREFIX=${BASH_REMATCH[1]}
      dest_count=$((dest_count + 1))
      local value=${BASH_REMATCH[2]}
      value=${value%"${value##*[![:space:]]}"}
      value=${value//[[:space:]]/}
      if [[ $value == metadata-cache://* ]]; then
        finish 1 "[routing:$name] takes its destinations from the InnoDB Cluster metadata cache; not switched here"
      fi
      IFS=',' read -r -a R_PREVIOUS <<<"$value"
    elif [[ $line =~ ^[[:space:]]*mode[[:space:]]*=[[:space:]]*([^[:space:]]+) ]]; then
      mode=${BASH_REMATCH[1]}
    elif [[ $line =~ ^[[:space:]]*routing_strategy[[:space:]]*=[[:space:]]*([^[:space:]]+) ]]; then
      strategy=${BASH_REMATCH[1]}
    elif [[ $line =~ ^[[:space:]]*bind_address[[:space:]]*=[[:space:]]*([^[:space:]]+) ]]; then
      bind_address=${BASH_REMATCH[1]}
    elif [[ $line =~ ^[[:space:]]*bind_port[[:space:]]*=[[:space:]]*([0-9]+) ]]; then
      bind_port=${BASH_REMATCH[1]}
    fi
  done
  [[ $count -eq 0 ]] && finish 1 "no [routing:$name] section in $RS_CONFIG_PATH"
  [[ $count -gt 1 ]] && finish 1 "[routing:$name] appears $count times in $RS_CONFIG_PATH"
  [[ $dest_count -eq 1 ]] || finish 1 "[routing:$name] must have exactly one destinations line (found $dest_count)"
  if [[ -n $strategy ]]; then MR_STRATEGY=$strategy; else MR_STRATEGY="mode=$mode"; fi
  # bind_address may carry the port itself (host:port).
  if [[ $bind_address =~ ^(.*):([0-9]+)$ ]]; then
    MR_BIND="$(loopback_if_wildcard "${BASH_REMATCH[1]}"):${BASH_REMATCH[2]}"
  elif [[ -n $bind_port ]]; then
    MR_BIND="$(loopback_if_wildcard "$bind_address"):$bind_port"
  fi
}

# Ordered strategies keep the list's order meaningful: the new primary first, the others only as
# fallbacks. With any other strategy (round-robin, read-only) a second destination would take writes,
# so the new primary becomes the only destination.
MR_NEW_VALUE=''
mr_new_destinations() {
  case $MR_STRATEGY in
  first-available | next-available | mode=read-write)
    local IFS=,
    MR_NEW_VALUE="${DEST[*]}"
    ;;
  *)
    warn "routing strategy '$MR_STRATEGY' is not ordered: writing the new primary as the only destination"
    MR_NEW_VALUE=${DEST[0]}
    ;;
  esac
}

mr_render() {
  local out=$1 value i
  mr_new_destinations
  value=$MR_NEW_VALUE
  {
    for i in "${!MR_LINES[@]}"; do
      if [[ $i -eq $MR_DEST_LINE ]]; then
        printf '%s%s\n' "$MR_DEST_PREFIX" "$value"
      else
        printf '%s\n' "${MR_LINES[$i]}"
      fi
    done
  } >"$out"
}

# No mysqlrouter binary is needed to check the result: the new file, read by a second, independent
# parser (awk), must yield exactly the intended destinations, and differ from the old one in that single
# line (comments and other sections untouched).
mr_read_destinations() {
  awk -v section="routing:${RS_SECTION#routing:}" '
    /^[ \t]*\[/ { s = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", s); inside = (s == section); next }
    inside && /^[ \t]*destinations[ \t]*=/ { v = $0; sub(/^[^=]*=/, "", v); gsub(/[ \t]/, "", v); print v; n++ }
    END { if (n != 1) exit 1 }' "$1"
}

mr_validate() {
  local file=$1 got changed
  if ! got=$(mr_read_destinations "$file"); then
    R_MESSAGE="the rewritten config does not have exactly one destinations line in [routing:${RS_SECTION#routing:}]"
    return 1
  fi
  if [[ $got != "$MR_NEW_VALUE" ]]; then
    R_MESSAGE="the rewritten config reads back as destinations '$got', not '$MR_NEW_VALUE'"
    return 1
  fi
  changed=$(diff -- "$RS_CONFIG_PATH" "$file" | grep -c '^[<>]')
  if [[ $changed -gt 2 ]]; then
    R_MESSAGE="the rewritten config differs in more than the destinations line"
    return 1
  fi
  return 0
}

mr_restart() {
  local mode=$RS_APPLY_MODE unit=${RS_SERVICE_NAME:-mysqlrouter}
  if [[ $mode == auto ]]; then
    if [[ -n ${RS_APPLY_COMMAND:-} ]]; then mode=command; else mode=systemd; fi
  fi
  case $mode in
  command) run_apply_command ;;
  systemd)
    # MySQL Router reads its destinations only at start: a restart is the only way to apply them.
    R_APPLIED=systemd
    systemctl restart -- "$unit" >&2 9>&-
    ;;
  *)
    log "ApplyMode $mode does not apply to MySQL Router"
    return 1
    ;;
  esac
}

mr_through() {
  if [[ -n $RS_VERIFY_ADDRESS ]]; then printf '%s' "$RS_VERIFY_ADDRESS"; else printf '%s' "$MR_BIND"; fi
}

# ---------------------------------------------------------------------------------------------------
# ProxySQL driver (admin interface; ConfigPath is a client defaults file holding its address and login)
# ---------------------------------------------------------------------------------------------------
PS_WRITER=''
PS_READER=''
PS_CONFIG_ROWS=''
PS_RUNTIME_ROWS=''

ps_admin() {
  # SQL on stdin; rows on stdout, tab-separated, raw.
  "$SQL_CLIENT" "--defaults-extra-file=$RS_CONFIG_PATH" -N -B -r
}

ps_parse() {
  [[ -n $SQL_CLIENT ]] || finish 1 "no mariadb or mysql client to reach the ProxySQL admin interface"
  [[ -r $RS_CONFIG_PATH ]] || finish 1 "cannot read the ProxySQL admin defaults file $RS_CONFIG_PATH"
  PS_WRITER=${RS_SECTION%%:*}
  PS_READER=''
  [[ $RS_SECTION == *:* ]] && PS_READER=${RS_SECTION#*:}
  PS_CONFIG_ROWS=$(printf '%s\n' \
    'SELECT hostgroup_id, hostname, port, status FROM mysql_servers ORDER BY hostgroup_id, hostname, port;' |
    ps_admin) || finish 1 "cannot query the ProxySQL admin interface"
  PS_RUNTIME_ROWS=$(printf '%s\n' \
    'SELECT hostgroup_id, hostname, port, status FROM runtime_mysql_servers ORDER BY hostgroup_id, hostname, port;' |
    ps_admin) || finish 1 "cannot query the ProxySQL admin interface"
  R_PREVIOUS=()
  local hg host port status
  while IFS=$'\t' read -r hg host port status; do
    [[ $hg == "$PS_WRITER" && $status == ONLINE ]] && R_PREVIOUS+=("$host:$port")
  done <<<"$PS_RUNTIME_ROWS"
  local replication
  replication=$(printf '%s\n' \
    "SELECT COUNT(*) FROM mysql_replication_hostgroups WHERE writer_hostgroup=$PS_WRITER;" | ps_admin 2>/dev/null)
  if [[ ${replication:-0} =~ ^[1-9] ]]; then
    warn "mysql_replication_hostgroups manages hostgroup $PS_WRITER: ProxySQL moves servers by read_only itself and may put a writable replica back into the writer hostgroup"
  fi
}

# Whether ROWS (hostgroup host port status lines) already are the intended state.
ps_rows_in_place() {
  local rows=$1 hg host port status writers=0 primary_ok=false d f
  while IFS=$'\t' read -r hg host port status; do
    [[ -z $hg ]] && continue
    if [[ $hg == "$PS_WRITER" ]]; then
      writers=$((writers + 1))
      [[ "$host:$port" == "${DEST[0]}" && $status == ONLINE ]] && primary_ok=true
    fi
    for f in "${FENCED[@]}"; do
      [[ "$host:$port" == "$f" && $status != OFFLINE_HARD ]] && return 1
    done
  done <<<"$rows"
  [[ $writers -eq 1 && $primary_ok == true ]] || return 1
  if [[ -n $PS_READER ]]; then
    local found
    for d in "${DEST[@]:1}"; do
      found=false
      while IFS=$'\t' read -r hg host port status; do
        [[ $hg == "$PS_READER" && "$host:$port" == "$d" ]] && found=true
      done <<<"$rows"
      [[ $found == true ]] || return 1
    done
  fi
  return 0
}

# The admin SQL of a switch. Host names and ports passed the patterns above: they cannot leave quotes.
ps_switch_sql() {
  local p_host=${DEST[0]%:*} p_port=${DEST[0]##*:} f d
  printf '%s\n' "DELETE FROM mysql_servers WHERE hostgroup_id=$PS_WRITER AND NOT (hostname='$p_host' AND port=$p_port);"
  printf '%s\n' "INSERT OR IGNORE INTO mysql_servers (hostgroup_id, hostname, port) VALUES ($PS_WRITER, '$p_host', $p_port);"
  printf '%s\n' "UPDATE mysql_servers SET status='ONLINE' WHERE hostgroup_id=$PS_WRITER AND hostname='$p_host' AND port=$p_port;"
  for f in "${FENCED[@]}"; do
    printf '%s\n' "UPDATE mysql_servers SET status='OFFLINE_HARD' WHERE hostname='${f%:*}' AND port=${f##*:};"
  done
  if [[ -n $PS_READER ]]; then
    for d in "${DEST[@]:1}"; do
      printf '%s\n' "INSERT OR IGNORE INTO mysql_servers (hostgroup_id, hostname, port) VALUES ($PS_READER, '${d%:*}', ${d##*:});"
    done
  fi
  printf '%s\n' 'LOAD MYSQL SERVERS TO RUNTIME;' 'SAVE MYSQL SERVERS TO DISK;'
}

ps_backup() {
  local stamp rows
  stamp=$(date -u +%Y%m%dT%H%M%S%NZ)
  R_BACKUP="$BACKUP_DIR/$CONFIG_KEY.mysql_servers.$stamp.sql"
  # SQLite's quote() renders every value as a literal, so the backup is replayable SQL as is.
  rows=$(printf '%s\n' "SELECT 'INSERT INTO mysql_servers (hostgroup_id, hostname, port, gtid_port, status, weight, compression, max_connections, max_replication_lag, use_ssl, max_latency_ms, comment) VALUES (' || hostgroup_id || ', ' || quote(hostname) || ', ' || port || ', ' || gtid_port || ', ' || quote(status) || ', ' || weight || ', ' || compression || ', ' || max_connections || ', ' || max_replication_lag || ', ' || use_ssl || ', ' || max_latency_ms || ', ' || quote(comment) || ');' FROM mysql_servers ORDER BY hostgroup_id, hostname, port;" |
    ps_admin) || finish 1 "cannot read mysql_servers for the backup"
  {
    printf '%s\n' 'DELETE FROM mysql_servers;'
    [[ -n $rows ]] && printf '%s\n' "$rows"
    printf '%s\n' 'LOAD MYSQL SERVERS TO RUNTIME;' 'SAVE MYSQL SERVERS TO DISK;'
  } >"$R_BACKUP" || finish 1 "cannot write the backup $R_BACKUP"
}

ps_apply() {
  R_APPLIED=admin-sql
  ps_switch_sql | ps_admin >&2
}

ps_check_runtime() {
  local rows
  rows=$(printf '%s\n' \
    'SELECT hostgroup_id, hostname, port, status FROM runtime_mysql_servers ORDER BY hostgroup_id, hostname, port;' |
    ps_admin) || {
    R_MESSAGE="cannot read runtime_mysql_servers back"
    return 1
  }
  if ! ps_rows_in_place "$rows"; then
    R_MESSAGE="runtime_mysql_servers does not show ${DEST[0]} as the only writer after LOAD MYSQL SERVERS TO RUNTIME"
    return 1
  fi
  R_VALIDATED=true
}

ps_through() {
  if [[ -n $RS_VERIFY_ADDRESS ]]; then printf '%s' "$RS_VERIFY_ADDRESS"; else printf '127.0.0.1:6033'; fi
}

# ---------------------------------------------------------------------------------------------------
# Flows
# ---------------------------------------------------------------------------------------------------
# Restores the backup and applies it; exits with CODE (or 6 when the restore fails too).
rollback_and_exit() {
  local code=$1 reason=$2
  log "$reason; restoring $R_BACKUP"
  local restored=true
  case $RS_ROUTER_KIND in
  haproxy) restore_backup_file && hap_reload || restored=false ;;
  mysqlrouter) restore_backup_file && mr_restart || restored=false ;;
  proxysql) ps_admin <"$R_BACKUP" >&2 || restored=false ;;
  esac
  if [[ $restored == true ]]; then
    R_ROLLED_BACK=true
    R_CHANGED=false
    finish "$code" "$reason; the previous config was restored and applied"
  fi
  finish 6 "$reason; restoring the previous config FAILED too: the router needs a human (backup: $R_BACKUP)"
}

switch_file_router() {
  local tmp
  new_temp_next_to_config
  tmp=$NEW_TEMP
  case $RS_ROUTER_KIND in
  haproxy) hap_render "$tmp" ;;
  mysqlrouter) mr_render "$tmp" ;;
  esac
  local through
  if [[ $RS_ROUTER_KIND == haproxy ]]; then through=$(hap_through); else through=$(mr_through); fi

  if cmp -s -- "$tmp" "$RS_CONFIG_PATH"; then
    R_VALIDATED=true
    if [[ $RS_DRY_RUN == true ]]; then
      R_IN_PLACE=true
      finish 0 "already in place: nothing would change"
    fi
    if verify_router "$through"; then
      R_IN_PLACE=true
      finish 0 "already in place: nothing changed"
    fi
    log "the config is already in place but ${DEST[0]} does not answer through the router; applying it again"
  fi

  R_MESSAGE=''
  case $RS_ROUTER_KIND in
  haproxy) hap_validate "$tmp" ;;
  mysqlrouter) mr_validate "$tmp" ;;
  esac || finish 3 "${R_MESSAGE:-validation failed}; the config was not touched"
  R_VALIDATED=true

  if [[ $RS_DRY_RUN == true ]]; then
    R_CHANGED=false
    finish 0 "dry run: the new config validates; would switch from $(
      IFS=,
      printf '%s' "${R_PREVIOUS[*]}"
    ) to $(
      IFS=,
      printf '%s' "${DEST[*]}"
    )"
  fi

  backup_config
  [[ $RS_ROUTER_KIND == haproxy ]] && hap_fence_runtime
  install_file "$tmp" || finish 1 "cannot rename the new config over $RS_CONFIG_PATH"
  R_CHANGED=true
  case $RS_ROUTER_KIND in
  haproxy) hap_reload ;;
  mysqlrouter) mr_restart ;;
  esac || rollback_and_exit 4 "applying the new config failed"
  verify_router "$through" ||
    rollback_and_exit 5 "verification failed: ${DEST[0]} (${R_VERIFY_EXPECTED:-unreachable}) does not answer through $through (answered: ${R_VERIFY_ANSWERED:-nothing})"
  finish 0 "switched to ${DEST[0]}"
}

switch_proxysql() {
  local through
  through=$(ps_through)
  if ps_rows_in_place "$PS_CONFIG_ROWS" && ps_rows_in_place "$PS_RUNTIME_ROWS"; then
    R_VALIDATED=true
    if [[ $RS_DRY_RUN == true ]]; then
      R_IN_PLACE=true
      finish 0 "already in place: nothing would change"
    fi
    if verify_router "$through"; then
      R_IN_PLACE=true
      finish 0 "already in place: nothing changed"
    fi
    log "mysql_servers is in place but ${DEST[0]} does not answer through ProxySQL; loading it again"
  fi
  if [[ $RS_DRY_RUN == true ]]; then
    log "dry run; the admin SQL would be:"
    ps_switch_sql >&2
    finish 0 "dry run: would make ${DEST[0]} the only server of writer hostgroup $PS_WRITER"
  fi
  backup_config_proxysql
  R_CHANGED=true
  ps_apply || rollback_and_exit 4 "the admin interface refused the switch"
  ps_check_runtime || rollback_and_exit 4 "$R_MESSAGE"
  verify_router "$through" ||
    rollback_and_exit 5 "verification failed: ${DEST[0]} (${R_VERIFY_EXPECTED:-unreachable}) does not answer through $through (answered: ${R_VERIFY_ANSWERED:-nothing})"
  finish 0 "switched to ${DEST[0]}"
}

backup_config_proxysql() { ps_backup; }

status_router() {
  local through
  case $RS_ROUTER_KIND in
  haproxy) through=$(hap_through) ;;
  mysqlrouter) through=$(mr_through) ;;
  proxysql) through=$(ps_through) ;;
  esac
  DEST=("${R_PREVIOUS[@]}")
  probe_router "$through"
  if [[ $RS_ROUTER_KIND == haproxy && -n $HAP_SOCKET && -S $HAP_SOCKET ]]; then
    local line
    while IFS= read -r line; do
      [[ -n $line ]] && R_RUNTIME+=("$line")
    done < <(hap_admin "show servers state $RS_SECTION" 2>/dev/null | awk 'NR > 2 && NF > 6 { print $4 " " $5 " admin=" $7 " op=" $6 }')
  fi
  finish 0 "status read"
}

main() {
  load_settings
  validate_inputs
  find_sql_client
  # Lock before reading the config, so a concurrent run cannot change it between read and rename.
  if [[ $RS_ACTION == switch && $RS_DRY_RUN == false ]]; then take_lock; fi
  case $RS_ROUTER_KIND in
  haproxy)
    hap_find_bin
    hap_parse
    ;;
  mysqlrouter) mr_parse ;;
  proxysql) ps_parse ;;
  esac
  if [[ $RS_ACTION == status ]]; then
    status_router
  fi
  case $RS_ROUTER_KIND in
  haproxy | mysqlrouter) switch_file_router ;;
  proxysql) switch_proxysql ;;
  esac
}

main
