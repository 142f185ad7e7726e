import { deleteUnusedBlobs } from './blob-deletion.js';
import { checkRsaPublicKey, keyIdOf } from '../crypto/capgo.js';
import { CryptoInputError } from '../crypto/input-error.js';
import { errors } from '../errors.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { AppChanges, AppRow, BundleRow } from '../db/schema.js';
import { toFlag } from '../db/time.js';
import { requirementsOf, requiresNothing, unmetRequirements } from './release-requirements.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ReleaseCache } from './release-cache.js';

export interface CreateAppInput {
  id: string;
  name?: string;
  /** A default channel created with the app, so a first release needs no extra step; null for none. */
  defaultChannel?: string | null;
}

/** Changes to an app's settings; undefined leaves one alone, null removes a key. */
export interface AppSettingsChanges {
  name?: string;
  requireSignature?: boolean;
  requireEncryption?: boolean;
  signingPublicKey?: string | null;
  encryptionPublicKey?: string | null;
  /** Bundles kept by retention after each upload (null: all). */
  keepBundles?: number | null;
  /** Four-eyes releases: changes to protected channels without the release role become requests. */
  releaseApproval?: boolean;
}

export interface AppUpdated {
  app: AppRow;
  /** Bundles live nowhere that do not meet the requirements now in force (they cannot be made live). */
  noncompliant: { version: string; problems: string[] }[];
}

export class AppService {
  constructor(
    private readonly repos: Repos,
    private readonly store: BlobStore,
    private readonly cache: ReleaseCache,
  ) {}

  list(): Promise<AppRow[]> {
    return this.repos.apps.list();
  }

  async get(id: string): Promise<AppRow> {
    const app = await this.repos.apps.find(id);
    if (!app) throw errors.appNotFound({ appId: id });
    return app;
  }

  async create(input: CreateAppInput, actor: string): Promise<AppRow> {
    const defaultChannel = input.defaultChannel === undefined ? 'production' : input.defaultChannel;
    try {
      const app = await this.repos.transaction(async (repos) => {
        const app = await repos.apps.insert(input.id, input.name ?? input.id);
        if (defaultChannel) {
          await repos.channels.insert({
            app_id: app.id,
            name: defaultChannel,
            bundle_id: null,
            is_default: 1,
            allow_self_assign: 0,
          });
        }
        await repos.audit.record({ actor, action: 'app.create', appId: app.id, target: app.id });
        return app;
      });
      this.cache.invalidate(app.id);
      return app;
    } catch (error) {
      if (isUniqueViolation(error)) throw errors.appExists({ appId: input.id });
      throw error;
    }
  }

  /**
   * Changes an app's name, what it requires of its bundles, and how many bundles it keeps (applied
   * at the next upload or cleanup). A requirement turned on (or a key changed while it is on) must
   * already be met by every bundle live or rolling out on its channels, else nothing changes (409
   * live_bundles_not_compliant): the devices those channels serve would otherwise be sent bundles
   * the app says must not reach them. Other bundles that do not comply are listed in the answer;
   * they can no longer be made live.
   */
  async update(id: string, changes: AppSettingsChanges, actor: string): Promise<AppUpdated> {
    const app = await this.repos.transaction(async (repos) => {
      const current = await repos.apps.find(id);
      if (!current) throw errors.appNotFound({ appId: id });
      const columns: AppChanges = {};
      if (changes.name !== undefined) columns.name = changes.name;
      if (changes.requireSignature !== undefined)
        columns.require_signature = toFlag(changes.requireSignature);
      if (changes.requireEncryption !== undefined)
        columns.require_encryption = toFlag(changes.requireEncryption);
      if (changes.signingPublicKey !== undefined)
        columns.signing_public_key = publicKeyOrNull(changes.signingPublicKey, 'signing_public_key');
      if (changes.encryptionPublicKey !== undefined)
        columns.encryption_public_key = publicKeyOrNull(changes.encryptionPublicKey, 'encryption_public_key');
      if (changes.keepBundles !== undefined) columns.keep_bundles = changes.keepBundles;
      if (changes.releaseApproval !== undefined) columns.release_approval = toFlag(changes.releaseApproval);
      const next = { ...current, ...columns } as AppRow;
      if (next.require_signature === 1 && !next.signing_public_key)
        throw errors.publicKeyRequired({ setting: 'require_signature', field: 'signing_public_key' });
      if (next.require_encryption === 1 && !next.encryption_public_key)
        throw errors.publicKeyRequired({ setting: 'require_encryption', field: 'encryption_public_key' });
      const before = requirementsOf(current);
      const after = requirementsOf(next);
      const tightened =
        (after.signingKey !== null && after.signingKey !== before.signingKey) ||
        (after.encryptionKey !== null && after.encryptionKey !== before.encryptionKey);
      if (tightened) {
        const failing: string[] = [];
        for (const channel of await repos.channels.list(id)) {
          for (const [role, bundleId] of [
            ['live', channel.bundle_id],
            ['rolling out', channel.rollout_bundle_id],
          ] as const) {
            const bundle = bundleId === null ? undefined : await repos.bundles.findById(bundleId);
            const problems = bundle ? unmetRequirements(after, bundle) : [];
            if (bundle && problems.length > 0)
              failing.push(`${channel.name}: ${bundle.version} (${role}; ${problems.join(', ')})`);
          }
        }
        if (failing.length > 0) throw errors.liveBundlesNotCompliant({ appId: id, list: failing.join('; ') });
      }
      await repos.apps.update(id, columns);
      await repos.audit.record({
        actor,
        action: 'app.update',
        appId: id,
        target: id,
        detail: auditOf(columns),
      });
      return next;
    });
    this.cache.invalidate(id);
    const requirements = requirementsOf(app);
    const noncompliant = requiresNothing(requirements)
      ? []
      : (await this.repos.bundles.notLive(id))
          .map((bundle: BundleRow) => ({
            version: bundle.version,
            problems: unmetRequirements(requirements, bundle),
          }))
          .filter((entry) => entry.problems.length > 0);
    return { app, noncompliant };
  }

  /** Deletes the app with its channels, bundles and devices, then the bytes no other app shares. */
  async delete(id: string, actor: string): Promise<void> {
    const blobs = await this.repos.transaction(async (repos) => {
      const blobs = await repos.bundles.blobsOf(id);
      if (!(await repos.apps.delete(id))) throw errors.appNotFound({ appId: id });
      await repos.audit.record({ actor, action: 'app.delete', appId: id, target: id });
      return blobs;
    });
    this.cache.invalidate(id);
    await deleteUnusedBlobs(this.repos, this.store, blobs);
  }
}

function publicKeyOrNull(pem: string | null, field: string): string | null {
  if (pem === null) return null;
  try {
    return checkRsaPublicKey(pem);
  } catch (error) {
    if (error instanceof CryptoInputError) throw errors.invalidPublicKey({ field, problem: error.message });
    throw error;
  }
}

/** The audit detail of an app change: keys by their key id, not their whole PEM. */
function auditOf(columns: AppChanges): Record<string, unknown> {
  const detail: Record<string, unknown> = { ...columns };
  for (const field of ['signing_public_key', 'encryption_public_key'] as const) {
    const pem = columns[field];
    if (pem !== undefined) detail[field] = pem === null ? null : { key_id: keyIdOf(pem as string) };
  }
  return detail;
}
