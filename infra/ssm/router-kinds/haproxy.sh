# shellcheck shell=bash
# The R_* results and the router interface are read by ../router-switch.sh, which shellcheck cannot see.
# shellcheck disable=SC2034
# router-switch, HAProxy: the section's server lines in haproxy.cfg, checked with `haproxy -c`, fenced
# servers taken out of the running processes through the admin socket, then a reload.
# Loaded by ../router-switch.sh for RouterKind=haproxy (never run alone): the functions at the end are
# the interface that file calls; everything else here is private to HAProxy (hap_*).

HAP_BIN=''
HAP_LINES=()
HAP_START=-1
HAP_END=-1
HAP_SOCKET=''
HAP_PIDFILE=''
HAP_MASTER_WORKER=false
HAP_BIND=''
declare -gA HAP_NAME_BY_ADDR=()
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
  # A CRLF file would be rewritten with mixed line ends; a conditional block (.if/.else) around
  # server lines cannot be rewritten without changing what it means. Both are refused, untouched.
  for line in "${HAP_LINES[@]}"; do
    [[ $line == *$'\r' ]] && finish 1 "$RS_CONFIG_PATH has CRLF line ends; convert it to LF first"
  done
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
  for ((i = HAP_START + 1; i < HAP_END; i++)); do
    [[ ${HAP_LINES[$i]} =~ ^[[:space:]]*[.](if|elif|else|endif)([[:space:]]|$) ]] &&
      finish 1 "section $RS_SECTION has a conditional block (.${BASH_REMATCH[1]}); rewrite it without one first"
  done
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
  hap_lua_trusted "$1" || return 1
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
  local pid arg next=false
  pid=$(hap_pid) || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
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
      mode='command'
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
    if ! pid=$(hap_pid) || ! kill -0 "$pid" 2>/dev/null; then
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

# The pid of the HAProxy behind the pidfile, or nothing: a stale pidfile may name an unrelated process
# by now, which must never get a signal (nor have its command line read as HAProxy's). Its name proves
# nothing (anyone can run a program called haproxy, and haproxy_exporter starts the same): the process
# must run the HAProxy binary itself (" (deleted)" after a package upgrade replaced the file).
hap_pid() {
  local pidfile=${HAP_PIDFILE:-/run/haproxy.pid} pid comm exe bin
  pid=$(head -c 32 -- "$pidfile" 2>/dev/null | head -n 1 | tr -dc '0-9')
  [[ -n $pid ]] || return 1
  comm=$(cat -- "/proc/$pid/comm" 2>/dev/null) || return 1
  exe=$(readlink -- "/proc/$pid/exe" 2>/dev/null)
  bin=$(command -v -- "$HAP_BIN" 2>/dev/null) && bin=$(realpath -e -- "$bin" 2>/dev/null)
  if [[ $comm != haproxy || -z $bin || ($exe != "$bin" && $exe != "$bin (deleted)") ]]; then
    log "pidfile $pidfile names process $pid ($comm, ${exe:-unknown binary}), not HAProxy ($bin)"
    return 1
  fi
  printf '%s' "$pid"
}

# haproxy -c runs the Lua a config loads (lua-load, lua-load-per-thread) while it checks it, as root:
# every such file, and every lua-prepend-path folder, must be one only root can change.
hap_lua_trusted() {
  local line words path
  while IFS= read -r line; do
    read -r -a words <<<"$line"
    path=${words[1]:-}
    path=${path//\"/}
    case ${words[0]:-} in
    lua-load | lua-load-per-thread)
      if [[ $path != /* || ! -f $path ]] || ! only_owner_writes "$path" || ! only_owner_writes "${path%/*}"; then
        R_MESSAGE="refusing to run haproxy -c: ${words[0]} $path is not a root-owned file that only root can change"
        return 1
      fi
      ;;
    lua-prepend-path)
      path=${path%%\?*}
      path=${path%/*}
      if [[ $path != /* || ! -d $path ]] || ! only_owner_writes "$path"; then
        R_MESSAGE="refusing to run haproxy -c: lua-prepend-path ${words[1]:-} is not in a folder only root can change"
        return 1
      fi
      ;;
    esac
  done < <(grep -E '^[[:space:]]*lua-(load|load-per-thread|prepend-path)[[:space:]]' -- "$1")
  return 0
}

# Writes the config as parsed (the backup's content) to $1 with every fenced server of the section
# disabled: a rollback never gives a fenced server traffic again.
hap_render_restore() {
  local out=$1 i line rest
  {
    for i in "${!HAP_LINES[@]}"; do
      line=${HAP_LINES[$i]}
      if [[ $i -gt $HAP_START && $i -lt $HAP_END && $line =~ $HAP_SERVER_RE ]] &&
        in_list "${BASH_REMATCH[3]}" "${FENCED[@]}"; then
        rest=" ${BASH_REMATCH[4]%%#*} "
        if [[ $rest != *' disabled '* ]]; then
          if [[ $line == *'#'* ]]; then line="${line%%#*} disabled #${line#*#}"; else line+=' disabled'; fi
        fi
      fi
      printf '%s\n' "$line"
    done
  } >"$out"
}

hap_restore() {
  temp_next_to_config || return 1
  hap_render_restore "$NEW_TEMP" && install_file "$NEW_TEMP" && hap_reload
}

# ---------------------------------------------------------------------------------------------------
# The router interface (see ../router-switch.sh)
# ---------------------------------------------------------------------------------------------------
router_check_inputs() { :; }
router_parse() {
  hap_find_bin
  hap_parse
}
router_new_state() { new_temp_next_to_config; }
router_render() { hap_render "$1"; }
router_in_place() { cmp -s -- "$1" "$RS_CONFIG_PATH"; }
router_validate() { hap_validate "$1" && R_VALIDATED=true; }
router_backup() { backup_config; }
router_apply() {
  hap_fence_runtime
  install_file "$1" || finish 1 "cannot rename the new config over $RS_CONFIG_PATH"
  R_CHANGED=true
  hap_reload
}
router_verify_address() { hap_through; }
router_restore() { hap_restore; }
router_status() {
  [[ -n $HAP_SOCKET && -S $HAP_SOCKET ]] || return 0
  local line
  while IFS= read -r line; do
    [[ -n $line ]] && R_RUNTIME+=("$line")
  done < <(hap_admin "show servers state $RS_SECTION" 2>/dev/null | awk 'NR > 2 && NF > 6 { print $4 " " $5 " admin=" $7 " op=" $6 }')
  return 0
}
