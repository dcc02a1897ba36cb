import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type ChecksumAlgorithm,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  type ServerSideEncryption,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type AwsClientOptions, awsClientOptions } from '../aws/client-options.js';
import { StorageError } from '../errors.js';
import {
  normalizeKey,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
} from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' for the bucket root). */
  prefix: string;
  /** A client built once per container; when absent one is built from the fields below. */
  client?: S3Client;
  region?: string;
  /** A local S3-compatible endpoint (tests, sandbox); implies path-style addressing unless overridden. */
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: S3ClientConfig['credentials'];
  /** Server-side encryption: AES256 (S3-managed keys) or aws:kms (with kmsKeyId, or the account default). */
  sse?: { type: 'AES256' } | { type: 'aws:kms'; kmsKeyId?: string };
  /** Integrity checksum S3 verifies on every part and stores with the object. */
  checksumAlgorithm?: 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256' | 'CRC64NVME';
  /**
   * The account that must own the bucket (12 digits): S3 refuses every request when another account
   * owns it (a bucket deleted and re-created elsewhere), so dumps never go to, nor come from, someone else.
   */
  expectedBucketOwner?: string;
  /** The run's abort signal: every call of this store ends with it (besides a call's own signal). */
  signal?: AbortSignal;
  /** Connect and request timeouts, retries (default: awsClientOptions(), as every AWS client). */
  aws?: AwsClientOptions;
  /** Multipart part size in bytes (S3 minimum 5 MiB); an upload holds at most (queueSize + 1) parts. */
  partSize?: number;
  /** Parts of one object uploaded at the same time (default 1: one in flight while the next fills). */
  queueSize?: number;
}

const MIB = 1024 * 1024;
/** Part buffers kept for the next uploads (a dump's two workers, one filling and one in flight each). */
const IDLE_PARTS = 4;
/** How long they are kept once no upload runs (a restore that follows a dump needs none of them). */
const IDLE_PARTS_MS = 1_000;

/**
 * Part buffers reused from one upload to the next: the bytes of a part are copied once, into a buffer
 * that was already there, instead of a new buffer (or a concatenation of the body's chunks) per part
 * that lives until the next garbage collection. A buffer comes back only after the request that sent
 * it succeeded (a failed or aborted one may still be referenced by its socket). Once no upload has run
 * for IDLE_PARTS_MS, the kept buffers are let go.
 */
class PartBuffers {
  private idle: Buffer[] = [];
  private active = 0;
  private release: NodeJS.Timeout | undefined;

  begin(): void {
    this.active++;
    clearTimeout(this.release);
  }

  end(): void {
    if (--this.active > 0) return;
    this.release = setTimeout(() => {
      this.idle = [];
    }, IDLE_PARTS_MS);
    this.release.unref();
  }

  take(size: number): Buffer {
    const i = this.idle.findIndex((b) => b.length === size);
    return i >= 0 ? (this.idle.splice(i, 1)[0] as Buffer) : Buffer.allocUnsafe(size);
  }

  give(buffer: Buffer): void {
    if (this.idle.length < IDLE_PARTS) this.idle.push(buffer);
  }
}

/**
 * The watchdog's AWS client options, with a request timeout of at least 2 minutes: the timer of an
 * UploadPart runs while its body (a part of partSize bytes) is being sent.
 */
function s3ClientOptions(): AwsClientOptions {
  const base = awsClientOptions();
  return {
    ...base,
    requestHandler: {
      ...base.requestHandler,
      requestTimeout: Math.max(base.requestHandler.requestTimeout, 120_000),
    },
  };
}

/**
 * S3 adapter: streaming multipart upload, so an object of any size is uploaded with bounded memory
 * while it is being produced (one part filling, at most queueSize in flight, buffers reused), and
 * becomes visible only when complete. An object that fits in one part is one PutObject.
 */
export class S3ObjectStore implements ObjectStore {
  readonly url: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partBuffers = new PartBuffers();

  constructor(private readonly options: S3StoreOptions) {
    this.bucket = options.bucket;
    const p = normalizeKey(options.prefix);
    this.prefix = p === '' ? '' : `${p}/`;
    this.url = `s3://${options.bucket}/${p}`;
    this.client =
      options.client ??
      new S3Client({
        ...(options.aws ?? s3ClientOptions()),
        region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
        ...(options.credentials ? { credentials: options.credentials } : {}),
        // Checksums are asked for explicitly per upload (checksumAlgorithm); an implicit default
        // checksum on every request would force aws-chunked trailers on streaming bodies.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
  }

  /** The send options of a call: the store's signal and the call's own, whichever aborts first. */
  private abort(own?: AbortSignal): { abortSignal?: AbortSignal } {
    const signals = [this.options.signal, own].filter((x): x is AbortSignal => x !== undefined);
    if (signals.length === 0) return {};
    return { abortSignal: signals.length === 1 ? signals[0]! : AbortSignal.any(signals) };
  }

  private fullKey(key: string): string {
    return this.prefix + normalizeKey(key);
  }

  /** Bucket (and the expected owner) of every request. */
  private get at(): { Bucket: string; ExpectedBucketOwner?: string } {
    const owner = this.options.expectedBucketOwner;
    return { Bucket: this.bucket, ...(owner ? { ExpectedBucketOwner: owner } : {}) };
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    // An upload stops when the signal fires while it runs. One started after it fired still runs (as
    // with lib-storage before): a resumable dump writes the record of a part it just finished then.
    const { abortSignal } = this.abort(options.signal);
    const stop = new AbortController();
    const send = { abortSignal: stop.signal };
    const partSize = Math.max(5 * MIB, this.options.partSize ?? 5 * MIB);
    const queueSize = Math.max(1, this.options.queueSize ?? 1);
    const sse = this.options.sse;
    const algorithm = this.options.checksumAlgorithm as ChecksumAlgorithm | undefined;
    const target = { ...this.at, Key: this.fullKey(key) };
    const create = {
      ...target,
      ContentType: options.contentType ?? 'application/octet-stream',
      ...(sse ? { ServerSideEncryption: sse.type as ServerSideEncryption } : {}),
      ...(sse?.type === 'aws:kms' && sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}),
      ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
    };
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let partFailure: unknown;
    let nextPart = 1;
    this.partBuffers.begin();
    let part = this.partBuffers.take(partSize);
    let filled = 0;
    let bytes = 0;
    // Stop reading the body at the deadline (the producer may be waiting for us to read on).
    const onAbort = () => {
      stop.abort(abortSignal?.reason);
      body.destroy(new Error('upload aborted'));
    };
    if (!abortSignal?.aborted) abortSignal?.addEventListener('abort', onAbort, { once: true });

    /** Sends the full part; returns once fewer than queueSize parts are in flight. */
    const sendPart = async (buffer: Buffer, length: number): Promise<void> => {
      uploadId ??= (await this.client.send(new CreateMultipartUploadCommand(create), send)).UploadId;
      const PartNumber = nextPart++;
      const sending: Promise<void> = this.client
        .send(
          new UploadPartCommand({
            ...target,
            UploadId: uploadId,
            PartNumber,
            Body: length === buffer.length ? buffer : buffer.subarray(0, length),
            ContentLength: length,
            ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
          }),
          send,
        )
        .then(
          (out) => {
            this.partBuffers.give(buffer);
            parts.push({
              PartNumber,
              ETag: out.ETag,
              ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
              ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
              ...(out.ChecksumCRC64NVME ? { ChecksumCRC64NVME: out.ChecksumCRC64NVME } : {}),
              ...(out.ChecksumSHA1 ? { ChecksumSHA1: out.ChecksumSHA1 } : {}),
              ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
            });
          },
          (error: unknown) => {
            partFailure ??= error;
          },
        )
        .finally(() => inFlight.delete(sending));
      inFlight.add(sending);
      while (inFlight.size >= queueSize) await Promise.race(inFlight);
      if (partFailure !== undefined) throw partFailure;
    };

    try {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        bytes += data.length;
        for (let at = 0; at < data.length; ) {
          // A full part is sent only once more data follows: an object of exactly one part is a PutObject.
          if (filled === partSize) {
            await sendPart(part, filled);
            part = this.partBuffers.take(partSize);
            filled = 0;
          }
          const n = data.copy(part, filled, at, Math.min(data.length, at + partSize - filled));
          filled += n;
          at += n;
        }
      }
      if (uploadId === undefined) {
        await this.client.send(
          new PutObjectCommand({ ...create, Body: part.subarray(0, filled), ContentLength: filled }),
          send,
        );
        this.partBuffers.give(part);
      } else {
        await sendPart(part, filled);
        while (inFlight.size > 0) await Promise.race(inFlight);
        if (partFailure !== undefined) throw partFailure;
        parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
        await this.client.send(
          new CompleteMultipartUploadCommand({
            ...target,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
          send,
        );
      }
    } catch (error) {
      body.destroy();
      await Promise.allSettled(inFlight);
      if (uploadId !== undefined) {
        // Best effort, without the (possibly aborted) signal: parts left behind cost storage.
        await this.client
          .send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId }))
          .catch(() => undefined);
      }
      throw new StorageError(`could not upload ${key} to ${this.url}`, { cause: error, details: { key } });
    } finally {
      abortSignal?.removeEventListener('abort', onAbort);
      this.partBuffers.end();
    }
    return { key: normalizeKey(key), bytes };
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ ...this.at, Key: this.fullKey(key) }),
        this.abort(options.signal),
      );
      if (!(out.Body instanceof Readable)) throw new Error('response body is not a Node.js stream');
      return out.Body;
    } catch (error) {
      throw new StorageError(`could not read ${key} from ${this.url}`, { cause: error, details: { key } });
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ ...this.at, Key: this.fullKey(key) }),
        this.abort(),
      );
      return {
        key: normalizeKey(key),
        size: out.ContentLength ?? 0,
        ...(out.LastModified ? { lastModified: out.LastModified } : {}),
      };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') {
        return undefined;
      }
      throw new StorageError(`could not stat ${key} in ${this.url}`, { cause: error, details: { key } });
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            ...this.at,
            Prefix: this.prefix + prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
          this.abort(),
        );
        for (const o of page.Contents ?? []) {
          if (!o.Key) continue;
          out.push({
            key: o.Key.slice(this.prefix.length),
            size: o.Size ?? 0,
            ...(o.LastModified ? { lastModified: o.LastModified } : {}),
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw new StorageError(`could not list ${prefix} in ${this.url}`, {
        cause: error,
        details: { prefix },
      });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ ...this.at, Key: this.fullKey(key) }), this.abort());
    } catch (error) {
      throw new StorageError(`could not delete ${key} from ${this.url}`, { cause: error, details: { key } });
    }
  }
}
