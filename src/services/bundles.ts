import { deleteUnusedBlobs } from './blob-deletion.js';
import type { Readable } from 'node:stream';
import type { DigestPool } from '../bundle/digest-pool.js';
import { checkBundleFiles } from '../bundle/extract-files.js';
import { validateBundleZip } from '../bundle/validate-zip.js';
import { canonicalNativeLayer, type NativeLayer } from '../domain/native-layer.js';
import { errors } from '../errors.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { AppRow, BundleFileRow, BundleRow, NewBundle } from '../db/schema.js';
import { now } from '../db/time.js';
import type { BlobStore, StagedBlob } from '../storage/blob-store.js';
import { keyIdOf } from '../crypto/capgo.js';
import { BUNDLE_EDITED } from '../domain/safety.js';
import { planRetention, type ChannelNeeds, type RetentionRule } from '../domain/retention.js';
import type { CleanupJson, UploadRetentionJson } from '../api-types.js';
import { NO_EVENTS, type EventSink } from './events.js';
import {
  requirementsOf,
  unmetEncryption,
  unmetSignature,
  type ReleaseRequirements,
} from './release-requirements.js';
import { requireApp } from './require.js';
import type { BundleFilesPreparer } from './bundle-files.js';
import { nativeLayerColumns } from './native-gate.js';
import type { ReleaseCache } from './release-cache.js';
import { guardProtected, type ReleaseCaller } from './release-permission.js';

/** What describes a bundle besides its bytes; the same for uploads and external URLs. */
interface BundleMeta {
  version: string;
  /** Encrypted bundles (Capgo `bundle encrypt`): the ivSessionKey and the encrypted checksum. */
  sessionKey?: string;
  checksum?: string;
  keyId?: string;
  minNativeVersion?: string;
  notes?: string;
  /** RSA-SHA256 signature (base64) of the bundle's bytes, made by the publisher. */
  signature?: string;
  /** The native layer it was built against (absent: unknown, served to every binary). */
  nativeLayer?: NativeLayer;
}

export interface UploadInput extends BundleMeta {
  /** sha256 the client computed; the upload fails unless the bytes match it. */
  sha256?: string;
}

export interface ExternalInput extends BundleMeta {
  url: string;
  sha256: string;
  size?: number;
}

/**
 * What may be corrected in a bundle after its upload (PATCH /apps/APP/bundles/V): never the bytes, nor
 * what describes them. undefined leaves a field alone, null clears it. A new field needs its line
 * here, in EDITABLE below (or, when it is stored as several columns, like the native layer, its own
 * step in `update`) and in `bundleEdits` (src/http/admin-schemas.ts).
 */
export interface BundleEdits {
  notes?: string | null;
  minNativeVersion?: string | null;
  /** The native layer it was built against; null: unknown (the gate serves it to every binary). */
  nativeLayer?: NativeLayer | null;
}

/** Each editable field: its column, and how the channel history names it. */
const EDITABLE = [
  { field: 'notes', column: 'notes', label: 'notes', quoted: false },
  { field: 'minNativeVersion', column: 'min_native_version', label: 'minimum native version', quoted: true },
] as const satisfies readonly {
  field: keyof BundleEdits;
  column: keyof BundleRow;
  label: string;
  /** Whether the history shows the old and new values (short ones), or only that it changed. */
  quoted: boolean;
}[];

/** A retention cleanup's limits; absent ones come from the app's keep_bundles (keep) or are not applied. */
export interface CleanupRequest {
  keep?: number;
  olderThanDays?: number;
  dryRun?: boolean;
}

export class BundleService {
  /** Blob deletions of automatic retention still running (in the background of an upload's answer). */
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly repos: Repos,
    private readonly store: BlobStore,
    private readonly cache: ReleaseCache,
    readonly maxUploadBytes: number,
    /** Checks the files of uploaded bundles off the main thread. */
    private readonly digests: DigestPool,
    /** Prepares the files of uploaded bundles for delta updates, after the upload has answered. */
    private readonly preparer: Pick<BundleFilesPreparer, 'prepareSoon'>,
    private readonly events: EventSink = NO_EVENTS,
  ) {}

  async get(appId: string, version: string): Promise<BundleRow> {
    const bundle = await this.repos.bundles.find(appId, version);
    if (!bundle) throw errors.bundleNotFound({ appId, version });
    return bundle;
  }

  /** A bundle's files for delta updates: none for encrypted or external bundles, nor until they are ready. */
  async files(bundle: BundleRow): Promise<BundleFileRow[]> {
    if (bundle.files_state !== 'ready') return [];
    return this.repos.bundles.filesOf([bundle.id]);
  }

  async list(appId: string, limit: number, beforeId?: number): Promise<BundleRow[]> {
    await requireApp(this.repos, appId);
    return this.repos.bundles.page(appId, limit, beforeId);
  }

  /**
   * Streams an upload into storage: staged and hashed in a temporary file, checked (checksum, and
   * for plain bundles the zip itself, every file unpacked against its CRC-32), and only then
   * committed, made durable and recorded. Any failure on the way leaves neither bytes nor a row
   * behind. A plain bundle's files for delta updates are prepared after the answer
   * (bundle-files.ts): it is recorded with its files 'preparing', and served whole until they are.
   */
  async upload(appId: string, body: Readable, input: UploadInput, actor: string): Promise<BundleRow> {
    const app = await this.findApp(appId);
    await this.requireNewVersion(appId, input.version);
    const encrypted = requireEncryptionPair(input);
    // Everything that can be refused without the bytes is, before a byte is read.
    const requirements = requirementsOf(app);
    checkBeforeBytes(app, requirements, input);
    const staged = await this.store.stage(body, {
      maxBytes: this.maxUploadBytes,
      expectedSha256: input.sha256,
    });
    try {
      checkSignature(app, requirements, staged.sha256, input);
      // Encrypted bytes are ciphertext: the zip inside can only be checked with the app's key, and
      // its files cannot be served one by one (their hashes would have to be sealed by that key).
      if (!encrypted) {
        await checkBundleFiles(staged.file, await validateBundleZip(staged.file), this.digests);
      }
      await this.store.commit(staged);
      // The zip on the disk before the row that names it (a 2xx is durable).
      await this.store.persist?.([staged.sha256]);
    } catch (error) {
      await this.store.discard(staged);
      throw error;
    }
    const bundle = await this.record(
      {
        ...rowFromMeta(appId, input, actor),
        sha256: staged.sha256,
        size: staged.size,
        location: 'blob',
        external_url: null,
        checksum: encrypted ? input.checksum! : staged.sha256,
        files_state: encrypted ? 'none' : 'preparing',
      },
      staged,
    );
    if (bundle.files_state === 'preparing') this.preparer.prepareSoon(bundle.id);
    return bundle;
  }

  /** Registers a bundle hosted elsewhere; devices download it from that URL. */
  async registerExternal(appId: string, input: ExternalInput, actor: string): Promise<BundleRow> {
    const app = await this.findApp(appId);
    await this.requireNewVersion(appId, input.version);
    const encrypted = requireEncryptionPair(input);
    const requirements = requirementsOf(app);
    checkBeforeBytes(app, requirements, input);
    // The signature covers the bytes at the URL, whose sha256 is declared: checked from the digest.
    checkSignature(app, requirements, input.sha256, input);
    return this.record({
      ...rowFromMeta(appId, input, actor),
      sha256: input.sha256,
      size: input.size ?? null,
      location: 'external',
      external_url: input.url,
      checksum: encrypted ? input.checksum! : input.sha256,
      files_state: 'none',
    });
  }

  /**
   * Corrects what describes a bundle (notes, minimum native version, native layer), never its bytes.
   * The native layer's fingerprint is recomputed as on upload; the gate's verdicts are kept per
   * fingerprint, so a changed layer is judged afresh at the next check. Recorded in
   * the audit log, and as a `bundle_edited` note in the history of every channel that serves it
   * (live or rolling out); the release cache is invalidated so update checks answer with the change
   * at once. Giving the values it already has changes nothing and records nothing. Changing which
   * devices may get it (minimum native version, native layer) while a protected channel serves it
   * needs the release role (services/release-permission.ts); its notes do not.
   */
  async update(
    appId: string,
    version: string,
    edits: BundleEdits,
    actor: string,
    caller?: ReleaseCaller,
  ): Promise<BundleRow> {
    const updated = await this.repos.transaction(async (repos) => {
      const bundle = await repos.bundles.find(appId, version);
      if (!bundle) {
        await requireApp(repos, appId);
        throw errors.bundleNotFound({ appId, version });
      }
      const columns: Partial<
        Record<(typeof EDITABLE)[number]['column'] | 'native_layer' | 'native_fingerprint', string | null>
      > = {};
      const changed: Record<string, { from: string | null; to: string | null }> = {};
      const notes: string[] = [];
      for (const { field, column, label, quoted } of EDITABLE) {
        const value = edits[field];
        if (value === undefined || value === bundle[column]) continue;
        columns[column] = value;
        changed[column] = { from: bundle[column], to: value };
        notes.push(quoted ? `${label} ${bundle[column] ?? 'none'} → ${value ?? 'none'}` : `${label} changed`);
      }
      if (edits.nativeLayer !== undefined) {
        // Stored as its canonical text and that text's sha256, exactly as an upload stores it.
        const layer = nativeLayerColumns(
          edits.nativeLayer === null ? undefined : canonicalNativeLayer(edits.nativeLayer),
        );
        if (layer.native_fingerprint !== bundle.native_fingerprint) {
          Object.assign(columns, layer);
          changed.native_fingerprint = { from: bundle.native_fingerprint, to: layer.native_fingerprint };
          notes.push(
            `native layer ${shortFingerprint(bundle.native_fingerprint)} → ${shortFingerprint(layer.native_fingerprint)}`,
          );
        }
      }
      if (notes.length === 0) return bundle;
      const serving = await repos.channels.serving(bundle.id);
      if ('min_native_version' in columns || 'native_fingerprint' in columns)
        for (const channel of serving) guardProtected(caller, channel, 'editServed');
      await repos.bundles.update(bundle.id, columns);
      for (const channel of serving) {
        await repos.channels.addHistory({
          app_id: appId,
          channel_id: channel.id,
          channel_name: channel.name,
          action: BUNDLE_EDITED,
          bundle_id: bundle.id,
          version: bundle.version,
          previous_version: null,
          reason: notes.join('; '),
          actor,
        });
      }
      await repos.audit.record({ actor, action: 'bundle.update', appId, target: version, detail: changed });
      return { ...bundle, ...columns };
    });
    this.cache.invalidate(appId);
    return updated;
  }

  /**
   * Deletes a bundle. Every channel it is live on falls back to the bundle that was live there
   * before it (or to none), and the channel history says so. Refused (403) to a `caller` without the
   * release role when it is live on a protected channel (services/release-permission.ts says why).
   */
  async delete(
    appId: string,
    version: string,
    actor: string,
    caller?: ReleaseCaller,
  ): Promise<{ fallbacks: Record<string, string | null> }> {
    const { blobs, fallbacks } = await this.repos.transaction(async (repos) => {
      const bundle = await repos.bundles.find(appId, version);
      if (!bundle) throw errors.bundleNotFound({ appId, version });
      const blobs = await repos.bundles.blobsOf(appId, bundle.id);
      const fallbacks: Record<string, string | null> = {};
      const liveOn = await repos.channels.liveOn(bundle.id);
      for (const channel of liveOn) guardProtected(caller, channel, 'deleteLive');
      for (const channel of liveOn) {
        const previousId = await repos.channels.previousLiveBundleId(channel.id, bundle.id);
        const previous = previousId === null ? undefined : await repos.bundles.findById(previousId);
        await repos.channels.update(channel.id, { bundle_id: previous?.id ?? null });
        await repos.channels.addHistory({
          app_id: appId,
          channel_id: channel.id,
          channel_name: channel.name,
          action: 'bundle_deleted',
          bundle_id: previous?.id ?? null,
          version: previous?.version ?? null,
          previous_version: bundle.version,
          reason: `bundle ${bundle.version} was deleted`,
          actor,
        });
        fallbacks[channel.name] = previous?.version ?? null;
      }
      await repos.bundles.delete(bundle.id);
      await repos.audit.record({
        actor,
        action: 'bundle.delete',
        appId,
        target: version,
        detail: { fallbacks },
      });
      return { blobs, fallbacks };
    });
    this.cache.invalidate(appId);
    await this.deleteBlobsIfUnused(blobs);
    return { fallbacks };
  }

  /**
   * Deletes old bundles: beyond the `keep` newest (by default the app's keep_bundles) and older than
   * `olderThanDays` (when given), except those a channel can still need (live, rolling out, or its
   * rollback target: domain/retention.ts). Each bundle's row goes with its files' rows in one
   * transaction, with its audit entry (`bundle.cleanup`); its blobs (zip, delta files) go after the
   * transaction, when no other bundle, file or native build shares them. A blob that cannot be deleted
   * now (storage down) is left to the orphan blob sweep: the rows are already consistent. Batches of
   * a few bundles at a time, each decided afresh under the app's lock, so a cut-off cleanup leaves
   * whole bundles, and the next one finishes. `dryRun`: only what it would delete.
   */
  async cleanup(
    appId: string,
    request: CleanupRequest,
    actor: string,
    how: { trigger?: string; blobsInBackground?: boolean } = {},
  ): Promise<CleanupJson> {
    const app = await this.findApp(appId);
    const keep = request.keep ?? app.keep_bundles ?? undefined;
    if (keep === undefined && request.olderThanDays === undefined) {
      throw errors.invalidRequest({
        problem: "nothing to clean up: give keep or older_than_days, or set the app's keep_bundles",
      });
    }
    const rule: RetentionRule = {
      keep,
      olderThan:
        request.olderThanDays === undefined
          ? undefined
          : new Date(Date.now() - request.olderThanDays * 86_400_000).toISOString(),
    };
    const report: CleanupJson = {
      app_id: appId,
      keep: keep ?? null,
      older_than_days: request.olderThanDays ?? null,
      dry_run: request.dryRun === true,
      deleted: [],
      kept: [],
      blobs_deleted: 0,
      blob_error: null,
    };
    const describe = (bundle: { version: string; created_at: string; size: number | null }) => ({
      version: bundle.version,
      created_at: bundle.created_at,
      size: bundle.size === null ? null : Number(bundle.size),
    });
    if (request.dryRun) {
      const plan = await retentionPlan(this.repos, appId, rule);
      report.deleted = plan.remove.map(describe);
      report.kept = plan.needed.map(({ bundle, reasons }) => ({ version: bundle.version, reasons }));
      return report;
    }
    const blobDeletions: Promise<void>[] = [];
    try {
      for (;;) {
        const batch = await this.repos.transaction(async (repos) => {
          await repos.apps.lockReleases(appId);
          const plan = await retentionPlan(repos, appId, rule);
          const gone: typeof plan.remove = [];
          const blobs: string[] = [];
          for (const bundle of plan.remove.slice(0, CLEANUP_BATCH)) {
            const used = await repos.bundles.blobsOf(appId, bundle.id);
            if (!(await repos.bundles.deleteUnlessServed(bundle.id))) continue;
            gone.push(bundle);
            blobs.push(...used);
            await repos.audit.record({
              actor,
              action: 'bundle.cleanup',
              appId,
              target: bundle.version,
              detail: {
                sha256: bundle.sha256,
                keep: report.keep,
                older_than_days: report.older_than_days,
                ...(how.trigger && { trigger: how.trigger }),
              },
            });
          }
          return { gone, blobs, needed: plan.needed, more: plan.remove.length > CLEANUP_BATCH };
        });
        report.deleted.push(...batch.gone.map(describe));
        report.kept = batch.needed.map(({ bundle, reasons }) => ({ version: bundle.version, reasons }));
        // Only once the rows are gone, and never failing the cleanup: the sweep finishes what fails.
        blobDeletions.push(
          this.deleteBlobsIfUnused(batch.blobs).then(
            (deleted) => void (report.blobs_deleted += deleted),
            (error: unknown) =>
              void (report.blob_error ??= `${(error as Error).message ?? String(error)}; the orphan blob sweep deletes what is left`),
          ),
        );
        if (!batch.more || batch.gone.length === 0) break;
      }
    } finally {
      if (report.deleted.length > 0) this.cache.invalidate(appId);
    }
    const blobsDone = Promise.all(blobDeletions).then(() => undefined);
    if (how.blobsInBackground) {
      this.background.add(blobsDone);
      void blobsDone.finally(() => this.background.delete(blobsDone));
    } else {
      await blobsDone;
    }
    return report;
  }

  /**
   * The app's keep_bundles applied after an upload (or registration) of `version`: null when the app
   * keeps every bundle. Never throws: the upload succeeded whatever happens here, and a failed
   * retention is caught up by the next upload or cleanup (it is decided from what is stored, not
   * from a queue). The unshared blobs are deleted in the background of the answer.
   */
  async retainAfterUpload(
    appId: string,
    version: string,
    actor: string,
  ): Promise<UploadRetentionJson | null> {
    let keep: number | null = null;
    try {
      keep = (await this.repos.apps.find(appId))?.keep_bundles ?? null;
      if (keep === null) return null;
      const report = await this.cleanup(appId, { keep }, actor, {
        trigger: `upload of ${version}`,
        blobsInBackground: true,
      });
      return { keep, deleted: report.deleted.map((bundle) => bundle.version), error: null };
    } catch (error) {
      return { keep: keep ?? 0, deleted: [], error: (error as Error).message ?? String(error) };
    }
  }

  /** Waits for the blob deletions running in the background (the server's shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.background]);
  }

  private async record(row: NewBundle, staged?: StagedBlob): Promise<BundleRow> {
    let bundle: BundleRow;
    try {
      bundle = await this.repos.transaction(async (repos) => {
        const bundle = await repos.bundles.insert(row);
        await repos.audit.record({
          actor: row.created_by ?? 'unknown',
          action: row.location === 'blob' ? 'bundle.upload' : 'bundle.register',
          appId: row.app_id,
          target: row.version,
          detail: { sha256: row.sha256, size: row.size, native_fingerprint: row.native_fingerprint ?? null },
        });
        return bundle;
      });
    } catch (error) {
      // Lost a race with a concurrent upload of the same version (or the app went away).
      if (staged) await this.deleteBlobsIfUnused([staged.sha256]);
      if (isUniqueViolation(error)) throw versionExists(row.app_id, row.version);
      throw error;
    }
    this.events.emit(bundle.app_id, 'bundle.uploaded', {
      version: bundle.version,
      sha256: bundle.sha256,
      size: bundle.size === null ? null : Number(bundle.size),
      location: bundle.location,
      actor: bundle.created_by,
    });
    return bundle;
  }

  /**
   * A few deletes at a time (on S3 each is a round trip); throws the first failure once all have
   * ended. Answers how many blobs it deleted.
   */
  private deleteBlobsIfUnused(sha256s: string[]): Promise<number> {
    return deleteUnusedBlobs(this.repos, this.store, sha256s);
  }

  private async findApp(appId: string): Promise<AppRow> {
    const app = await this.repos.apps.find(appId);
    if (!app) throw errors.appNotFound({ appId });
    return app;
  }

  /** Checked before any byte is read, so a duplicate fails fast instead of after a long upload. */
  private async requireNewVersion(appId: string, version: string): Promise<void> {
    if (await this.repos.bundles.find(appId, version)) throw versionExists(appId, version);
  }
}

/** Bundles deleted per transaction by a cleanup (each with its files' rows): short transactions. */
const CLEANUP_BATCH = 20;

/** What retention would delete now, from the app's bundles and what each channel can still need. */
async function retentionPlan(repos: Repos, appId: string, rule: RetentionRule) {
  const needs: ChannelNeeds[] = [];
  for (const channel of await repos.channels.list(appId)) {
    needs.push({
      channel: channel.name,
      live: channel.bundle_id,
      rollout: channel.rollout_bundle_id,
      // What a rollback (or the automatic halt) of the live bundle makes live again.
      rollbackTarget: await repos.channels.previousLiveBundleId(channel.id, channel.bundle_id),
    });
  }
  return planRetention(await repos.bundles.forRetention(appId), rule, needs);
}

/** A fingerprint as the channel history shows it: its first 12 digits, or "unknown". */
const shortFingerprint = (fingerprint: string | null) =>
  fingerprint === null ? 'unknown' : fingerprint.slice(0, 12);

const versionExists = (appId: string, version: string) =>
  errors.versionExists({ appId, what: 'a bundle', version });

/**
 * The app's requirements that can be checked without the bytes: a signature is there when required,
 * and the bundle is encrypted for the app's public key (key id, and session key and checksum that
 * open with it) when encryption is required.
 */
function checkBeforeBytes(app: AppRow, requirements: ReleaseRequirements, meta: BundleMeta): void {
  if (requirements.signingKey !== null && !meta.signature) throw errors.signatureRequired({ appId: app.id });
  const unmet = unmetEncryption(requirements, {
    session_key: meta.sessionKey ?? null,
    checksum: meta.checksum ?? '',
    key_id: meta.keyId ?? null,
  });
  if (unmet?.problem === 'missing') throw errors.encryptionRequired({ appId: app.id });
  if (unmet?.problem === 'wrong_key') {
    throw errors.encryptionKeyMismatch({
      appId: app.id,
      keyId: keyIdOf(requirements.encryptionKey!),
      problem: unmet.detail,
    });
  }
}

/** When signatures are required: the signature verifies with the app's signing key over these bytes. */
function checkSignature(
  app: AppRow,
  requirements: ReleaseRequirements,
  sha256: string,
  meta: BundleMeta,
): void {
  if (unmetSignature(requirements, { sha256, signature: meta.signature ?? null }) !== null) {
    throw errors.invalidSignature({ appId: app.id, keyId: keyIdOf(requirements.signingKey!) });
  }
}

/** An encrypted bundle needs both halves of `bundle encrypt`'s output; returns whether it is encrypted. */
function requireEncryptionPair(meta: BundleMeta): boolean {
  if (!meta.sessionKey && !meta.checksum) return false;
  if (!meta.sessionKey || !meta.checksum) {
    throw errors.incompleteEncryption();
  }
  return true;
}

function rowFromMeta(appId: string, meta: BundleMeta, actor: string) {
  return {
    app_id: appId,
    version: meta.version,
    session_key: meta.sessionKey ?? null,
    key_id: meta.keyId ?? null,
    min_native_version: meta.minNativeVersion ?? null,
    notes: meta.notes ?? null,
    signature: meta.signature ?? null,
    ...nativeLayerColumns(meta.nativeLayer && canonicalNativeLayer(meta.nativeLayer)),
    created_at: now(),
    created_by: actor,
  };
}
