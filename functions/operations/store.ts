/**
 * Object storage as the operations use it: one base store (config `objectStore`, or DUMPS_URL in
 * Lambda) and key prefixes per operation. Salvage, reseed dumps and audit records of one operation sit
 * under `operations/<cluster>/<opened epoch>/`, so an operator finds everything about it in one place.
 */
import { Readable } from 'node:stream';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import {
  normalizeKey,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  readAll,
} from '../storage/object-store.js';
import { type OpenStoreOptions, openObjectStore } from '../storage/open-store.js';

/** A view of `base` under `prefix`: keys are relative to the prefix. */
export function subStore(base: ObjectStore, prefix: string): ObjectStore {
  const p = normalizeKey(prefix);
  const full = (key: string) => (p === '' ? normalizeKey(key) : `${p}/${normalizeKey(key)}`);
  const strip = (info: ObjectInfo): ObjectInfo => ({ ...info, key: info.key.slice(p.length + 1) });
  return {
    url: `${base.url.replace(/\/+$/, '')}/${p}`,
    put: (key: string, body: Readable, options?: PutOptions): Promise<PutResult> =>
      base.put(full(key), body, options).then((r) => ({ ...r, key })),
    get: (key: string, options?: { signal?: AbortSignal }) => base.get(full(key), options),
    head: async (key: string) => {
      const info = await base.head(full(key));
      return info ? strip(info) : undefined;
    },
    list: async (prefixInside: string) =>
      (await base.list(prefixInside === '' ? `${p}/` : full(prefixInside))).map(strip),
    delete: (key: string) => base.delete(full(key)),
  };
}

export function openConfiguredStore(config: Config, options: OpenStoreOptions = {}): ObjectStore {
  if (!config.objectStore) {
    throw new ConfigError(
      'objectStore is not configured: salvage, reseed dumps and audit records need s3://bucket/prefix or a folder (DUMPS_URL / MF_OBJECT_STORE)',
    );
  }
  const enc = config.objectStoreEncryption;
  const sse: OpenStoreOptions['sse'] =
    enc.mode === 'aws:kms'
      ? { type: 'aws:kms', ...(enc.kmsKeyId ? { kmsKeyId: enc.kmsKeyId } : {}) }
      : { type: 'AES256' };
  return openObjectStore(config.objectStore, {
    sse,
    ...(config.objectStoreBucketOwner ? { expectedBucketOwner: config.objectStoreBucketOwner } : {}),
    ...(process.env.S3_ENDPOINT ? { endpoint: process.env.S3_ENDPOINT } : {}),
    ...options,
  });
}

export async function putJson(store: ObjectStore, key: string, value: unknown): Promise<string> {
  await store.put(key, Readable.from([Buffer.from(`${JSON.stringify(value, null, 2)}\n`)]), {
    contentType: 'application/json',
  });
  return `${store.url.replace(/\/+$/, '')}/${key}`;
}

export async function putText(store: ObjectStore, key: string, text: string): Promise<string> {
  await store.put(key, Readable.from([Buffer.from(text)]), { contentType: 'text/plain' });
  return `${store.url.replace(/\/+$/, '')}/${key}`;
}

export async function getJson<T>(store: ObjectStore, key: string): Promise<T | null> {
  if (!(await store.head(key))) return null;
  return JSON.parse((await readAll(await store.get(key))).toString('utf8')) as T;
}

/**
 * Where an operation's reseed dumps go: `dumps/<cluster>/<opened epoch>/`, apart from its records, so
 * that the bucket's lifecycle expires dumps (a copy of the new primary, rebuilt from any time) and never
 * the salvage and audit records under `operations/` (the only copy of what a failed primary held).
 */
export function dumpPrefix(config: Config, openedEpoch: number): string {
  return `dumps/${config.clusterName}/${String(openedEpoch).padStart(6, '0')}`;
}

export function operationPrefix(config: Config, openedEpoch: number): string {
  return `operations/${config.clusterName}/${String(openedEpoch).padStart(6, '0')}`;
}
