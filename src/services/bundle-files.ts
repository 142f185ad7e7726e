import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DigestPool } from '../bundle/digest-pool.js';
import { extractBundleFiles } from '../bundle/extract-files.js';
import { validateBundleZip } from '../bundle/validate-zip.js';
import { forEachLimited } from '../concurrency.js';
import type { Repos } from '../db/index.js';
import { errors, OverairError } from '../errors.js';
import type { BlobStore, StagedBlob } from '../storage/blob-store.js';
import { FsBlobStore } from '../storage/fs-store.js';
import { deleteUnusedBlobs } from './blob-deletion.js';
import type { ReleaseCache } from './release-cache.js';

export interface BundleFilesOptions {
  /** The largest file a bundle may hold (the upload limit). */
  maxBytes: number;
  /** How often bundles left preparing (by a crash, another instance, a failing store) are looked for (10 s). */
  retryMs?: number;
}

/** Blobs committed to the store at once: on S3 each is a round trip or two. */
const COMMITS_IN_FLIGHT = 8;
/**
 * A preparation's lease, renewed every third of it while the work goes on: another instance (or
 * this one restarted after a crash) takes the bundle over this long after its holder stopped. Short:
 * a holder that stalls past it only costs a second preparation of the same files (content-addressed
 * blobs; the later one finds the bundle ready), while a crash leaves deltas off for this long.
 */
const LEASE_MS = 15_000;
/** How often bundles left preparing are looked for, unless told: one indexed query. */
const RETRY_MS = 10_000;
/** Prepared files put by a worker thread (read whole into its memory); larger ones are streamed. */
const WORKER_PUT_MAX_BYTES = 16 * 1024 * 1024;
/** Bundles looked for at each retry tick. */
const BATCH = 20;

/**
 * Prepares the files of uploaded bundles for delta updates after the upload has answered, so that
 * publishing a bundle costs about what storing its zip does (issue #16). An upload checks every
 * file of the zip (it unpacks and matches its CRC-32) and records the bundle with its files
 * 'preparing'; until they are 'ready' devices get the whole zip, which is what they get from a
 * bundle without files. Here, one bundle at a time per instance:
 *   1. the zip is read back from the store and its files are unpacked, hashed and compressed in the
 *      digest pool's threads into a scratch folder beside the store's staging files;
 *   2. their rows are written, under the blob lock (db/blob-lock.ts): from then on no deletion of
 *      another bundle can take a blob they name, and a deletion already deciding has finished;
 *   3. the blobs are committed to the store (renamed into it on disk; put on S3) and made durable;
 *   4. the bundle becomes 'ready', and the release cache reloads: checks offer the manifest.
 * The state is in the database, so a preparation cut off by a crash is done again at the next start
 * or by another instance (a lease per bundle keeps two instances off the same one). A failing store
 * leaves it 'preparing' with the failure noted, tried again every `retryMs` (10 s); a zip that cannot be
 * unpacked (which the upload's check makes unlikely) marks it 'failed': it is served whole.
 */
export class BundleFilesPreparer {
  /** This instance's name in the leases. */
  private readonly holder = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly queue: number[] = [];
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    private readonly repos: Repos,
    private readonly store: BlobStore,
    private readonly digests: DigestPool,
    private readonly cache: ReleaseCache,
    private readonly log: Logger,
    private readonly options: BundleFilesOptions,
  ) {}

  /** Resumes what an earlier run left preparing, and looks again every `retryMs`. */
  start(): void {
    this.lookForWork();
    this.timer = setInterval(() => this.lookForWork(), this.options.retryMs ?? RETRY_MS);
    this.timer.unref();
  }

  /** Prepares this bundle's files soon, after those already waiting. Never throws. */
  prepareSoon(bundleId: number): void {
    if (this.closing || this.queue.includes(bundleId)) return;
    this.queue.push(bundleId);
    this.running ??= this.drain();
  }

  /** Resolves once nothing is queued or under way (tests, benchmarks). */
  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Stops taking work. A preparation under way ends when the digest pool closes (its jobs fail);
   * what it leaves is done again at the next start. Resolves once it has cleaned up.
   */
  close(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    this.queue.length = 0;
    return this.running ?? Promise.resolve();
  }

  private lookForWork(): void {
    if (this.closing) return;
    this.repos.bundles.preparingFiles(BATCH).then(
      (ids) => ids.forEach((id) => this.prepareSoon(id)),
      (error: unknown) => this.log.warn({ err: error }, 'bundle files: cannot look for bundles to prepare'),
    );
  }

  private async drain(): Promise<void> {
    try {
      for (let id = this.queue.shift(); id !== undefined && !this.closing; id = this.queue.shift()) {
        await this.prepareLeased(id);
      }
    } finally {
      this.running = null;
      // A bundle queued after the loop's last look, before this: started now, not at the next tick.
      if (this.queue.length > 0 && !this.closing) this.running = this.drain();
    }
  }

  /** Under the bundle's lease, renewed while the work lasts; skipped when another instance holds it. */
  private async prepareLeased(bundleId: number): Promise<void> {
    const lease = `bundle-files:${bundleId}`;
    const take = () =>
      this.repos.leases.take(
        lease,
        this.holder,
        new Date().toISOString(),
        new Date(Date.now() + LEASE_MS).toISOString(),
      );
    try {
      if (!(await take())) return;
    } catch (error) {
      this.log.warn({ err: error, bundleId }, 'bundle files: cannot take the lease; tried again later');
      return;
    }
    const renewal = setInterval(() => void take().catch(() => undefined), LEASE_MS / 3);
    renewal.unref();
    try {
      await this.prepare(bundleId);
    } finally {
      clearInterval(renewal);
      await this.repos.leases.drop(lease, this.holder).catch(() => undefined);
    }
  }

  /**
   * One prepared file into the store: renamed into it on disk; on S3 put from a worker thread when
   * it is small enough to hold (an S3 client's work per object, ~1,000 of them, stays off the thread
   * that answers update checks); else committed as uploads are.
   */
  private async commit(file: string, sha256: string, size: number): Promise<void> {
    const spec = this.store.spec;
    if (spec && spec.kind !== 'fs' && size <= WORKER_PUT_MAX_BYTES)
      await this.digests.storeFile(file, sha256, spec);
    else await this.store.commit({ sha256, size, file });
  }

  private async prepare(bundleId: number): Promise<void> {
    const bundle = await this.repos.bundles.findById(bundleId).catch(() => undefined);
    if (bundle?.files_state !== 'preparing') return;
    const started = performance.now();
    // One folder for every preparation of this instance (they run one at a time), emptied at the
    // start of each: what an attempt cut off by a crash left is cleared by the next one. One name,
    // so that the digest workers open one store for it (they keep each store they open).
    const scratch = path.join(this.store.tmpDir, 'bundle-files');
    let staged: StagedBlob | undefined;
    try {
      staged = await this.store.stage(this.store.read(bundle.sha256), { maxBytes: Number.MAX_SAFE_INTEGER });
      const { root } = await validateBundleZip(staged.file);
      await fs.rm(scratch, { recursive: true, force: true });
      const local = new FsBlobStore(scratch);
      await fs.mkdir(local.tmpDir, { recursive: true });
      const files = await extractBundleFiles(staged.file, root, local, this.options.maxBytes, this.digests);
      const rowsWritten = await this.repos.blobLock.run(() =>
        this.repos.transaction((repos) => repos.bundles.replaceFiles(bundleId, files)),
      );
      // Deleted (or no longer preparing) meanwhile: nothing of it is committed.
      if (!rowsWritten) return;
      const blobs = [...new Map(files.map((file) => [file.storedSha256, file.storedSize])).entries()];
      const committed = blobs.map(([sha256]) => sha256);
      await forEachLimited(blobs, COMMITS_IN_FLIGHT, ([sha256, size]) =>
        this.commit(local.pathOf(sha256), sha256, size),
      );
      await this.store.persist?.();
      // Cleared before the bundle says 'ready': whoever waits for that finds nothing under way.
      await fs.rm(scratch, { recursive: true, force: true });
      if (await this.repos.bundles.endFiles(bundleId, 'ready')) {
        this.cache.refresh(bundle.app_id);
        this.log.info(
          {
            appId: bundle.app_id,
            version: bundle.version,
            files: files.length,
            ms: Math.round(performance.now() - started),
          },
          'bundle files ready: delta updates offered',
        );
      } else {
        // Deleted while its blobs went in: those only it used go with it.
        await deleteUnusedBlobs(this.repos, this.store, committed);
      }
    } catch (error) {
      if (this.closing) return;
      const message = (error as Error)?.message ?? String(error);
      if (error instanceof OverairError && error.code === errors.invalidZip.code) {
        // The zip itself: no attempt will do better. Served whole. (Anything else, reading it back
        // from a store that went away included, is tried again.)
        await this.repos.bundles.endFiles(bundleId, 'failed', message).catch(() => undefined);
        this.log.error(
          { appId: bundle.app_id, version: bundle.version, err: error },
          'bundle files cannot be prepared: served whole',
        );
        return;
      }
      await this.repos.bundles.noteFilesError(bundleId, message).catch(() => undefined);
      this.log.warn(
        { appId: bundle.app_id, version: bundle.version, err: error },
        'bundle files: preparation failed; tried again later (served whole until then)',
      );
    } finally {
      if (staged) await this.store.discard(staged).catch(() => undefined);
      await fs.rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
