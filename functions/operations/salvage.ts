/**
 * Salvage (safety rule 3): before a server is overwritten by a reseed, the transactions it has and the
 * new primary lacks are found, described and saved to object storage, and a full dump of the server as
 * it was is kept next to them. The report names every object.
 *
 * What is saved, per transaction missing on the new primary:
 * - always (SQL only, works in Lambda): its GTID, binlog file and position, the tables it touched and
 *   its statements (SHOW BINLOG EVENTS);
 * - where the flavor's own binlog reader is installed (CLI, sandbox, a Lambda layer) — `mariadb-binlog`
 *   for MariaDB, MySQL's `mysqlbinlog` for MySQL (findBinlogTool) — the exact events, read from the
 *   server over the replication protocol, as a file a person can replay (`mariadb`/`mysql <
 *   transactions.sql`), and the row images decoded from it (`### INSERT ...` lines) in the JSON record,
 *   so each lost write can be looked up by its values; where none is, the record says so;
 * - always: a full streaming dump of the server before the overwrite (`backup/`), restorable by hand.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { SslOptions } from 'mysql2';
import { type GtidSet, MariadbGtidPos, parseGtidSet } from '../core/gtid.js';
import { dumpDatabase } from '../dump/dump.js';
import { errorMessage } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type Row, type ServerAdmin, str } from './admin.js';
import { putJson, putText, subStore } from './store.js';

export interface RowImage {
  op: 'INSERT' | 'UPDATE' | 'DELETE';
  table: string;
  /** The `@N=value` lines of the image (WHERE part first for UPDATE/DELETE). */
  values: string[];
}

export interface SalvagedTransaction {
  gtid: string;
  file: string;
  position: number;
  tables: string[];
  statements: string[];
  rowEvents: number;
  rows?: RowImage[];
}

export interface SalvageRecord {
  server: string;
  missingOn: string;
  /** The GTIDs of the transactions found missing (from the binary log), or the set difference. */
  difference: string;
  /** The GTID set difference computed from both servers' positions and binlog states. */
  setDifference: string;
  count: number;
  transactions: SalvagedTransaction[];
  /** The exact events as a replayable file (when mariadb-binlog was available). */
  binlogExtract: { url: string; bytes: number } | null;
  binlogExtractNote?: string;
  /** Full dump of the server before it was overwritten. */
  backup: { url: string; rows: number; gtid: string } | null;
  url: string;
  createdAt: string;
}

interface GtidTriple {
  domain: number;
  server: number;
  seq: bigint;
}

function parseTriple(text: string): GtidTriple | null {
  const m = /^(\d+)-(\d+)-(\d+)$/.exec(text.trim());
  return m ? { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]!) } : null;
}

export interface BinlogInventory {
  gtids: Set<string>;
  /** From the first file's Gtid_list event: per `domain-server`, the last seq before the log began. */
  before: Map<string, bigint>;
}

export function inventoryHas(inv: BinlogInventory, g: GtidTriple): boolean {
  if (inv.gtids.has(`${g.domain}-${g.server}-${g.seq}`)) return true;
  const prior = inv.before.get(`${g.domain}-${g.server}`);
  return prior !== undefined && g.seq <= prior;
}

/** Pure: the inventory from SHOW BINLOG EVENTS of each file, in file order. */
export function inventoryFromEvents(files: ReadonlyArray<readonly Row[]>): BinlogInventory {
  const inv: BinlogInventory = { gtids: new Set(), before: new Map() };
  files.forEach((events, i) => {
    for (const e of events) {
      const type = str(e.Event_type);
      const info = str(e.Info);
      if (i === 0 && type === 'Gtid_list') {
        for (const m of info.matchAll(/(\d+)-(\d+)-(\d+)/g)) inv.before.set(`${m[1]}-${m[2]}`, BigInt(m[3]!));
      } else if (type === 'Gtid') {
        const m = /GTID (\d+-\d+-\d+)/.exec(info);
        if (m) inv.gtids.add(m[1]!);
      }
    }
  });
  return inv;
}

async function binlogInventory(admin: ServerAdmin): Promise<BinlogInventory> {
  const files = (await admin.query<Row>('SHOW BINARY LOGS')).map((r) => str(r.Log_name));
  const events: Row[][] = [];
  for (const f of files) events.push(await admin.query<Row>(`SHOW BINLOG EVENTS IN ${quote(f)}`));
  return inventoryFromEvents(events);
}

/** Transactions of a binlog listing (SHOW BINLOG EVENTS rows). Pure. */
export function transactionsFromEvents(file: string, events: readonly Row[]): SalvagedTransaction[] {
  const out: SalvagedTransaction[] = [];
  let current: SalvagedTransaction | null = null;
  for (const e of events) {
    const type = str(e.Event_type);
    const info = str(e.Info);
    if (type === 'Gtid' || type === 'Gtid_tagged') {
      // MariaDB: "BEGIN GTID 0-1-5"; MySQL: "SET @@SESSION.GTID_NEXT= 'uuid:13'" (8.3+ tags: uuid:tag:13).
      const m = /GTID (\d+-\d+-\d+)/.exec(info) ?? /GTID_NEXT\s*=\s*'([^']+)'/.exec(info);
      current = m
        ? { gtid: m[1]!, file, position: Number(e.Pos), tables: [], statements: [], rowEvents: 0 }
        : null;
      if (current) out.push(current);
      continue;
    }
    if (!current) continue;
    if (type === 'Table_map') {
      const t = /\(([^)]+)\)/.exec(info)?.[1];
      if (t && !current.tables.includes(t)) current.tables.push(t);
    } else if (type === 'Query' && info !== 'BEGIN' && info !== 'COMMIT') {
      current.statements.push(info);
    } else if (/^(Write|Update|Delete)_rows/.test(type)) {
      current.rowEvents++;
    }
  }
  return out;
}

/**
 * Cuts `mariadb-binlog --verbose` or MySQL `mysqlbinlog --verbose` output into the header (format
 * description: needed to replay row events), one segment per GTID with its decoded row images, and the
 * trailer (delimiter and session resets) that ends a replayable file. Pure.
 *
 * MariaDB names the GTID in the event's header line (`#... GTID 0-1-5 trans`); MySQL prints a
 * `#... GTID last_committed=...` header line, and the GTID (`uuid:N`, or `uuid:tag:N` from 8.3) in the
 * `SET @@SESSION.GTID_NEXT= '...'` statement that follows it.
 */
export function splitBinlogText(text: string): {
  header: string;
  segments: Map<string, { text: string; rows: RowImage[] }>;
  trailer: string;
} {
  const lines = text.split('\n');
  const segments = new Map<string, { text: string; rows: RowImage[] }>();
  const header: string[] = [];
  const trailer: string[] = [];
  let inSegment = false;
  let gtid: string | null = null;
  let buf: string[] = [];
  // The event header comment ("# at N") precedes the GTID event line; keep it with its transaction.
  let pending: string[] = [];
  const flush = () => {
    if (inSegment && gtid !== null) segments.set(gtid, { text: buf.join('\n'), rows: decodeRows(buf) });
  };
  for (const line of lines) {
    const mariadb = /^#\d{6}\s.*\bGTID (\d+-\d+-\d+)/.exec(line);
    const next = /^SET @@SESSION\.GTID_NEXT\s*=\s*'([^']+)'/i.exec(line);
    const named = next && next[1]!.toUpperCase() !== 'AUTOMATIC' ? next[1]! : null;
    // A GTID_NEXT after the current transaction's own starts the next one (a header line not recognised).
    const unheaded = named !== null && (!inSegment || (gtid !== null && gtid !== named));
    if (mariadb || /^#\d{6}\s.*\tGTID(_TAGGED)?\t/i.test(line) || unheaded) {
      // A trailer seen before another transaction was not the end of the output.
      (inSegment ? buf : header).push(...trailer.splice(0));
      flush();
      inSegment = true;
      gtid = mariadb ? mariadb[1]! : named;
      buf = [...pending, line];
      pending = [];
      continue;
    }
    if (/^# at \d+/.test(line)) {
      pending.push(line);
      continue;
    }
    if (named !== null && gtid === null) gtid = named;
    if ((next && named === null) || /^DELIMITER ;\s*$/.test(line) || trailer.length > 0) {
      trailer.push(...pending, line);
    } else if (!inSegment) {
      header.push(...pending, line);
    } else {
      buf.push(...pending, line);
    }
    pending = [];
  }
  trailer.push(...pending);
  flush();
  return { header: header.join('\n'), segments, trailer: trailer.join('\n') };
}

function decodeRows(lines: readonly string[]): RowImage[] {
  const rows: RowImage[] = [];
  let row: RowImage | null = null;
  for (const line of lines) {
    const m = /^### (INSERT INTO|UPDATE|DELETE FROM) (.+)$/.exec(line);
    if (m) {
      row = { op: m[1]!.split(' ')[0] as RowImage['op'], table: m[2]!.replace(/`/g, ''), values: [] };
      rows.push(row);
      continue;
    }
    const v = /^###\s+(@\d+=.*)$/.exec(line);
    if (v && row) row.values.push(v[1]!);
  }
  return rows;
}

export type BinlogFlavor = 'mariadb' | 'mysql';

/**
 * Names MySQL's own `mysqlbinlog` where it is not on PATH, or where PATH's `mysqlbinlog` is MariaDB's
 * (Debian's /usr/bin/mysqlbinlog is a link to mariadb-binlog, which cannot read MySQL's binary log).
 */
export const MYSQLBINLOG_ENV = 'MYSQL_FAILOVER_MYSQLBINLOG';

const toolFlavors = new Map<string, BinlogFlavor | null>();

/** Which server's binlog reader a program is, from its `--version` (null: not runnable). */
function binlogToolFlavor(path: string): BinlogFlavor | null {
  if (!toolFlavors.has(path)) {
    let flavor: BinlogFlavor | null = null;
    try {
      const version = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000, stdio: 'pipe' });
      flavor = /mariadb/i.test(version) ? 'mariadb' : 'mysql';
    } catch {
      flavor = null;
    }
    toolFlavors.set(path, flavor);
  }
  return toolFlavors.get(path) ?? null;
}

/**
 * The binlog reader that can read this flavor's binary log: `mariadb-binlog` for MariaDB, MySQL's own
 * `mysqlbinlog` for MySQL (the one named by MYSQL_FAILOVER_MYSQLBINLOG, else the first on PATH that is
 * not MariaDB's), or null where there is none (Lambda without a layer).
 */
export function findBinlogTool(flavor: BinlogFlavor, env: NodeJS.ProcessEnv = process.env): string | null {
  const configured = flavor === 'mysql' ? env[MYSQLBINLOG_ENV] : undefined;
  const candidates = configured ? [configured] : [];
  const names = flavor === 'mariadb' ? ['mariadb-binlog', 'mysqlbinlog'] : ['mysqlbinlog'];
  for (const dir of (env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/local/bin', '/opt/bin'])) {
    if (dir) for (const name of names) candidates.push(`${dir}/${name}`);
  }
  return candidates.find((p) => existsSync(p) && binlogToolFlavor(p) === flavor) ?? null;
}

function runTool(
  bin: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${bin} exited with ${code}: ${err.trim().slice(0, 400)}`));
    });
  });
}

export interface SalvageInput {
  old: ServerAdmin;
  newPrimary: ServerAdmin;
  /** Where this salvage's objects go (a prefix of the operation). */
  store: ObjectStore;
  /** For the binlog extract over the replication protocol (REPLICATION SLAVE is the replication user's). */
  replication?: { user: string; password: string };
  /** The watchdog account, for the full dump of the server. */
  watchdog: { user: string; password: string; ssl?: SslOptions };
  signal?: AbortSignal;
  /** Skip the full dump of the server (tests of the transaction listing only). */
  backup?: boolean;
}

async function gtidState(admin: ServerAdmin): Promise<{ set: GtidSet; state: string; current: string }> {
  if (admin.flavor.isMariadb) {
    const [r] = await admin.query<Row>(
      'SELECT @@global.gtid_binlog_pos AS pos, @@global.gtid_binlog_state AS state, @@global.gtid_current_pos AS cur',
    );
    const set = MariadbGtidPos.parse(str(r?.pos)).withBinlogState(str(r?.state));
    return { set, state: str(r?.state), current: str(r?.cur) };
  }
  const [r] = await admin.query<Row>('SELECT @@global.gtid_executed AS pos');
  return { set: parseGtidSet(str(r?.pos), 'mysql'), state: '', current: str(r?.pos) };
}

/**
 * The exact events of the record's transactions, read from the old server over the replication protocol
 * by the flavor's own binlog reader from `first` (the first file holding one of them) to the end: saved as
 * a replayable transactions.sql, and each transaction's row images put in the record. Where no reader is
 * installed, or it fails, the record says so (the listing from SHOW BINLOG EVENTS and backup/ remain).
 */
async function extractEvents(
  input: SalvageInput,
  record: SalvageRecord,
  first: string | undefined,
): Promise<void> {
  if (record.transactions.length === 0) return;
  const { old } = input;
  const flavor: BinlogFlavor = old.flavor.isMariadb ? 'mariadb' : 'mysql';
  const tool = findBinlogTool(flavor);
  const toolName = flavor === 'mariadb' ? 'mariadb-binlog' : "MySQL's mysqlbinlog";
  if (!tool) {
    record.binlogExtractNote = `${toolName} not installed here${flavor === 'mysql' ? ` (MariaDB's cannot read MySQL's binary log; ${MYSQLBINLOG_ENV} names it)` : ''}: transactions listed from SHOW BINLOG EVENTS; row values are in backup/`;
    return;
  }
  if (!input.replication || !first) {
    record.binlogExtractNote = 'no replication credentials for the binlog extract';
    return;
  }
  try {
    const text = await runTool(
      tool,
      [
        '--read-from-remote-server',
        `--host=${old.server.host}`,
        `--port=${old.server.port}`,
        `--user=${input.replication.user}`,
        // caching_sha2_password without TLS needs the server's RSA key (MySQL 8.0+).
        ...(flavor === 'mysql' ? ['--get-server-public-key'] : []),
        '--to-last-log',
        '--verbose',
        first,
      ],
      { MYSQL_PWD: input.replication.password },
      60_000,
    );
    const { header, segments, trailer } = splitBinlogText(text);
    const kept: string[] = [];
    for (const t of record.transactions) {
      const seg = segments.get(t.gtid);
      if (!seg) continue;
      kept.push(seg.text);
      t.rows = seg.rows;
    }
    const client = flavor === 'mariadb' ? 'mariadb' : 'mysql';
    const body = `-- Transactions of ${old.id} missing on ${input.newPrimary.id} (${record.difference}).\n-- Replay with: ${client} -h HOST -P PORT < this file (review first).\n${header}\n${kept.join('\n')}\n${trailer}\n`;
    const url = await putText(input.store, 'transactions.sql', body);
    record.binlogExtract = { url, bytes: Buffer.byteLength(body) };
  } catch (error) {
    record.binlogExtractNote = `${toolName} extract failed: ${errorMessage(error)}`;
  }
}

export async function salvage(input: SalvageInput): Promise<SalvageRecord> {
  const { old, newPrimary, store } = input;
  const oldState = await gtidState(old);
  const newState = await gtidState(newPrimary);
  const diff = oldState.set.difference(newState.set);
  const record: SalvageRecord = {
    server: old.id,
    missingOn: newPrimary.id,
    difference: diff.isEmpty() ? '' : diff.describe(),
    setDifference: diff.isEmpty() ? '' : diff.describe(),
    count: Number(diff.count()),
    transactions: [],
    binlogExtract: null,
    backup: null,
    url: '',
    createdAt: new Date().toISOString(),
  };

  // Scanned even when the set difference is empty: the binary log, not arithmetic on positions, is
  // the account of what this server wrote.
  if (old.flavor.isMariadb) {
    // What the new primary has: every GTID in its binary log, and what its first binlog file's
    // Gtid_list says it had before (a reseed resets the log; positions alone cannot tell two
    // histories with the same seq numbers apart).
    const inventory = await binlogInventory(newPrimary);
    const files = (await old.query<Row>('SHOW BINARY LOGS')).map((r) => str(r.Log_name));
    const firstWithMissing: string[] = [];
    for (const file of files) {
      const events = await old.query<Row>(`SHOW BINLOG EVENTS IN ${quote(file)}`);
      const missing = transactionsFromEvents(file, events).filter((t) => {
        const g = parseTriple(t.gtid);
        return g !== null && !inventoryHas(inventory, g);
      });
      if (missing.length > 0) firstWithMissing.push(file);
      record.transactions.push(...missing);
    }
    // The binary log is the exact account: every transaction it holds that the new primary lacks.
    record.count = record.transactions.length;
    record.difference = record.transactions.map((t) => t.gtid).join(',');
    await extractEvents(input, record, firstWithMissing[0]);
  } else if (!diff.isEmpty()) {
    // MySQL: GTID sets are exact (no seq reuse across histories), so the set difference is the account;
    // the binary log names each missing transaction's tables and statements.
    const firstWithMissing: string[] = [];
    for (const file of (await old.query<Row>('SHOW BINARY LOGS')).map((r) => str(r.Log_name))) {
      const events = await old.query<Row>(`SHOW BINLOG EVENTS IN ${quote(file)}`);
      const missing = transactionsFromEvents(file, events).filter((t) =>
        diff.contains(parseGtidSet(t.gtid, 'mysql')),
      );
      if (missing.length > 0) firstWithMissing.push(file);
      record.transactions.push(...missing);
    }
    await extractEvents(input, record, firstWithMissing[0]);
  }

  if (input.backup !== false) {
    const result = await dumpDatabase({
      source: {
        host: old.server.host,
        port: old.server.port,
        user: input.watchdog.user,
        password: input.watchdog.password,
        ...(input.watchdog.ssl ? { ssl: input.watchdog.ssl } : {}),
      },
      store: subStore(store, 'backup'),
      // A salvage stopped by its deadline continues its backup from the parts already stored.
      resume: true,
      ...(input.signal ? { signal: input.signal } : {}),
    });
    record.backup = {
      url: result.url,
      rows: result.manifest.totals.rows,
      gtid: result.manifest.gtid.position,
    };
  }
  record.url = await putJson(store, 'salvage.json', record);
  return record;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
