#!/usr/bin/env bash
# mysql-failover-watcher: watches the local database router's view of the primary and, when the router
# sees the primary go down, sends one EventBridge event that starts the group's watchdog at once.
#
# Why on the backend: the router already health-checks the primary (HAProxy's checks, MySQL Router's
# connects, ProxySQL's monitor), so it knows first, and asking it costs the database nothing. The event
# only starts a normal watchdog cycle, which observes every server and router and needs its own
# confirmations before it changes anything: this script's word alone never acts.
#
# How each router is read (no connection to the database is ever opened here):
#   haproxy      the runtime API (`show stat`): the section's non-backup server is the primary; DOWN
#                or MAINT (the sticky mode's Lua puts a DOWN primary in MAINT) is down.
#   mysqlrouter  the kernel's socket table (`ss`): the router process holding a connection to a
#                destination other than the first of the section's `destinations` means it failed over
#                (first-available and next-available only use a later destination when the first fails).
#   proxysql     the admin interface: no ONLINE server left in the writer hostgroup (SHUNNED by its
#                monitor or by connect errors, or OFFLINE) is down.
#
# Debounce: an event is sent when the primary goes down (or is down when the watcher starts), again
# every MFW_REPEAT_S while it stays down (a watchdog cycle that could not yet confirm the death wants a
# second look), never twice within MFW_MIN_GAP_S, and a down seen during that gap is sent at its end.
# Healthy, it prints nothing.
#
# Settings come from the environment, or from the root-owned file MFW_SETTINGS_FILE (default
# /etc/mysql-failover/watcher.env, KEY=VALUE lines, read as data, never sourced), the environment
# winning:
#   MFW_CLUSTER MFW_GROUP              names carried by the event (the stack's rule matches them)
#   MFW_ROUTER_KIND                    haproxy | mysqlrouter | proxysql
#   MFW_CONFIG_PATH MFW_SECTION        as for the router switch (router config, section; ProxySQL: the
#                                      admin defaults file and WRITER[:READER] hostgroups)
#   MFW_ADMIN_SOCKET                   HAProxy runtime API socket (default: `stats socket` in the config)
#   MFW_EVENT_BUS                      EventBridge bus name
#   MFW_REGION                         AWS region (default: the instance's, from the metadata service)
#   MFW_ENDPOINT                       EventBridge endpoint (default https://events.<region>.amazonaws.com)
#   MFW_BACKEND                        this backend's name in the event (default: the instance id)
#   MFW_INTERVAL_MS (250) MFW_MIN_GAP_S (5) MFW_REPEAT_S (30)
#   MFW_IMDS_ENDPOINT                  instance metadata service (default http://169.254.169.254)
#   MFW_ONCE=true                      probe once, print the state line, exit (diagnostics)
# Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN when set, otherwise the
# instance role's, from the metadata service (IMDSv2), refreshed before they expire. The request is
# signed by curl (--aws-sigv4); the keys reach curl through a file descriptor, never its command line.
set -uo pipefail
umask 077
export LC_ALL=C
if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  echo "watcher: needs bash 4.4 or later (found $BASH_VERSION)" >&2
  exit 1
fi

log() { printf 'watcher: %s\n' "$*"; }
die() {
  log "$*" >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------
SETTING_KEYS=(MFW_CLUSTER MFW_GROUP MFW_ROUTER_KIND MFW_CONFIG_PATH MFW_SECTION MFW_ADMIN_SOCKET
  MFW_EVENT_BUS MFW_REGION MFW_ENDPOINT MFW_BACKEND MFW_INTERVAL_MS MFW_MIN_GAP_S MFW_REPEAT_S
  MFW_IMDS_ENDPOINT MFW_SQL_CLIENT)

load_settings_file() {
  local file=${MFW_SETTINGS_FILE-/etc/mysql-failover/watcher.env}
  [[ -n $file && -f $file ]] || return 0
  local owner
  owner=$(stat -c %u "$file" 2>/dev/null) || die "cannot stat $file"
  [[ $owner == 0 || $owner == "$EUID" ]] || die "$file must be owned by root or by the watcher's user"
  local line key value
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line =~ ^([A-Z_]+)=(.*)$ ]] || die "$file: not KEY=VALUE: ${line:0:80}"
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    local known=false k
    for k in "${SETTING_KEYS[@]}"; do [[ $k == "$key" ]] && known=true; done
    $known || die "$file: unknown key $key"
    # The environment wins over the file.
    [[ -n ${!key+x} ]] || printf -v "$key" '%s' "$value"
  done <"$file"
}
load_settings_file

MFW_INTERVAL_MS=${MFW_INTERVAL_MS:-250}
MFW_MIN_GAP_S=${MFW_MIN_GAP_S:-5}
MFW_REPEAT_S=${MFW_REPEAT_S:-30}
MFW_IMDS_ENDPOINT=${MFW_IMDS_ENDPOINT:-http://169.254.169.254}
MFW_ADMIN_SOCKET=${MFW_ADMIN_SOCKET:-}
MFW_REGION=${MFW_REGION:-}
MFW_ENDPOINT=${MFW_ENDPOINT:-}
MFW_BACKEND=${MFW_BACKEND:-}
MFW_SECTION=${MFW_SECTION:-}

# Every value ends up in a JSON document or a file path: strict patterns, as in the router switch.
NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'
PATH_RE='^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32}$'
check() { [[ ${!1:-} =~ $2 ]] || die "$1 must match $2 (found '${!1:-}')"; }
check MFW_CLUSTER "$NAME_RE"
check MFW_GROUP "$NAME_RE"
check MFW_ROUTER_KIND '^(haproxy|mysqlrouter|proxysql)$'
check MFW_CONFIG_PATH "$PATH_RE"
[[ -z $MFW_SECTION || $MFW_SECTION =~ ^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$ ]] || die "MFW_SECTION: invalid"
check MFW_EVENT_BUS '^[A-Za-z0-9._/-]{1,256}$'
check MFW_INTERVAL_MS '^[0-9]{2,5}$'
check MFW_MIN_GAP_S '^[0-9]{1,4}$'
check MFW_REPEAT_S '^[0-9]{1,5}$'
[[ -z $MFW_ADMIN_SOCKET || $MFW_ADMIN_SOCKET =~ $PATH_RE ]] || die "MFW_ADMIN_SOCKET: invalid path"
[[ -z $MFW_REGION || $MFW_REGION =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || die "MFW_REGION: invalid region"
[[ -z $MFW_ENDPOINT || $MFW_ENDPOINT =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$ ]] ||
  die "MFW_ENDPOINT: must be http(s)://host[:port]"
[[ -z $MFW_BACKEND || $MFW_BACKEND =~ $NAME_RE ]] || die "MFW_BACKEND: invalid name"
IMDS_RE='^http://[][A-Za-z0-9.:-]+$'
[[ $MFW_IMDS_ENDPOINT =~ $IMDS_RE ]] || die "MFW_IMDS_ENDPOINT: must be http://host[:port]"

case $MFW_ROUTER_KIND in
  haproxy) : "${MFW_SECTION:=mysql_failover}" ;;
  mysqlrouter) [[ -n $MFW_SECTION ]] || die "MFW_SECTION: the [routing:NAME] section is required" ;;
  proxysql)
    [[ $MFW_SECTION =~ ^[0-9]{1,9}(:[0-9]{1,9})?$ ]] || die "MFW_SECTION for proxysql must be WRITER[:READER]"
    ;;
esac

now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    NOW_MS=$((10#$t / 1000))
  else
    NOW_MS=$(($(date +%s%N) / 1000000))
  fi
}

# ---------------------------------------------------------------------------------------------------
# Probes: each sets STATE (up | down | unknown), PRIMARY (host:port or name) and REASON.
# ---------------------------------------------------------------------------------------------------
STATE=unknown
PRIMARY=''
REASON=''

haproxy_socket() {
  [[ -n $MFW_ADMIN_SOCKET ]] && return 0
  local line
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*stats[[:space:]]+socket[[:space:]]+(/[^[:space:]]+) ]]; then
      MFW_ADMIN_SOCKET=${BASH_REMATCH[1]}
      return 0
    fi
  done <"$MFW_CONFIG_PATH"
  return 1
}

probe_haproxy() {
  STATE=unknown
  if ! haproxy_socket; then
    REASON="no 'stats socket' in $MFW_CONFIG_PATH (set MFW_ADMIN_SOCKET)"
    return
  fi
  local out
  if ! out=$(printf 'show stat -1 4 -1\n' | socat -t 2 - "UNIX-CONNECT:$MFW_ADMIN_SOCKET" 2>&1); then
    REASON="runtime API $MFW_ADMIN_SOCKET: ${out:0:200}"
    return
  fi
  # Columns by name from the header, so a HAProxy version that adds columns changes nothing.
  local header line i px=-1 sv=-1 st=-1 bck=-1 addr=-1
  local -a cols
  IFS= read -r header <<<"$out"
  IFS=, read -r -a cols <<<"${header#\# }"
  for i in "${!cols[@]}"; do
    case ${cols[$i]} in
      pxname) px=$i ;; svname) sv=$i ;; status) st=$i ;; bck) bck=$i ;; addr) addr=$i ;;
    esac
  done
  if ((px < 0 || sv < 0 || st < 0 || bck < 0)); then
    REASON='runtime API answered without pxname/svname/status/bck columns'
    return
  fi
  local found=false
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    IFS=, read -r -a cols <<<"$line"
    [[ ${cols[$px]:-} == "$MFW_SECTION" && ${cols[$bck]:-} == 0 ]] || continue
    found=true
    PRIMARY=${cols[$sv]}
    ((addr >= 0)) && [[ -n ${cols[$addr]:-} ]] && PRIMARY=${cols[$addr]}
    case ${cols[$st]} in
      DOWN* | MAINT*)
        STATE=down
        REASON="haproxy $MFW_SECTION/${cols[$sv]} is ${cols[$st]}"
        ;;
      *)
        STATE=up
        REASON="haproxy $MFW_SECTION/${cols[$sv]} is ${cols[$st]}"
        ;;
    esac
    break
  done <<<"$out"
  $found || REASON="no non-backup server in section $MFW_SECTION"
}

# The section's destinations, in order, from the config file (the router switch writes exactly one line).
mysqlrouter_destinations() {
  local line inside=false value=''
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*\[([^]]+)\] ]]; then
      if [[ ${BASH_REMATCH[1]} == "routing:${MFW_SECTION#routing:}" ]]; then inside=true; else inside=false; fi
      continue
    fi
    if $inside && [[ $line =~ ^[[:space:]]*destinations[[:space:]]*=(.*)$ ]]; then
      value=${BASH_REMATCH[1]//[[:space:]]/}
    fi
  done <"$MFW_CONFIG_PATH"
  printf '%s' "$value"
}

probe_mysqlrouter() {
  STATE=unknown
  local destinations
  destinations=$(mysqlrouter_destinations)
  if [[ -z $destinations || $destinations == metadata-cache* ]]; then
    REASON="no static destinations in [routing:${MFW_SECTION#routing:}]"
    return
  fi
  local -a dest
  IFS=, read -r -a dest <<<"$destinations"
  PRIMARY=${dest[0]}
  local out
  if ! out=$(ss -Htnp state established 2>&1); then
    REASON="ss: ${out:0:200}"
    return
  fi
  # Connections the router process holds, by remote address.
  local line peer others=''
  local -i on_primary=0
  while IFS= read -r line; do
    [[ $line == *'"mysqlrouter"'* ]] || continue
    read -r _ _ _ peer _ <<<"$line"
    if [[ $peer == "$PRIMARY" ]]; then
      on_primary+=1
    else
      local d
      for d in "${dest[@]:1}"; do [[ $peer == "$d" ]] && others+=" $d"; done
    fi
  done <<<"$out"
  if [[ -n $others ]]; then
    STATE=down
    REASON="mysqlrouter [routing:${MFW_SECTION#routing:}] holds connections to a later destination:$others"
  else
    STATE=up
    REASON="mysqlrouter holds $on_primary connection(s) to the first destination and none to a later one"
  fi
}

# The admin login from the defaults file, read as data (user, password, host, port, socket only): the
# client runs with --no-defaults, so no option file can reach it, as in the router switch.
PS_ARGS=()
PS_PASSWORD=''
proxysql_login() {
  local line group='' key value
  PS_ARGS=(--no-defaults)
  PS_PASSWORD=''
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    if [[ $line =~ ^[[:space:]]*\[([^]]*)\][[:space:]]*$ ]]; then
      group=${BASH_REMATCH[1]}
      continue
    fi
    case $group in client | mysql | mariadb | client-server | client-mariadb) ;; *) continue ;; esac
    [[ $line =~ ^[[:space:]]*([A-Za-z][A-Za-z0-9_-]*)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] || continue
    key=${BASH_REMATCH[1]//_/-}
    value=${BASH_REMATCH[2]}
    [[ $value =~ ^\'(.*)\'$ || $value =~ ^\"(.*)\"$ ]] && value=${BASH_REMATCH[1]}
    case $key in
      user | host | port | socket) PS_ARGS+=("--$key=$value") ;;
      password) PS_PASSWORD=$value ;;
    esac
  done <"$MFW_CONFIG_PATH"
}

probe_proxysql() {
  STATE=unknown
  local client=${MFW_SQL_CLIENT:-}
  if [[ -z $client ]]; then
    if command -v mariadb >/dev/null 2>&1; then client=mariadb; else client=mysql; fi
  fi
  if [[ ! -r $MFW_CONFIG_PATH ]]; then
    REASON="cannot read the ProxySQL admin defaults file $MFW_CONFIG_PATH"
    return
  fi
  proxysql_login
  local writer=${MFW_SECTION%%:*} out
  if ! out=$(printf 'SELECT hostname, port, status FROM runtime_mysql_servers WHERE hostgroup_id=%s ORDER BY weight DESC, hostname, port;\n' "$writer" |
    MYSQL_PWD=$PS_PASSWORD "$client" "${PS_ARGS[@]}" -N -B -r 2>&1); then
    REASON="ProxySQL admin: ${out:0:200}"
    return
  fi
  local host port status online='' first=''
  while IFS=$'\t' read -r host port status; do
    [[ -z $host ]] && continue
    [[ -z $first ]] && first="$host:$port ($status)"
    [[ $status == ONLINE && -z $online ]] && online="$host:$port"
  done <<<"$out"
  if [[ -n $online ]]; then
    STATE=up
    PRIMARY=$online
    REASON="proxysql writer hostgroup $writer has $online ONLINE"
  else
    STATE=down
    PRIMARY=${first%% *}
    REASON="proxysql writer hostgroup $writer has no ONLINE server${first:+ (first: $first)}"
  fi
}

probe() {
  case $MFW_ROUTER_KIND in
    haproxy) probe_haproxy ;;
    mysqlrouter) probe_mysqlrouter ;;
    proxysql) probe_proxysql ;;
  esac
}

# ---------------------------------------------------------------------------------------------------
# AWS: metadata service, credentials, PutEvents signed by curl
# ---------------------------------------------------------------------------------------------------
IMDS_TOKEN=''
imds() {
  # $1: path below /latest/. IMDSv2: a session token first.
  if [[ -z $IMDS_TOKEN ]]; then
    IMDS_TOKEN=$(curl -sS -f --max-time 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \
      "$MFW_IMDS_ENDPOINT/latest/api/token") || return 1
  fi
  curl -sS -f --max-time 2 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$MFW_IMDS_ENDPOINT/latest/$1"
}

json_field() {
  # $1: JSON text (the metadata service's flat credential document), $2: key. Values hold no quotes.
  local re="\"$2\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
  [[ $1 =~ $re ]] && printf '%s' "${BASH_REMATCH[1]}"
}

AK=''
SK=''
TOKEN=''
CREDS_EXPIRE_S=0
refresh_credentials() {
  if [[ -n ${AWS_ACCESS_KEY_ID:-} && -n ${AWS_SECRET_ACCESS_KEY:-} ]]; then
    AK=$AWS_ACCESS_KEY_ID SK=$AWS_SECRET_ACCESS_KEY TOKEN=${AWS_SESSION_TOKEN:-}
    CREDS_EXPIRE_S=$((1 << 40))
    return 0
  fi
  now_ms
  ((NOW_MS / 1000 < CREDS_EXPIRE_S)) && return 0
  local role doc expiration
  role=$(imds meta-data/iam/security-credentials/) || {
    IMDS_TOKEN=''
    return 1
  }
  role=${role%%$'\n'*}
  doc=$(imds "meta-data/iam/security-credentials/$role") || return 1
  AK=$(json_field "$doc" AccessKeyId) SK=$(json_field "$doc" SecretAccessKey) TOKEN=$(json_field "$doc" Token)
  [[ -n $AK && -n $SK ]] || return 1
  expiration=$(json_field "$doc" Expiration)
  # Refresh 5 minutes before they expire (the service renews them well before that).
  CREDS_EXPIRE_S=$(($(date -d "$expiration" +%s 2>/dev/null || echo 0) - 300))
  return 0
}

resolve_identity() {
  if [[ -z $MFW_REGION ]]; then
    MFW_REGION=$(imds meta-data/placement/region) || die "MFW_REGION not set and the metadata service does not answer"
  fi
  if [[ -z $MFW_BACKEND ]]; then
    MFW_BACKEND=$(imds meta-data/instance-id 2>/dev/null) || MFW_BACKEND=${HOSTNAME%%.*}
  fi
  [[ -n $MFW_ENDPOINT ]] || MFW_ENDPOINT="https://events.$MFW_REGION.amazonaws.com"
  MFW_ENDPOINT=${MFW_ENDPOINT%/}
}

json_escape() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//[[:cntrl:]]/ }
  printf '%s' "$s"
}

# One PutEvents call; 0 when EventBridge accepted the entry.
put_event() {
  refresh_credentials || {
    log "no credentials (environment or instance role); event not sent"
    return 1
  }
  now_ms
  local detail body response
  detail="{\"cluster\":\"$MFW_CLUSTER\",\"group\":\"$MFW_GROUP\",\"backend\":\"$(json_escape "$MFW_BACKEND")\",\"routerKind\":\"$MFW_ROUTER_KIND\",\"primary\":\"$(json_escape "$PRIMARY")\",\"state\":\"down\",\"reason\":\"$(json_escape "${REASON:0:300}")\",\"observedAtMs\":$NOW_MS}"
  body="{\"Entries\":[{\"Source\":\"mysql-failover.watcher\",\"DetailType\":\"Router Primary Down\",\"EventBusName\":\"$(json_escape "$MFW_EVENT_BUS")\",\"Detail\":\"$(json_escape "$detail")\"}]}"
  local -a headers=(-H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: AWSEvents.PutEvents')
  # Keys go to curl as a config file on a descriptor: never on a command line other users can read.
  response=$(curl -sS --max-time 5 -w '\n%{http_code}' --aws-sigv4 "aws:amz:$MFW_REGION:events" \
    --config <(
      printf 'user = "%s:%s"\n' "$AK" "$SK"
      [[ -n $TOKEN ]] && printf 'header = "x-amz-security-token: %s"\n' "$TOKEN"
    ) "${headers[@]}" --data-binary "$body" "$MFW_ENDPOINT/" 2>&1)
  local rc=$? code=${response##*$'\n'}
  response=${response%$'\n'*}
  if ((rc != 0)) || [[ $code != 200 ]] || [[ ! $response =~ \"FailedEntryCount\"[[:space:]]*:[[:space:]]*0[^0-9] ]]; then
    log "PutEvents failed (curl $rc, HTTP $code): ${response:0:300}"
    return 1
  fi
  log "event sent: primary $PRIMARY down ($REASON)"
  return 0
}

# ---------------------------------------------------------------------------------------------------
# Main loop
# ---------------------------------------------------------------------------------------------------
if [[ ${MFW_ONCE:-false} == true ]]; then
  probe
  printf '{"state":"%s","primary":"%s","reason":"%s"}\n' "$STATE" "$(json_escape "$PRIMARY")" "$(json_escape "$REASON")"
  exit 0
fi

resolve_identity
refresh_credentials || log "no credentials yet; retrying when an event must be sent"
log "watching $MFW_ROUTER_KIND $MFW_CONFIG_PATH [$MFW_SECTION] for cluster $MFW_CLUSTER group $MFW_GROUP (backend $MFW_BACKEND, bus $MFW_EVENT_BUS)"

trap 'log "stopping"; exit 0' TERM INT
interval_s=$(printf '%d.%03d' $((MFW_INTERVAL_MS / 1000)) $((MFW_INTERVAL_MS % 1000)))
previous=unknown
last_reason=''
pending=false
last_sent_ms=0
retry_after_ms=0
while :; do
  probe
  now_ms
  if [[ $STATE == down && $previous != down ]]; then
    pending=true
  elif [[ $STATE == down ]] && ((NOW_MS - last_sent_ms >= MFW_REPEAT_S * 1000)); then
    pending=true
  fi
  # Quiet while healthy: only a change of state (or of what was wrong) is worth a line.
  if [[ $STATE != "$previous" || ($STATE == unknown && $REASON != "$last_reason") ]]; then
    log "$STATE: $REASON"
  fi
  [[ $STATE == unknown ]] || previous=$STATE
  last_reason=$REASON
  if $pending && ((NOW_MS - last_sent_ms >= MFW_MIN_GAP_S * 1000 && NOW_MS >= retry_after_ms)); then
    if put_event; then
      pending=false
      now_ms
      last_sent_ms=$NOW_MS
    else
      retry_after_ms=$((NOW_MS + 1000))
    fi
  fi
  sleep "$interval_s"
done
