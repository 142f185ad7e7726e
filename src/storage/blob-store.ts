import type { Readable } from 'node:stream';
import type { S3Connection } from './s3-client.js';

/** Bytes received and hashed into a local temporary file, not yet visible to anyone. */
export interface StagedBlob {
  sha256: string;
  size: number;
  /** Local path of the temporary file, so the bundle can be validated before it is committed. */
  file: string;
}

export interface StageOptions {
  maxBytes: number;
  /** When given, the upload fails unless the received bytes hash to it. */
  expectedSha256?: string;
  /** Accept zero bytes (a bundle's empty file); an empty upload is otherwise refused. */
  allowEmpty?: boolean;
}

export interface ByteRange {
  start: number;
  /** Inclusive, as in HTTP. */
  end: number;
}

/**
 * Content-addressed bundle storage: bytes are written once under their sha256. An upload is staged
 * first (streamed to a temporary file and hashed), then committed or discarded, so a failed or
 * interrupted upload never leaves a blob behind.
 */
export interface BlobStore {
  stage(source: Readable, options: StageOptions): Promise<StagedBlob>;
  commit(staged: StagedBlob): Promise<void>;
  discard(staged: StagedBlob): Promise<void>;
  /**
   * Stores bytes held in memory (a bundle's small files) under `sha256`, which the caller computed
   * from them: no staging file, no second hashing. As with `commit`, bytes already stored are not
   * uploaded again but count as committed again; a failure leaves no blob and no temporary file.
   */
  put(sha256: string, bytes: Uint8Array): Promise<void>;
  /** Size of a stored blob, or null when there is none. */
  size(sha256: string): Promise<number | null>;
  read(sha256: string, range?: ByteRange): Readable;
  delete(sha256: string): Promise<void>;
  /** Deletes several blobs, in fewer requests than one each; those not there count as deleted. */
  deleteMany?(sha256s: string[]): Promise<void>;
  /**
   * Every stored blob with when it was last committed, in no particular order, for the orphan
   * sweep. Committing bytes that are already there counts as committing them again (a blob an
   * upload in progress is about to use is young, whatever its first upload's age).
   */
  list(): AsyncIterable<ListedBlob>;
  /**
   * A URL that serves the blob itself for a while, so downloads can be redirected there instead of
   * passing through this server (S3's presigned URLs). Stores that cannot make one leave it out.
   */
  presignedUrl?(sha256: string, options: PresignOptions): Promise<string>;
  /**
   * Makes blobs committed or put durable (a power cut cannot lose them), before a row that names
   * them is written: those of `sha256s` when given (an upload's zip), else every one so far (a
   * bundle's files). Stores whose writes are durable when they return (S3) leave it out.
   */
  persist?(sha256s?: string[]): Promise<void>;
  /** Throws unless the store can be reached and used now (readiness checks, start-up). */
  ping?(): Promise<void>;
  /** Releases connections and timers when the server stops. */
  close?(): Promise<void>;
  /**
   * How to open this same store in another thread (openStoreFromSpec), so that a bundle's files can
   * be stored by the worker thread that unpacks them; a store that cannot be opened again from plain
   * data has none.
   */
  readonly spec?: BlobStoreSpec;
  /**
   * The local folder this store stages into: scratch space on this machine for work on blobs
   * before they are committed (a bundle's files: services/bundle-files.ts). Cleared at start-up.
   */
  readonly tmpDir: string;
}

/** A blob store as plain data, to open it again in a worker thread (openStoreFromSpec). */
export type BlobStoreSpec =
  | { kind: 'fs'; root: string }
  | {
      kind: 's3';
      connection: S3Connection;
      bucket: string;
      prefix?: string;
      tmpDir: string;
      refreshAfterMs?: number;
    };

export interface ListedBlob {
  sha256: string;
  size: number;
  /** When it was last committed, in ms since the epoch (to the second on S3). */
  modifiedAt: number;
}

export interface PresignOptions {
  /** 1 s to 7 days (the SigV4 limit), counted from `signedAt`. */
  expiresInSeconds: number;
  /**
   * When the URL is signed (ms since the epoch; now unless given, never in the future). Signing at
   * the start of a time step gives the same URL to every request of that step, so caches can hit.
   */
  signedAt?: number;
  /** GET (default), or HEAD for a HEAD request that follows a redirect. */
  method?: 'GET' | 'HEAD';
  /** Served as `Content-Disposition: attachment; filename="..."` (safe characters only). */
  fileName?: string;
  /** Served as the Content-Type. */
  contentType?: string;
  /** Served as the Cache-Control (the store's own is kept otherwise). */
  cacheControl?: string;
}
