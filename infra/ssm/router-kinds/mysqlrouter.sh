# shellcheck shell=bash
# The R_* results and the router interface are read by ../router-switch.sh, which shellcheck cannot see.
# shellcheck disable=SC2034
# router-switch, MySQL Router: the destinations line of one [routing:NAME] section in mysqlrouter.conf,
# read back by an independent parser, then a restart (MySQL Router reads destinations only at start).
# Loaded by ../router-switch.sh for RouterKind=mysqlrouter (never run alone): the functions at the end
# are the interface that file calls; everything else here is private to MySQL Router (mr_*).

MR_LINES=()
MR_DEST_LINE=-1
MR_DEST_PREFIX=''
MR_STRATEGY=''
MR_BIND=''
# The line of a `mode = read-write` without routing_strategy (-1: none). MySQL Router 8.4 removed
# `mode`: such a section no longer starts ("option routing_strategy ... is required"), so the rewrite
# replaces it with its 8.0 equivalent, routing_strategy = first-available (accepted since 8.0).
MR_MODE_LINE=-1
MR_MODE_PREFIX=''

mr_parse() {
  [[ -r $RS_CONFIG_PATH ]] || finish 1 "cannot read $RS_CONFIG_PATH"
  mapfile -t MR_LINES <"$RS_CONFIG_PATH"
  local name=${RS_SECTION#routing:} i line in_section=false count=0 mode='' strategy='' bind_address='' bind_port=''
  local dest_count=0
  for line in "${MR_LINES[@]}"; do
    [[ $line == *$'\r' ]] && finish 1 "$RS_CONFIG_PATH has CRLF line ends; convert it to LF first"
  done
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
    elif [[ $line =~ ^([[:space:]]*)mode[[:space:]]*=[[:space:]]*([^[:space:]]+) ]]; then
      MR_MODE_PREFIX=${BASH_REMATCH[1]}
      mode=${BASH_REMATCH[2]}
      MR_MODE_LINE=$i
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
  if [[ -n $strategy ]]; then
    MR_STRATEGY=$strategy
    # routing_strategy wins over a leftover mode line (8.0), and 8.4+ ignores it: left as it is.
    MR_MODE_LINE=-1
  else
    MR_STRATEGY="mode=$mode"
    [[ $mode == read-write ]] || MR_MODE_LINE=-1
  fi
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
  first-available | mode=read-write)
    local IFS=,
    MR_NEW_VALUE="${DEST[*]}"
    ;;
  next-available)
    # Ordered too, but a destination that fails once is never used again until the router restarts:
    # after one blip of the primary this router stays on the fallback (a read-only replica) and
    # writes fail there until the watchdog acts, where first-available would go back.
    local IFS=,
    MR_NEW_VALUE="${DEST[*]}"
    [[ ${#DEST[@]} -gt 1 ]] &&
      warn "routing strategy next-available: once the primary fails, this router stays on ${DEST[1]} until restarted (first-available goes back)"
    ;;
  *)
    warn "routing strategy '$MR_STRATEGY' is not ordered: writing the new primary as the only destination"
    MR_NEW_VALUE=${DEST[0]}
    ;;
  esac
}

mr_render() {
  mr_new_destinations
  mr_write "$1" "$MR_NEW_VALUE"
}

# mr_write OUT VALUE [KEEP_MODE]: the config as parsed, with VALUE as the section's destinations. A
# rewrite replaces `mode = read-write` with its routing_strategy equivalent; a rollback (KEEP_MODE=keep)
# puts back the file as it was, its mode line included.
mr_write() {
  local out=$1 value=$2 keep_mode=${3:-} i
  {
    for i in "${!MR_LINES[@]}"; do
      if [[ $i -eq $MR_DEST_LINE ]]; then
        printf '%s%s\n' "$MR_DEST_PREFIX" "$value"
      elif [[ $i -eq $MR_MODE_LINE && $keep_mode != keep ]]; then
        printf '%srouting_strategy = first-available\n' "$MR_MODE_PREFIX"
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
  local allowed=2
  [[ $MR_MODE_LINE -ge 0 ]] && allowed=4
  if [[ $changed -gt $allowed ]]; then
    R_MESSAGE="the rewritten config differs in more than the destinations line"
    return 1
  fi
  return 0
}

mr_restart() {
  local mode=$RS_APPLY_MODE unit=${RS_SERVICE_NAME:-mysqlrouter}
  if [[ $mode == auto ]]; then
    if [[ -n ${RS_APPLY_COMMAND:-} ]]; then mode='command'; else mode=systemd; fi
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

# The config as parsed (the backup's content) without the fenced servers among its destinations: a
# rollback never gives a fenced server traffic again. When only fenced servers were listed there is
# nothing to restore to, and the router needs a human.
mr_restore() {
  local kept=() d
  for d in "${R_PREVIOUS[@]}"; do in_list "$d" "${FENCED[@]}" || kept+=("$d"); done
  if [[ ${#kept[@]} -eq 0 ]]; then
    log "the previous destinations were all fenced: not restoring them"
    return 1
  fi
  temp_next_to_config || return 1
  local joined
  printf -v joined '%s,' "${kept[@]}"
  mr_write "$NEW_TEMP" "${joined%,}" keep && install_file "$NEW_TEMP" && mr_restart
}

# ---------------------------------------------------------------------------------------------------
# The router interface (see ../router-switch.sh)
# ---------------------------------------------------------------------------------------------------
router_check_inputs() { :; }
router_parse() { mr_parse; }
router_new_state() { new_temp_next_to_config; }
router_render() { mr_render "$1"; }
router_in_place() { cmp -s -- "$1" "$RS_CONFIG_PATH"; }
router_validate() { mr_validate "$1" && R_VALIDATED=true; }
router_backup() { backup_config; }
router_apply() {
  install_file "$1" || finish 1 "cannot rename the new config over $RS_CONFIG_PATH"
  R_CHANGED=true
  mr_restart
}
router_verify_address() { mr_through; }
router_restore() { mr_restore; }
router_status() { :; }
