#!/usr/bin/env bash
# physical-reseed: rebuilds a MariaDB server from a physical backup of its source, streamed through the
# object store. Runs on the database hosts (SSM Command document infra/ssm/physical-reseed.json, built by
# scripts/build-reseed-document.mjs from this file and object-stream.py) and locally with bash for the
# CLI, the sandbox and the tests (functions/operations/physical/local-commands.ts runs this very file).
#
#   PR_ACTION=backup   on the source: mariadb-backup --backup --stream=xbstream | object-stream.py put
#                      (zstd or gzip, multipart; nothing is written to local disk but mariadb-backup's own
#                      small temporary files)
#   PR_ACTION=restore  on the target: fetch and unpack (object-stream.py get | mbstream -x) into the
#                      work folder while the server still runs, --prepare, then stop the server, empty
#                      its datadir, --move-back, restore the owner, start it read-only, and report the
#                      GTID position from the backup's own record (mariadb_backup_binlog_info)
#
# Inputs are environment variables only, never evaluated as code:
#   PR_ACTION backup|restore   PR_KEY (object key under the store)   PR_STORE (the store the caller
#   expects; must equal RESEED_STORE)   PR_SERVICE_CONTROL systemd|hook   PR_SERVICE_NAME (systemd unit)
#   PR_PARALLEL (mariadb-backup threads)
# Instance settings are never document parameters: the environment of a local run, or the root-owned
# file /etc/mysql-failover/reseed.env (KEY=VALUE lines, read as data, never sourced):
#   RESEED_STORE          s3://bucket/prefix or an absolute folder: the only place backups go to and
#                         come from (a caller cannot send the data anywhere else)
#   RESEED_S3_ENDPOINT    a local S3 endpoint (tests, on-premises S3); empty for AWS
#   RESEED_SSE            AES256 (default), aws:kms or none;  RESEED_SSE_KMS_KEY_ID
#   RESEED_DATADIR        the server's datadir (default /var/lib/mysql)
#   RESEED_WORK_DIR       where a restore unpacks and prepares (default /var/lib/mysql-failover-reseed)
#   RESEED_SOCKET         the server's socket for mariadb-backup (default: from the option files)
#   RESEED_USER           the account mariadb-backup uses over the socket (default root, unix_socket)
#   RESEED_NO_DEFAULTS    1: ignore the server's option files (the sandbox's servers use none)
#   RESEED_USE_MEMORY     --use-memory for --prepare (default 256M)
#   RESEED_COMPRESSION    auto (default: zstd when the zstd command is installed, else gzip), zstd or gzip;
#                         a restore reads either (zstd needs the zstd command on the target)
#   RESEED_ZSTD_LEVEL     zstd level of the backup (1-19, default 1: compression is the backup's slow part)
#   RESEED_GZIP_LEVEL     gzip level of the backup (1-9, default 1)
#   RESEED_COMPRESS_THREADS  threads compressing the backup (default: one per CPU, at most 8)
# The "hook" service control exists only for a local caller: the script writes "stop" or "start" on
# fd 3 and reads "ok" from fd 4 (the caller stops or starts its own server process); the document
# allows only "systemd", and an SSM run has no such descriptors.
#
# Output: diagnostics on stderr, exactly one JSON line on stdout (schema physical-reseed/1).
# Exit codes: 0 done, 2 bad input or settings, 3 backup or fetch failed (the target is untouched),
# 4 the server could not be stopped (untouched), 5 failed after the datadir was emptied (the server
# needs the reseed to run again), 1 anything else.
set -uo pipefail
umask 077
export LC_ALL=C
if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  echo "physical-reseed: needs bash 4.4 or later (found $BASH_VERSION)" >&2
  exit 1
fi

# The same patterns as functions/operations/physical/parameters.ts and the document's allowedPattern.
PAT_Key='^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}){0,15}$'
PAT_Store='^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9_.=-]+)*/?|(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32})$'
PAT_ServiceName='^(mariadb|mysql|mysqld)(@[A-Za-z0-9_.-]{1,64})?([.]service)?$'
PAT_Parallel='^([1-9]|1[0-6])$'
PAT_Path='^(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32}$'
SETTINGS_FILE=/etc/mysql-failover/reseed.env
HELPER="$(dirname -- "${BASH_SOURCE[0]}")/object-stream.py"

R_OK=false
R_MESSAGE=''
R_GTID=''
R_BINLOG=''
R_BINLOG_POS=0
R_RAW=0
R_STORED=0
R_STOPPED=false
R_STARTED=false

log() { printf 'physical-reseed: %s\n' "$*" >&2; }

json_string() {
  local s=${1:0:4000}
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//[[:cntrl:]]/}
  printf '"%s"' "$s"
}

START_S=$SECONDS
emit() {
  printf '{"schema":"physical-reseed/1","ok":%s,"action":%s,"key":%s,"host":%s,"gtid":%s,"binlog":%s,"binlogPos":%d,"rawBytes":%d,"storedBytes":%d,"stopped":%s,"started":%s,"durationS":%d,"message":%s}\n' \
    "$R_OK" "$(json_string "${PR_ACTION:-}")" "$(json_string "${PR_KEY:-}")" "$(json_string "${HOSTNAME:-unknown}")" \
    "$(json_string "$R_GTID")" "$(json_string "$R_BINLOG")" "$R_BINLOG_POS" "$R_RAW" "$R_STORED" "$R_STOPPED" "$R_STARTED" \
    "$((SECONDS - START_S))" "$(json_string "$R_MESSAGE")"
}

finish() {
  local code=$1
  shift
  R_MESSAGE=$*
  [[ $code == 0 ]] && R_OK=true
  [[ $code == 0 ]] || log "$R_MESSAGE"
  emit
  exit "$code"
}

load_settings() {
  [[ -f $SETTINGS_FILE ]] || return 0
  local owner mode line key value
  owner=$(stat -c %u -- "$SETTINGS_FILE") || return 0
  mode=$(stat -c %a -- "$SETTINGS_FILE") || return 0
  if [[ $owner != 0 ]] || (((8#$mode & 8#022) != 0)); then
    finish 2 "$SETTINGS_FILE must be owned by root and not writable by group or others"
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*(RESEED_[A-Z0-9_]+)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    case $key in
    RESEED_STORE | RESEED_S3_ENDPOINT | RESEED_SSE | RESEED_SSE_KMS_KEY_ID | RESEED_DATADIR | RESEED_WORK_DIR | \
      RESEED_SOCKET | RESEED_USER | RESEED_NO_DEFAULTS | RESEED_USE_MEMORY | RESEED_COMPRESSION | RESEED_ZSTD_LEVEL | RESEED_GZIP_LEVEL | \
      RESEED_COMPRESS_THREADS) ;;
    *) continue ;;
    esac
    if [[ ${#value} -ge 2 && ${value:0:1} == "${value: -1}" && (${value:0:1} == "'" || ${value:0:1} == '"') ]]; then
      value=${value:1:${#value}-2}
    fi
    # The caller's environment wins over the file (a local run); an SSM run sets none of these.
    if [[ -z ${!key+x} ]]; then
      printf -v "$key" '%s' "$value"
      export "${key?}"
    fi
  done <"$SETTINGS_FILE"
}

check_inputs() {
  [[ ${PR_ACTION:-} == backup || ${PR_ACTION:-} == restore ]] || finish 2 "PR_ACTION must be backup or restore"
  [[ ${PR_KEY:-} =~ $PAT_Key ]] || finish 2 "PR_KEY must match $PAT_Key"
  [[ ${PR_STORE:-} =~ $PAT_Store ]] || finish 2 "PR_STORE must be s3://bucket/prefix or an absolute folder"
  [[ -n ${RESEED_STORE:-} ]] || finish 2 "RESEED_STORE is not set on this host ($SETTINGS_FILE)"
  # The data goes only where the host's owner allows: the caller names the store it expects, and a
  # mismatch is refused instead of followed.
  [[ ${PR_STORE%/} == "${RESEED_STORE%/}" ]] || finish 2 "store ${PR_STORE} is not this host's reseed store"
  PR_PARALLEL=${PR_PARALLEL:-2}
  [[ $PR_PARALLEL =~ $PAT_Parallel ]] || finish 2 "PR_PARALLEL must be 1..16"
  RESEED_DATADIR=${RESEED_DATADIR:-/var/lib/mysql}
  RESEED_WORK_DIR=${RESEED_WORK_DIR:-/var/lib/mysql-failover-reseed}
  [[ $RESEED_DATADIR =~ $PAT_Path ]] || finish 2 "RESEED_DATADIR must be an absolute path"
  [[ $RESEED_WORK_DIR =~ $PAT_Path ]] || finish 2 "RESEED_WORK_DIR must be an absolute path"
  [[ -z ${RESEED_SOCKET:-} || $RESEED_SOCKET =~ $PAT_Path ]] || finish 2 "RESEED_SOCKET must be an absolute path"
  [[ ${RESEED_USER:-root} =~ ^[A-Za-z0-9_.-]{1,80}$ ]] || finish 2 "RESEED_USER: letters, digits, _ . -"
  [[ ${RESEED_USE_MEMORY:-256M} =~ ^[0-9]{1,6}[KMG]?$ ]] || finish 2 "RESEED_USE_MEMORY like 256M"
  [[ ${RESEED_COMPRESSION:-auto} =~ ^(auto|zstd|gzip)$ ]] || finish 2 "RESEED_COMPRESSION must be auto, zstd or gzip"
  if [[ $PR_ACTION == backup && ${RESEED_COMPRESSION:-auto} == zstd ]]; then
    command -v zstd >/dev/null || finish 2 "RESEED_COMPRESSION=zstd but zstd is not installed (apt-get install zstd)"
  fi
  [[ ${RESEED_ZSTD_LEVEL:-1} =~ ^([1-9]|1[0-9])$ ]] || finish 2 "RESEED_ZSTD_LEVEL must be 1 to 19"
  [[ ${RESEED_GZIP_LEVEL:-1} =~ ^[1-9]$ ]] || finish 2 "RESEED_GZIP_LEVEL must be 1 to 9"
  [[ -z ${RESEED_COMPRESS_THREADS:-} || $RESEED_COMPRESS_THREADS =~ ^[1-9][0-9]?$ ]] ||
    finish 2 "RESEED_COMPRESS_THREADS must be a number of threads (1-99)"
  if [[ $PR_ACTION == restore ]]; then
    PR_SERVICE_CONTROL=${PR_SERVICE_CONTROL:-systemd}
    case $PR_SERVICE_CONTROL in
    systemd)
      PR_SERVICE_NAME=${PR_SERVICE_NAME:-mariadb}
      [[ $PR_SERVICE_NAME =~ $PAT_ServiceName ]] || finish 2 "PR_SERVICE_NAME must match $PAT_ServiceName"
      ;;
    hook)
      # Only a local parent that opened both descriptors can serve the hook.
      [[ -e /dev/fd/3 && -e /dev/fd/4 ]] || finish 2 "service control 'hook' needs fds 3 and 4 from a local caller"
      ;;
    *) finish 2 "PR_SERVICE_CONTROL must be systemd or hook" ;;
    esac
  fi
  command -v python3 >/dev/null || finish 2 "python3 is needed to stream to the object store"
  [[ -f $HELPER ]] || finish 2 "object-stream.py is missing beside the script"
  command -v mariadb-backup >/dev/null || finish 2 "mariadb-backup is not installed (Debian/Ubuntu: apt-get install mariadb-backup)"
}

# mariadb-backup's connection options: never a caller-chosen defaults file. --no-defaults must come first.
backup_options() {
  PREP_OPTS=()
  [[ ${RESEED_NO_DEFAULTS:-0} == 1 ]] && PREP_OPTS+=(--no-defaults)
  BACKUP_OPTS=("${PREP_OPTS[@]}" "--user=${RESEED_USER:-root}")
  [[ -n ${RESEED_SOCKET:-} ]] && BACKUP_OPTS+=("--socket=$RESEED_SOCKET")
}

do_backup() {
  local tmp expected out rc
  backup_options
  tmp="$RESEED_WORK_DIR/backup-tmp"
  { rm -rf -- "$tmp" && mkdir -p -- "$tmp"; } || finish 3 "cannot prepare $tmp"
  # What mariadb-backup will read: every file but the redo log (only its tail is copied), binary
  # and relay logs (not copied at all).
  expected=$(find "$RESEED_DATADIR" -type f ! -name 'ib_logfile*' ! -name '*-bin.[0-9]*' ! -name '*-bin.index' \
    ! -name 'relay-*' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }')
  log "backup of $RESEED_DATADIR (about $expected bytes) to ${PR_KEY}"
  # --target-dir holds only mariadb-backup's checkpoint files; the data goes to the stream.
  mariadb-backup "${BACKUP_OPTS[@]}" --backup --stream=xbstream --parallel="$PR_PARALLEL" \
    --datadir="$RESEED_DATADIR" --target-dir="$tmp" --tmpdir="$tmp" 2>"$tmp/backup.log" 3>&- 4>&- |
    python3 "$HELPER" put "$PR_KEY" "${expected:-0}" >"$tmp/put.json" 3>&- 4>&-
  local codes=("${PIPESTATUS[@]}")
  out=$(<"$tmp/put.json")
  rc=0
  if [[ ${codes[0]} != 0 ]]; then
    tail -n 20 "$tmp/backup.log" >&2
    rm -rf -- "$tmp"
    finish 3 "mariadb-backup --backup failed (exit ${codes[0]}); the stored object, if any, is incomplete"
  fi
  [[ ${codes[1]} == 0 ]] || rc=${codes[1]}
  rm -rf -- "$tmp"
  ((rc == 0)) || finish 3 "streaming to the object store failed (exit $rc)"
  [[ $out =~ \"rawBytes\":\ ?([0-9]+) ]] && R_RAW=${BASH_REMATCH[1]}
  [[ $out =~ \"storedBytes\":\ ?([0-9]+) ]] && R_STORED=${BASH_REMATCH[1]}
  local kind=gzip
  [[ $out =~ \"compression\":\ ?\"(zstd|gzip)\" ]] && kind=${BASH_REMATCH[1]}
  finish 0 "backup stored: $R_RAW bytes, $R_STORED compressed ($kind)"
}

hook() {
  local reply=''
  printf '%s\n' "$1" >&3 || return 1
  IFS= read -r reply <&4 || return 1
  [[ $reply == ok ]]
}

service_stop() {
  if [[ $PR_SERVICE_CONTROL == hook ]]; then
    hook stop
    return
  fi
  systemctl stop -- "$PR_SERVICE_NAME" && ! systemctl is-active --quiet -- "$PR_SERVICE_NAME"
}

# Read-only from its first moment, and no replication thread started from a stale configuration: the
# watchdog sets the GTID position and starts replication itself.
service_start_read_only() {
  if [[ $PR_SERVICE_CONTROL == hook ]]; then
    hook start-read-only
    return
  fi
  local rc=0
  # MariaDB's unit passes $MYSQLD_OPTS to mariadbd (galera_new_cluster uses the same mechanism).
  systemctl set-environment MYSQLD_OPTS="--read-only=ON --skip-slave-start" || return 1
  systemctl start -- "$PR_SERVICE_NAME" || rc=1
  systemctl unset-environment MYSQLD_OPTS || true
  return $rc
}

# True while a server still holds the datadir: InnoDB keeps an exclusive fcntl lock on ibdata1 as long
# as it runs, whatever stopped or did not stop it (a wrong unit name, a second instance).
datadir_in_use() {
  [[ -f $RESEED_DATADIR/ibdata1 ]] || return 1
  ! python3 -c 'import fcntl, sys
f = open(sys.argv[1], "r+b")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)' "$RESEED_DATADIR/ibdata1" 2>/dev/null
}

binlog_info() {
  local file line
  for file in "$1/mariadb_backup_binlog_info" "$1/xtrabackup_binlog_info"; do
    [[ -f $file ]] || continue
    IFS= read -r line <"$file" || true
    # "binlog-file<TAB>position<TAB>gtid" (the GTID field is empty when the source had no GTID yet).
    R_BINLOG=${line%%$'\t'*}
    local rest=${line#*$'\t'}
    [[ ${rest%%$'\t'*} =~ ^[0-9]+$ ]] && R_BINLOG_POS=${rest%%$'\t'*}
    if [[ $line == *$'\t'*$'\t'* ]]; then
      R_GTID=${line##*$'\t'}
    fi
    return 0
  done
  return 1
}

do_restore() {
  local stage owner rc
  backup_options
  stage="$RESEED_WORK_DIR/restore"
  [[ -d $RESEED_DATADIR ]] || finish 2 "datadir $RESEED_DATADIR does not exist"
  # Refuse a folder that is not a datadir: emptying it below must only ever remove a server's files.
  [[ -d $RESEED_DATADIR/mysql || -f $RESEED_DATADIR/ibdata1 ]] || finish 2 "$RESEED_DATADIR does not look like a datadir"
  { rm -rf -- "$stage" && mkdir -p -- "$stage"; } || finish 3 "cannot prepare $stage"
  log "fetching ${PR_KEY} into $stage (the server keeps running meanwhile)"
  python3 "$HELPER" get "$PR_KEY" 3>&- 4>&- | mbstream -x --directory="$stage" 3>&- 4>&-
  local codes=("${PIPESTATUS[@]}")
  [[ ${codes[0]} == 0 && ${codes[1]} == 0 ]] || {
    rm -rf -- "$stage"
    finish 3 "fetching or unpacking the backup failed (exit ${codes[0]}/${codes[1]}); the server is untouched"
  }
  R_RAW=$(du -sb -- "$stage" | cut -f1)
  if ! mariadb-backup "${PREP_OPTS[@]}" --prepare --target-dir="$stage" --use-memory="${RESEED_USE_MEMORY:-256M}" \
    2>"$RESEED_WORK_DIR/prepare.log"; then
    tail -n 20 "$RESEED_WORK_DIR/prepare.log" >&2
    finish 3 "mariadb-backup --prepare failed; the server is untouched"
  fi
  binlog_info "$stage" || log "the backup has no binlog record (binary log off on the source?)"
  owner=$(stat -c %u:%g -- "$RESEED_DATADIR") || finish 1 "cannot read the owner of $RESEED_DATADIR"
  log "stopping the server"
  service_stop || finish 4 "the server did not stop; nothing was changed"
  if datadir_in_use; then
    finish 4 "a server still holds $RESEED_DATADIR after the stop (another unit or instance?); nothing was changed"
  fi
  R_STOPPED=true
  log "replacing $RESEED_DATADIR"
  find "$RESEED_DATADIR" -mindepth 1 -delete || finish 5 "could not empty $RESEED_DATADIR"
  if ! mariadb-backup "${PREP_OPTS[@]}" --move-back --target-dir="$stage" --datadir="$RESEED_DATADIR" \
    2>"$RESEED_WORK_DIR/move-back.log"; then
    tail -n 20 "$RESEED_WORK_DIR/move-back.log" >&2
    finish 5 "mariadb-backup --move-back failed; $RESEED_DATADIR is incomplete"
  fi
  chown -R -- "$owner" "$RESEED_DATADIR" || finish 5 "could not give $RESEED_DATADIR back to $owner"
  rm -rf -- "$stage"
  log "starting the server read-only"
  rc=0
  service_start_read_only || rc=1
  ((rc == 0)) || finish 5 "the server did not start after the restore"
  R_STARTED=true
  finish 0 "restored ${R_RAW} bytes; GTID position ${R_GTID:-none}"
}

load_settings
check_inputs
mkdir -p -- "$RESEED_WORK_DIR" || finish 2 "cannot create $RESEED_WORK_DIR"
export RESEED_STORE RESEED_S3_ENDPOINT="${RESEED_S3_ENDPOINT:-}" RESEED_SSE="${RESEED_SSE:-AES256}"
case $PR_ACTION in
backup) do_backup ;;
restore) do_restore ;;
esac
