import { Readable } from 'node:stream';
import {
  type ChecksumAlgorithm,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type AwsClientOptions, awsClientOptions } from '../aws/client-options.js';
import { StorageError } from '../errors.js';
import {
  counted,
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
  /** Multipart part size in bytes (S3 minimum 5 MiB); memory use is about partSize × queueSize. */
  partSize?: number;
  /** Parts uploaded concurrently per object. */
  queueSize?: number;
}

const MIB = 1024 * 1024;

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
 * S3 adapter: streaming multipart upload through @aws-sdk/lib-storage, so an object of any size is
 * uploaded with bounded memory while it is being produced, and becomes visible only when complete.
 */
export class S3ObjectStore implements ObjectStore {
  readonly url: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

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
    const { stream, bytes } = counted(body);
    const sse = this.options.sse;
    const upload = new Upload({
      client: this.client,
      // 5 MiB (the S3 minimum) by default: the Upload holds up to (queueSize + 1) parts per object,
      // and a dump streams one object per worker; larger parts buy nothing here but memory.
      partSize: Math.max(5 * MIB, this.options.partSize ?? 5 * MIB),
      queueSize: this.options.queueSize ?? 2,
      leavePartsOnError: false,
      params: {
        ...this.at,
        Key: this.fullKey(key),
        Body: stream,
        ContentType: options.contentType ?? 'application/octet-stream',
        ...(sse ? { ServerSideEncryption: sse.type as ServerSideEncryption } : {}),
        ...(sse?.type === 'aws:kms' && sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}),
        ...(this.options.checksumAlgorithm
          ? { ChecksumAlgorithm: this.options.checksumAlgorithm as ChecksumAlgorithm }
          : {}),
      },
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    const signal = this.abort(options.signal).abortSignal;
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (error) {
      body.destroy();
      stream.destroy();
      throw new StorageError(`could not upload ${key} to ${this.url}`, { cause: error, details: { key } });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return { key: normalizeKey(key), bytes: bytes() };
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
