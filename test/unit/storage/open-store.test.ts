import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/errors.js';
import { FolderObjectStore } from '../../../functions/storage/folder-store.js';
import { normalizeKey } from '../../../functions/storage/object-store.js';
import { openObjectStore, parseStoreUrl } from '../../../functions/storage/open-store.js';
import { S3ObjectStore } from '../../../functions/storage/s3-store.js';

describe('object storage locations', () => {
  it('parses s3://bucket/prefix with or without a prefix and trailing slash', () => {
    expect(parseStoreUrl('s3://my-bucket/dumps/2024/')).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      prefix: 'dumps/2024',
    });
    expect(parseStoreUrl('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
  });

  it('treats paths and file:// URLs as folders', () => {
    expect(parseStoreUrl('/var/backups/db')).toEqual({ kind: 'folder', path: '/var/backups/db' });
    expect(parseStoreUrl('./dumps')).toEqual({ kind: 'folder', path: './dumps' });
    expect(parseStoreUrl('file:///tmp/x')).toEqual({ kind: 'folder', path: '/tmp/x' });
  });

  it('refuses other schemes and invalid bucket names with a ConfigError naming the value', () => {
    expect(() => parseStoreUrl('gs://bucket/x')).toThrow(ConfigError);
    expect(() => parseStoreUrl('s3://Bad_Bucket/x')).toThrow(/Bad_Bucket/);
    expect(() => parseStoreUrl('  ')).toThrow(ConfigError);
  });

  it('opens the adapter that matches the location', () => {
    expect(openObjectStore('/tmp/somewhere')).toBeInstanceOf(FolderObjectStore);
    const s3 = openObjectStore('s3://bucket-a/p/q', { region: 'eu-west-1' });
    expect(s3).toBeInstanceOf(S3ObjectStore);
    expect(s3.url).toBe('s3://bucket-a/p/q');
  });

  it('keeps keys inside the store', () => {
    expect(normalizeKey('/a//b/./c.sql.gz')).toBe('a/b/c.sql.gz');
    expect(() => normalizeKey('a/../../etc/passwd')).toThrow(/\.\./);
  });
});
