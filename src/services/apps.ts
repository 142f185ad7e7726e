import { errors } from '../errors.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { AppRow } from '../db/schema.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { ReleaseCache } from './release-cache.js';

export interface CreateAppInput {
  id: string;
  name?: string;
  /** A default channel created with the app, so a first release needs no extra step; null for none. */
  defaultChannel?: string | null;
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

  /** Deletes the app with its channels, bundles and devices, then the bytes no other app shares. */
  async delete(id: string, actor: string): Promise<void> {
    const blobs = await this.repos.transaction(async (repos) => {
      const blobs = await repos.bundles.blobsOf(id);
      if (!(await repos.apps.delete(id))) throw errors.appNotFound({ appId: id });
      await repos.audit.record({ actor, action: 'app.delete', appId: id, target: id });
      return blobs;
    });
    this.cache.invalidate(id);
    for (const sha of await this.repos.bundles.unreferencedBlobs(blobs)) await this.store.delete(sha);
  }
}
