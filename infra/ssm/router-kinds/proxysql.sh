# shellcheck shell=bash
# The R_* results and the router interface are read by ../router-switch.sh, which shellcheck cannot see.
# shellcheck disable=SC2034
# router-switch, ProxySQL: mysql_servers through the admin interface (ConfigPath is a client defaults
# file holding its address and login), LOAD ... TO RUNTIME, read back from runtime_mysql_servers.
# Loaded by ../router-switch.sh for RouterKind=proxysql (never run alone): the functions at the end are
# the interface that file calls; everything else here is private to ProxySQL (ps_*).

PS_WRITER=''
PS_READER=''
PS_CONFIG_ROWS=''
PS_RUNTIME_ROWS=''

PS_ARGS=()
PS_PASSWORD=''

# SQL on stdin; rows on stdout, tab-separated, raw. The login is read from ConfigPath as data (no
# defaults file, no plugin: read_client_login); --binary-mode turns off the client's own commands
# (`\!` runs a shell command), so no byte of the input is anything but SQL.
ps_admin() {
  MYSQL_PWD=$PS_PASSWORD "$SQL_CLIENT" "${PS_ARGS[@]}" --binary-mode -N -B -r
}

ps_parse() {
  [[ -n $SQL_CLIENT ]] || finish 1 "no mariadb or mysql client to reach the ProxySQL admin interface"
  [[ -r $RS_CONFIG_PATH ]] || finish 1 "cannot read the ProxySQL admin defaults file $RS_CONFIG_PATH"
  read_client_login "$RS_CONFIG_PATH" PS_ARGS PS_PASSWORD
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
  local p_host=${DEST[0]%:*} p_port=${DEST[0]##*:} d
  printf '%s\n' "DELETE FROM mysql_servers WHERE hostgroup_id=$PS_WRITER AND NOT (hostname='$p_host' AND port=$p_port);"
  printf '%s\n' "INSERT OR IGNORE INTO mysql_servers (hostgroup_id, hostname, port) VALUES ($PS_WRITER, '$p_host', $p_port);"
  printf '%s\n' "UPDATE mysql_servers SET status='ONLINE' WHERE hostgroup_id=$PS_WRITER AND hostname='$p_host' AND port=$p_port;"
  ps_fence_sql
  if [[ -n $PS_READER ]]; then
    for d in "${DEST[@]:1}"; do
      printf '%s\n' "INSERT OR IGNORE INTO mysql_servers (hostgroup_id, hostname, port) VALUES ($PS_READER, '${d%:*}', ${d##*:});"
    done
  fi
  printf '%s\n' 'LOAD MYSQL SERVERS TO RUNTIME;' 'SAVE MYSQL SERVERS TO DISK;'
}

# Every text value travels hex-encoded (CAST(X'..' AS TEXT)): the backup holds only digits, hex and
# fixed SQL, whatever a comment or host name contains, and ps_restore replays nothing else.
PS_COLUMNS='hostgroup_id, hostname, port, gtid_port, status, weight, compression, max_connections, max_replication_lag, use_ssl, max_latency_ms, comment'
PS_TEXT="CAST\\(X'[0-9A-F]*' AS TEXT\\)"
PS_BACKUP_ROW="^INSERT INTO mysql_servers \\($PS_COLUMNS\\) VALUES \\([0-9]+, $PS_TEXT, [0-9]+, [0-9]+, $PS_TEXT(, [0-9]+){6}, $PS_TEXT\\);$"

ps_backup() {
  local stamp rows
  stamp=$(date -u +%Y%m%dT%H%M%S%NZ)
  R_BACKUP="$BACKUP_DIR/$CONFIG_KEY.mysql_servers.$stamp.sql"
  rows=$(printf '%s\n' "SELECT 'INSERT INTO mysql_servers ($PS_COLUMNS) VALUES (' || hostgroup_id || ', CAST(X''' || hex(hostname) || ''' AS TEXT), ' || port || ', ' || gtid_port || ', CAST(X''' || hex(status) || ''' AS TEXT), ' || weight || ', ' || compression || ', ' || max_connections || ', ' || max_replication_lag || ', ' || use_ssl || ', ' || max_latency_ms || ', CAST(X''' || hex(comment) || ''' AS TEXT));' FROM mysql_servers ORDER BY hostgroup_id, hostname, port;" |
    ps_admin) || finish 1 "cannot read mysql_servers for the backup"
  {
    printf '%s\n' 'DELETE FROM mysql_servers;'
    [[ -n $rows ]] && printf '%s\n' "$rows"
  } >"$R_BACKUP" || finish 1 "cannot write the backup $R_BACKUP"
  rotate_backups "$BACKUP_DIR/$CONFIG_KEY.mysql_servers." .sql
}

# Replays the backup, with the fenced servers kept OFFLINE_HARD: a rollback never gives a fenced
# server traffic again. Only lines of the backup's own fixed form are replayed.
ps_restore() {
  local line n=0 sql=''
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    if [[ $n -eq 1 ]]; then
      [[ $line == 'DELETE FROM mysql_servers;' ]] || return 1
    elif [[ ! $line =~ $PS_BACKUP_ROW ]]; then
      log "refusing to replay line $n of $R_BACKUP: not a backup row"
      return 1
    fi
    sql+="$line"$'\n'
  done <"$R_BACKUP"
  [[ $n -ge 1 ]] || return 1
  {
    printf '%s' "$sql"
    ps_fence_sql
    printf '%s\n' 'LOAD MYSQL SERVERS TO RUNTIME;' 'SAVE MYSQL SERVERS TO DISK;'
  } | ps_admin >&2
}

ps_fence_sql() {
  local f
  for f in "${FENCED[@]}"; do
    printf '%s\n' "UPDATE mysql_servers SET status='OFFLINE_HARD' WHERE hostname='${f%:*}' AND port=${f##*:};"
  done
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

# ---------------------------------------------------------------------------------------------------
# The router interface (see ../router-switch.sh)
# ---------------------------------------------------------------------------------------------------
router_check_inputs() {
  [[ $RS_SECTION =~ ^[0-9]{1,9}(:[0-9]{1,9})?$ ]] ||
    finish 2 "Section for proxysql must be WRITER or WRITER:READER hostgroup ids"
}
router_parse() { ps_parse; }
# The new state is admin SQL, not a file next to the config.
router_new_state() { new_temp; }
router_render() { ps_switch_sql >"$1"; }
router_in_place() { ps_rows_in_place "$PS_CONFIG_ROWS" && ps_rows_in_place "$PS_RUNTIME_ROWS"; }
# Nothing can check the SQL before ProxySQL runs it: router_apply reads the runtime back instead.
router_validate() {
  if [[ $RS_DRY_RUN == true ]]; then
    log "dry run; the admin SQL would be:"
    cat -- "$1" >&2
  fi
  return 0
}
router_backup() { ps_backup; }
router_apply() {
  R_CHANGED=true
  R_APPLIED=admin-sql
  ps_admin <"$1" >&2 || {
    R_MESSAGE="the admin interface refused the switch"
    return 1
  }
  ps_check_runtime
}
router_verify_address() { ps_through; }
router_restore() { ps_restore; }
router_status() { :; }
