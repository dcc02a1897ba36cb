import { describe, expect, it } from 'vitest';
import { parseHostPort } from '../../../functions/dump/connection.js';
import { orderViews } from '../../../functions/dump/dump.js';
import { type Manifest, objectKey, objectsInOrder, parseManifest } from '../../../functions/dump/manifest.js';
import { planCharsets } from '../../../functions/dump/sql-encode.js';
import { DumpIntegrityError } from '../../../functions/errors.js';

const SHA = 'a'.repeat(64);

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    format: 'mysql-failover-dump',
    formatVersion: 1,
    tool: { name: 'mysql-failover', version: '0.1.0' },
    created: '2026-01-01T00:00:00Z',
    finished: '2026-01-01T00:01:00Z',
    source: { host: '10.0.0.1', port: 3306, flavor: 'mariadb', version: '10.11.18-MariaDB' },
    gtid: { position: '0-1-42' },
    snapshot: { method: 'ftwrl', workers: 2 },
    schemas: ['app'],
    options: { users: false, compressionLevel: 1, chunkRows: 100000 },
    objects: [
      { key: objectKey.views(), kind: 'views', rows: 0, bytes: 10, compressedBytes: 20, sha256: SHA },
      {
        key: objectKey.data('app', 't', 1),
        kind: 'data',
        schema: 'app',
        table: 't',
        chunk: 1,
        rows: 5,
        bytes: 100,
        compressedBytes: 50,
        sha256: SHA,
      },
      {
        key: objectKey.schema('app'),
        kind: 'schema',
        schema: 'app',
        rows: 0,
        bytes: 10,
        compressedBytes: 20,
        sha256: SHA,
      },
      {
        key: objectKey.data('app', 't', 0),
        kind: 'data',
        schema: 'app',
        table: 't',
        chunk: 0,
        rows: 7,
        bytes: 100,
        compressedBytes: 50,
        sha256: SHA,
      },
    ],
    totals: { rows: 12, bytes: 220, compressedBytes: 140 },
    ...over,
  };
}

describe('manifest', () => {
  it('accepts a well-formed manifest and orders objects schema, data, then dependent objects', () => {
    const m = parseManifest(JSON.stringify(manifest()));
    expect(objectsInOrder(m).map((o) => o.key)).toEqual([
      '00-schema/app.sql.gz',
      '10-data/app/t.00000.sql.gz',
      '10-data/app/t.00001.sql.gz',
      '40-views.sql.gz',
    ]);
  });

  it('refuses other formats, versions, duplicates and wrong totals', () => {
    expect(() => parseManifest('{not json')).toThrow(DumpIntegrityError);
    expect(() => parseManifest(JSON.stringify({ ...manifest(), format: 'x' }))).toThrow(
      /not a mysql-failover-dump/,
    );
    expect(() => parseManifest(JSON.stringify({ ...manifest(), formatVersion: 2 }))).toThrow(
      /format version 2/,
    );
    const m = manifest();
    expect(() => parseManifest(JSON.stringify({ ...m, objects: [...m.objects, m.objects[0]] }))).toThrow(
      /twice/,
    );
    expect(() => parseManifest(JSON.stringify({ ...m, totals: { ...m.totals, rows: 13 } }))).toThrow(
      /12 rows/,
    );
    expect(() =>
      parseManifest(JSON.stringify({ ...m, objects: m.objects.map((o) => ({ ...o, sha256: 'nope' })) })),
    ).toThrow(DumpIntegrityError);
  });

  it('makes any identifier a safe, sortable key', () => {
    expect(objectKey.data('a/b', 'odd name; `x`', 12)).toBe(
      '10-data/a%2Fb/odd%20name%3B%20%60x%60.00012.sql.gz',
    );
  });
});

describe('view order', () => {
  it('puts a view after the views it reads, across schemas', () => {
    const order = orderViews([
      { id: '`a`.`v1`', schema: 'a', create: 'CREATE VIEW `v1` AS select `x`.`id` from `b`.`v2` `x`' },
      { id: '`b`.`v2`', schema: 'b', create: 'CREATE VIEW `v2` AS select `t`.`id` from `b`.`v3` `t`' },
      { id: '`b`.`v3`', schema: 'b', create: 'CREATE VIEW `v3` AS select `id` from `b`.`base`' },
    ]);
    expect(order).toEqual(['`b`.`v3`', '`b`.`v2`', '`a`.`v1`']);
  });
});

describe('character sets of data objects', () => {
  it('uses the one charset of an ASCII-named table as the object charset', () => {
    const p = planCharsets(
      ['db', 't', 'a', 'b'],
      [
        { name: 'a', kind: 'number', charset: null },
        { name: 'b', kind: 'string', charset: 'latin1' },
      ],
    );
    expect(p.charset).toBe('latin1');
    expect(p.columns[1]).toEqual({ name: 'b', kind: 'string' });
  });

  it('falls back to utf8mb4 with introducers for mixed charsets and hex for multi-byte ones', () => {
    const p = planCharsets(
      ['db', 't'],
      [
        { name: 'u', kind: 'string', charset: 'utf8mb4' },
        { name: 'l', kind: 'string', charset: 'latin1' },
        { name: 's', kind: 'string', charset: 'sjis' },
      ],
    );
    expect(p.charset).toBe('utf8mb4');
    expect(p.columns).toEqual([
      { name: 'u', kind: 'string' },
      { name: 'l', kind: 'string', introducer: '_latin1' },
      { name: 's', kind: 'binary', introducer: '_sjis' },
    ]);
  });

  it('keeps utf8mb4 for non-ASCII identifiers', () => {
    expect(planCharsets(['db', 'tü'], [{ name: 'a', kind: 'string', charset: 'latin1' }]).charset).toBe(
      'utf8mb4',
    );
  });
});

describe('HOST:PORT', () => {
  it('parses host, IPv6 and default port', () => {
    expect(parseHostPort('db1:3307')).toEqual({ host: 'db1', port: 3307 });
    expect(parseHostPort('[::1]:3306')).toEqual({ host: '::1', port: 3306 });
    expect(parseHostPort('db1')).toEqual({ host: 'db1', port: 3306 });
    expect(() => parseHostPort('db1:99999')).toThrow(/invalid port/);
  });
});
