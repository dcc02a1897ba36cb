import { ConfigError } from '../errors.js';
import { FolderObjectStore } from './folder-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore, type S3StoreOptions } from './s3-store.js';

export type StoreLocation = { kind: 's3'; bucket: string; prefix: string } | { kind: 'folder'; path: string };

/** Parses `s3://bucket/prefix` or a folder path (absolute, relative or file://). */
export function parseStoreUrl(url: string): StoreLocation {
  const trimmed = url.trim();
  if (trimmed === '') throw new ConfigError('object storage location is empty', { details: { url } });
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(trimmed);
  if (s3) {
    const bucket = s3[1] ?? '';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new ConfigError(`invalid S3 bucket name '${bucket}' in ${url}`, { details: { url } });
    }
    return { kind: 's3', bucket, prefix: (s3[2] ?? '').replace(/\/+$/, '') };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) && !trimmed.startsWith('file://')) {
    throw new ConfigError(`unsupported object storage URL ${url} (use s3://bucket/prefix or a folder)`, {
      details: { url },
    });
  }
  return { kind: 'folder', path: trimmed.startsWith('file://') ? trimmed.slice('file://'.length) : trimmed };
}

/** Options for S3 locations (endpoint, encryption, checksum, client); ignored for folders. */
export type OpenStoreOptions = Omit<S3StoreOptions, 'bucket' | 'prefix'>;

export function openObjectStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  const loc = parseStoreUrl(url);
  if (loc.kind === 'folder') return new FolderObjectStore(loc.path);
  return new S3ObjectStore({ ...options, bucket: loc.bucket, prefix: loc.prefix });
}
