import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError } from '../errors.js';
import {
  counted,
  normalizeKey,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './object-store.js';

/**
 * A local folder as object storage, for the CLI and the sandbox. Writes go to a temporary name in the
 * same folder and are renamed into place when complete, so a reader never sees half an object (the
 * same guarantee S3 gives for a multipart upload).
 */
export class FolderObjectStore implements ObjectStore {
  readonly url: string;
  private readonly root: string;

  constructor(folder: string) {
    this.url = folder;
    this.root = resolve(folder);
  }

  private pathOf(key: string): string {
    const k = normalizeKey(key);
    if (k === '') throw new StorageError('empty object key', { details: { store: this.url } });
    return join(this.root, ...k.split('/'));
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const target = this.pathOf(key);
    // Dumps, salvage and audit records hold the data: the owner alone reads them (issue 13, Low).
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const temp = `${target}.part-${randomBytes(6).toString('hex')}`;
    const { stream, bytes } = counted(body);
    try {
      await pipeline(stream, createWriteStream(temp, { highWaterMark: 1 << 20, mode: 0o600 }), {
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw new StorageError(`could not write ${key} to ${this.url}`, { cause: error, details: { key } });
    }
    return { key: normalizeKey(key), bytes: bytes() };
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    try {
      await stat(path);
    } catch (error) {
      throw new StorageError(`object ${key} not found in ${this.url}`, { cause: error, details: { key } });
    }
    return createReadStream(path, { highWaterMark: 1 << 20 });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? { key: normalizeKey(key), size: s.size, lastModified: s.mtime } : undefined;
    } catch {
      return undefined;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile() && !/\.part-[0-9a-f]{12}$/.test(e.name)) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) {
            const s = await stat(full);
            out.push({ key, size: s.size, lastModified: s.mtime });
          }
        }
      }
    };
    await walk(this.root);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StorageError(`could not delete ${key} from ${this.url}`, {
          cause: error,
          details: { key },
        });
      }
    }
  }
}
