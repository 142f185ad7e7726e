import { conflict, notFound } from '../errors.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { ChannelHistoryRow, ChannelRow } from '../db/schema.js';
import { toFlag } from '../db/time.js';
import { requireApp } from './require.js';
import type { ReleaseCache } from './release-cache.js';

export interface ChannelView extends ChannelRow {
  /** Version name of the live bundle, or null. */
  version: string | null;
}

export interface ChannelChanges {
  isDefault?: boolean;
  allowSelfAssign?: boolean;
}

export class ChannelService {
  constructor(
    private readonly repos: Repos,
    private readonly cache: ReleaseCache,
  ) {}

  async list(appId: string): Promise<ChannelView[]> {
    await requireApp(this.repos, appId);
    const channels = await this.repos.channels.list(appId);
    return Promise.all(channels.map((channel) => this.view(channel)));
  }

  async get(appId: string, name: string): Promise<ChannelView> {
    return this.view(await this.find(appId, name));
  }

  async create(
    appId: string,
    input: { name: string; version?: string } & ChannelChanges,
    actor: string,
  ): Promise<ChannelView> {
    await requireApp(this.repos, appId);
    try {
      const channel = await this.repos.transaction(async (repos) => {
        const existing = await repos.channels.list(appId);
        // The first channel of an app is its default unless told otherwise.
        const isDefault = input.isDefault ?? !existing.some((channel) => channel.is_default === 1);
        const bundle = input.version ? await this.bundleOf(repos, appId, input.version) : undefined;
        const channel = await repos.channels.insert({
          app_id: appId,
          name: input.name,
          bundle_id: bundle?.id ?? null,
          is_default: toFlag(isDefault),
          allow_self_assign: toFlag(input.allowSelfAssign ?? false),
        });
        if (isDefault) await repos.channels.clearDefault(appId, channel.id);
        if (bundle) await this.logChange(repos, channel, 'set', bundle, null, actor);
        await repos.audit.record({
          actor,
          action: 'channel.create',
          appId,
          target: input.name,
          detail: { ...input },
        });
        return channel;
      });
      this.cache.invalidate(appId);
      return this.view(channel);
    } catch (error) {
      if (isUniqueViolation(error))
        throw conflict('channel_exists', `App "${appId}" already has a channel "${input.name}"`);
      throw error;
    }
  }

  async update(appId: string, name: string, changes: ChannelChanges, actor: string): Promise<ChannelView> {
    await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      if (changes.isDefault === false && channel.is_default === 1) {
        throw conflict(
          'default_channel_required',
          'Make another channel the default instead of unsetting this one',
        );
      }
      await repos.channels.update(channel.id, {
        ...(changes.isDefault !== undefined && { is_default: toFlag(changes.isDefault) }),
        ...(changes.allowSelfAssign !== undefined && { allow_self_assign: toFlag(changes.allowSelfAssign) }),
      });
      if (changes.isDefault) await repos.channels.clearDefault(appId, channel.id);
      await repos.audit.record({
        actor,
        action: 'channel.update',
        appId,
        target: name,
        detail: { ...changes },
      });
    });
    this.cache.invalidate(appId);
    return this.get(appId, name);
  }

  async delete(appId: string, name: string, actor: string): Promise<void> {
    await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      await repos.channels.delete(channel.id);
      await repos.devices.forgetChannel(appId, name);
      await repos.audit.record({ actor, action: 'channel.delete', appId, target: name });
    });
    this.cache.invalidate(appId);
  }

  /** Makes a bundle live on the channel (a no-op when it already is). */
  async setLive(appId: string, name: string, version: string, actor: string): Promise<ChannelView> {
    await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      const bundle = await this.bundleOf(repos, appId, version);
      if (channel.bundle_id === bundle.id) return;
      await repos.channels.update(channel.id, { bundle_id: bundle.id });
      await this.logChange(repos, channel, 'set', bundle, null, actor);
      await repos.audit.record({ actor, action: 'channel.set', appId, target: name, detail: { version } });
    });
    this.cache.invalidate(appId);
    return this.get(appId, name);
  }

  /** Makes the bundle that was live before the current one live again. */
  async rollback(appId: string, name: string, actor: string, reason?: string): Promise<ChannelView> {
    await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      const previousId = await repos.channels.previousLiveBundleId(channel.id, channel.bundle_id);
      const previous = previousId === null ? undefined : await repos.bundles.findById(previousId);
      if (!previous)
        throw conflict('nothing_to_roll_back', `Channel "${name}" has no earlier bundle to roll back to`);
      await repos.channels.update(channel.id, { bundle_id: previous.id });
      await this.logChange(repos, channel, 'rollback', previous, reason ?? null, actor);
      await repos.audit.record({
        actor,
        action: 'channel.rollback',
        appId,
        target: name,
        detail: { to: previous.version },
      });
    });
    this.cache.invalidate(appId);
    return this.get(appId, name);
  }

  async history(appId: string, name: string, limit: number, beforeId?: number): Promise<ChannelHistoryRow[]> {
    const channel = await this.find(appId, name);
    return this.repos.channels.history(channel.id, limit, beforeId);
  }

  private async logChange(
    repos: Repos,
    channel: ChannelRow,
    action: 'set' | 'rollback',
    bundle: { id: number; version: string },
    reason: string | null,
    actor: string,
  ): Promise<void> {
    const previous = channel.bundle_id === null ? undefined : await repos.bundles.findById(channel.bundle_id);
    await repos.channels.addHistory({
      app_id: channel.app_id,
      channel_id: channel.id,
      channel_name: channel.name,
      action,
      bundle_id: bundle.id,
      version: bundle.version,
      previous_version: previous?.version ?? null,
      reason,
      actor,
    });
  }

  private async view(channel: ChannelRow): Promise<ChannelView> {
    const bundle =
      channel.bundle_id === null ? undefined : await this.repos.bundles.findById(channel.bundle_id);
    return { ...channel, version: bundle?.version ?? null };
  }

  private find(appId: string, name: string): Promise<ChannelRow> {
    return this.findIn(this.repos, appId, name);
  }

  private async findIn(repos: Repos, appId: string, name: string): Promise<ChannelRow> {
    const channel = await repos.channels.find(appId, name);
    if (channel) return channel;
    await requireApp(repos, appId);
    throw notFound('channel_not_found', `App "${appId}" has no channel "${name}"`);
  }

  private async bundleOf(repos: Repos, appId: string, version: string) {
    const bundle = await repos.bundles.find(appId, version);
    if (!bundle) throw notFound('bundle_not_found', `App "${appId}" has no bundle "${version}"`);
    return bundle;
  }
}
