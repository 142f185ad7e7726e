import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SHA256_HEX } from '../crypto/hash.js';
import type {
  BlobStore,
  BlobStoreSpec,
  ByteRange,
  ListedBlob,
  PresignOptions,
  StageOptions,
  StagedBlob,
} from './blob-store.js';
import { isNotFound, type S3Connection } from './s3-client.js';
import { MAX_PRESIGN_SECONDS, normalizePrefix, s3PrefixProblem } from './s3-names.js';
import { stageToTempFile } from './staging.js';

export interface S3StoreOptions {
  bucket: string;
  /** Where every key starts (`overair/`), so Overair can share a bucket; validated. */
  prefix?: string;
  /** Local folder for uploads being received and validated before they go to the bucket. */
  tmpDir: string;
  /** Bytes per multipart part (default 8 MiB; S3's minimum is 5 MiB). */
  partSize?: number;
  /** Parts in flight at once per upload: memory per upload is about partSize x (queueSize + 1). */
  queueSize?: number;
  /**
   * Committing bytes already stored refreshes the object's age when it is older than this (default
   * 1 day), so that the orphan sweep, which goes by age, never takes a blob an upload in progress
   * is about to use. Refreshing at most daily keeps shared files from being copied at every upload.
   */
  refreshAfterMs?: number;
  /**
   * How `client` was made: with it, worker threads open this store again for themselves (`spec`) and
   * store a bundle's files from there, their requests off the thread that answers update checks.
   */
  connection?: S3Connection;
}

/**
 * A staging file older than this is left over by a crashed instance. Only old ones are removed at
 * start: instances that share a data folder must not delete each other's uploads in progress (a
 * staged bundle can wait a while for validation and its upload to the bucket).
 */
const STALE_STAGING_MS = 6 * 3600 * 1000;

/** S3 copies an object in one request only up to 5 GiB; a larger one keeps its age. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;

/** Every object's headers; set again when an object is copied onto itself to refresh its age. */
const OBJECT_HEADERS = {
  ContentType: 'application/octet-stream',
  // Immutable content: any cache in front of the bucket may keep it for good.
  CacheControl: 'public, max-age=31536000, immutable',
} as const;

/** File names a presigned download may carry (as the download route accepts them). */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Bundles in an S3-compatible bucket, under `<prefix>bundles/ab/<sha256>`. Uploads are staged in a
 * local temporary file first (a bundle is validated as a zip, and its files extracted, before it is
 * committed), then streamed to the bucket in parts, so memory stays flat whatever the size. Objects
 * are immutable: a key is its content's hash, so an object already there is never uploaded again.
 */
export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  private readonly prefix: string;
  readonly tmpDir: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly refreshAfterMs: number;
  readonly spec?: BlobStoreSpec;

  constructor(
    private readonly client: S3Client,
    options: S3StoreOptions,
  ) {
    const problem = options.prefix ? s3PrefixProblem(options.prefix) : null;
    if (problem) throw new Error(`S3 key prefix ${JSON.stringify(options.prefix)}: ${problem}`);
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix);
    this.tmpDir = options.tmpDir;
    this.partSize = options.partSize ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 2;
    this.refreshAfterMs = options.refreshAfterMs ?? 86_400_000;
    if (options.connection) {
      this.spec = {
        kind: 's3',
        connection: options.connection,
        bucket: this.bucket,
        prefix: options.prefix,
        tmpDir: this.tmpDir,
        refreshAfterMs: this.refreshAfterMs,
      };
    }
  }

  /** Removes staging files left by a crash long ago. */
  async init(): Promise<void> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    const cutoff = Date.now() - STALE_STAGING_MS;
    for (const name of await fs.readdir(this.tmpDir)) {
      const file = path.join(this.tmpDir, name);
      const stat = await fs.stat(file).catch(() => null);
      if (stat && stat.mtimeMs < cutoff) await fs.rm(file, { recursive: true, force: true });
    }
  }

  stage(source: Readable, options: StageOptions): Promise<StagedBlob> {
    return stageToTempFile(source, this.tmpDir, options);
  }

  /**
   * Uploads the staged file (in parts when large) and removes it, whether the upload worked or not.
   * A failed multipart upload is aborted (lib-storage does it unless told to leave parts), so no
   * half object stays behind; a bucket lifecycle rule that aborts incomplete uploads covers the
   * case where even the abort cannot reach the bucket.
   */
  async commit(staged: StagedBlob): Promise<void> {
    const key = this.keyOf(staged.sha256);
    try {
      if (await this.alreadyStored(key, staged.size)) return;
      // Opened only now, and always waited for: a read stream abandoned while it opens still opens
      // the file later, and once the file is removed that open's error has no one to take it.
      const body = createReadStream(staged.file);
      try {
        const upload = new Upload({
          client: this.client,
          params: {
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentLength: staged.size,
            ...OBJECT_HEADERS,
          },
          partSize: this.partSize,
          queueSize: this.queueSize,
          leavePartsOnError: false,
        });
        await upload.done();
      } finally {
        body.destroy();
        await finished(body).catch(() => undefined);
      }
    } finally {
      await fs.rm(staged.file, { force: true });
    }
  }

  /** One PutObject from memory (a bundle's small files), unless the object is there already. */
  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    const key = this.keyOf(sha256);
    if (await this.alreadyStored(key, bytes.length)) return;
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentLength: bytes.length,
        ...OBJECT_HEADERS,
      }),
    );
  }

  /**
   * Whether the object is there with this size, made young again (copied onto itself) when older
   * than refreshAfterMs. Content-addressed: the same key holds the same bytes, so files shared by
   * many bundles (delta updates store every file) are uploaded once.
   */
  private async alreadyStored(key: string, size: number): Promise<boolean> {
    const existing = await this.head(key);
    if (existing?.size !== size) return false;
    if (Date.now() - existing.modifiedAt > this.refreshAfterMs && size <= MAX_COPY_BYTES) {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: key,
          CopySource: `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
          // S3 copies an object onto itself only when something changes: the headers, set anew.
          MetadataDirective: 'REPLACE',
          ...OBJECT_HEADERS,
        }),
      );
    }
    return true;
  }

  async discard(staged: StagedBlob): Promise<void> {
    await fs.rm(staged.file, { force: true });
  }

  async size(sha256: string): Promise<number | null> {
    return (await this.head(this.keyOf(sha256)))?.size ?? null;
  }

  private async head(key: string): Promise<{ size: number; modifiedAt: number } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified?.getTime() ?? Date.now() };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Lists `<prefix>bundles/`, a page of up to 1,000 keys at a time; other keys are not blobs. */
  async *list(): AsyncIterable<ListedBlob> {
    const root = `${this.prefix}bundles/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: root, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const match = /^([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(object.Key?.slice(root.length) ?? '');
        if (!match || !match[2]!.startsWith(match[1]!)) continue;
        yield {
          sha256: match[2]!,
          size: object.Size ?? 0,
          modifiedAt: object.LastModified?.getTime() ?? Date.now(),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * The object's bytes (or a range of them) as a stream, returned at once as BlobStore wants; the
   * request is made behind it, and an error (no such object, connection lost) destroys the stream.
   * A consumer that stops reading early aborts the request.
   */
  read(sha256: string, range?: ByteRange): Readable {
    const key = this.keyOf(sha256);
    const out = new PassThrough();
    const controller = new AbortController();
    out.once('close', () => {
      if (!out.readableEnded) controller.abort();
    });
    this.client
      .send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range && { Range: `bytes=${range.start}-${range.end}` }),
        }),
        { abortSignal: controller.signal },
      )
      .then((response) => {
        pipeline(response.Body as Readable, out, (error) => {
          if (error) out.destroy(error);
        });
      })
      .catch((error: unknown) => out.destroy(error as Error));
    return out;
  }

  async delete(sha256: string): Promise<void> {
    // Deleting a key that is not there succeeds in S3, as `rm -f` does.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
  }

  /**
   * DeleteObjects, up to 1,000 keys a request: a bundle's 1,000 files are one round trip instead of
   * 1,000, each of which the client signs and parses on the thread that answers update checks (the
   * publish bench saw the checks' p99 at 12-24 times idle while a bundle was deleted one key at a
   * time). Keys that are not there count as deleted; the first key S3 could not delete fails it.
   */
  async deleteMany(sha256s: string[]): Promise<void> {
    for (let start = 0; start < sha256s.length; start += DELETE_BATCH) {
      const keys = sha256s.slice(start, start + DELETE_BATCH).map((sha256) => ({ Key: this.keyOf(sha256) }));
      const answer = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }),
      );
      const failed = answer.Errors?.[0];
      if (failed) {
        throw Object.assign(
          new Error(`S3 could not delete ${failed.Key}: ${failed.Code} ${failed.Message ?? ''}`),
          {
            name: failed.Code ?? 'DeleteError',
          },
        );
      }
    }
  }

  /**
   * A SigV4 presigned URL for the object: anyone holding it may fetch it until it expires, and
   * nothing else (the signature covers the key, the method, the expiry and the response overrides).
   */
  async presignedUrl(sha256: string, options: PresignOptions): Promise<string> {
    const { expiresInSeconds, fileName } = options;
    if (
      !Number.isInteger(expiresInSeconds) ||
      expiresInSeconds < 1 ||
      expiresInSeconds > MAX_PRESIGN_SECONDS
    ) {
      throw new Error(`a presigned URL lives 1 to ${MAX_PRESIGN_SECONDS} seconds, not ${expiresInSeconds}`);
    }
    if (fileName !== undefined && !FILE_NAME.test(fileName)) throw new Error(`unsafe file name: ${fileName}`);
    const input = {
      Bucket: this.bucket,
      Key: this.keyOf(sha256),
      ...(fileName && { ResponseContentDisposition: `attachment; filename="${fileName}"` }),
      ...(options.contentType && { ResponseContentType: options.contentType }),
      ...(options.cacheControl && { ResponseCacheControl: options.cacheControl }),
    };
    const command = options.method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(this.client, command, {
      expiresIn: expiresInSeconds,
      ...(options.signedAt !== undefined && { signingDate: new Date(options.signedAt) }),
    });
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** The only way a key is built here: from a validated hex digest, never from user text. */
  private keyOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return `${this.prefix}bundles/${sha256.slice(0, 2)}/${sha256}`;
  }
}

/** Keys one DeleteObjects request takes at most (S3's limit). */
const DELETE_BATCH = 1000;
