import { errors } from '../errors.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { Updateable } from 'kysely';
import type { ChannelHistoryRow, ChannelRow, ChannelsTable } from '../db/schema.js';
import { toFlag } from '../db/time.js';
import type { UnregisteredBinaryRule } from '../domain/native-layer.js';
import type { NativePolicy } from '../domain/policy.js';
import { NO_EVENTS, type EventSink } from './events.js';
import { requirementsOf, unmetRequirements } from './release-requirements.js';
import { requireApp } from './require.js';
import type { ReleaseCache } from './release-cache.js';

export interface ChannelView extends ChannelRow {
  /** Version name of the live bundle, or null. */
  version: string | null;
  /** Version being rolled out to `rollout_percent` % of the devices, or null. */
  rolloutVersion: string | null;
}

export interface ChannelChanges {
  isDefault?: boolean;
  allowSelfAssign?: boolean;
  platforms?: string[];
  allowEmulator?: boolean;
  allowDev?: boolean;
  allowProd?: boolean;
  nativePolicy?: NativePolicy;
  allowDowngrade?: boolean;
  /** A failure rate (0-1) that halts a release automatically, or null for none. */
  failureThreshold?: number | null;
  failureMinDevices?: number;
  /** Halt a rollout on evidence (domain/release-health.ts), and the devices each group needs first. */
  haltOnEvidence?: boolean;
  evidenceMinDevices?: number;
  /** Devices on a binary nobody registered: served or refused (the native compatibility gate). */
  unregisteredBinaries?: UnregisteredBinaryRule;
}

/** Column values for the changes that were given (undefined ones leave the column alone). */
function columnsOf(changes: ChannelChanges): Updateable<ChannelsTable> {
  const flag = (value: boolean | undefined) => (value === undefined ? undefined : toFlag(value));
  const columns: Updateable<ChannelsTable> = {
    is_default: flag(changes.isDefault),
    allow_self_assign: flag(changes.allowSelfAssign),
    platforms: changes.platforms?.join(','),
    allow_emulator: flag(changes.allowEmulator),
    allow_dev: flag(changes.allowDev),
    allow_prod: flag(changes.allowProd),
    native_policy: changes.nativePolicy,
    allow_downgrade: flag(changes.allowDowngrade),
    failure_threshold: changes.failureThreshold,
    failure_min_devices: changes.failureMinDevices,
    halt_on_evidence: flag(changes.haltOnEvidence),
    evidence_min_devices: changes.evidenceMinDevices,
    unregistered_binaries: changes.unregisteredBinaries,
  };
  return Object.fromEntries(Object.entries(columns).filter(([, value]) => value !== undefined));
}

export class ChannelService {
  constructor(
    private readonly repos: Repos,
    private readonly cache: ReleaseCache,
    private readonly events: EventSink = NO_EVENTS,
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
        const bundle = input.version ? await this.releasable(repos, appId, input.version) : undefined;
        const channel = await repos.channels.insert({
          ...columnsOf(input),
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
      if (isUniqueViolation(error)) throw errors.channelExists({ appId, channel: input.name });
      throw error;
    }
  }

  async update(appId: string, name: string, changes: ChannelChanges, actor: string): Promise<ChannelView> {
    await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      if (changes.isDefault === false && channel.is_default === 1) {
        throw errors.defaultChannelRequired();
      }
      await repos.channels.update(channel.id, columnsOf(changes));
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

  /** Makes a bundle live on the whole channel (a no-op when it already is); ends any rollout. */
  async setLive(
    appId: string,
    name: string,
    version: string,
    actor: string,
    reason?: string,
  ): Promise<ChannelView> {
    const changed = await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      const bundle = await this.releasable(repos, appId, version);
      if (channel.bundle_id === bundle.id && channel.rollout_bundle_id === null) return false;
      await repos.channels.update(channel.id, {
        bundle_id: bundle.id,
        rollout_bundle_id: null,
        rollout_percent: 0,
      });
      await this.logChange(repos, channel, 'set', bundle, reason ?? null, actor);
      await repos.audit.record({ actor, action: 'channel.set', appId, target: name, detail: { version } });
      return true;
    });
    this.cache.invalidate(appId);
    if (changed) this.events.emit(appId, 'channel.released', { channel: name, version, actor });
    return this.get(appId, name);
  }

  /**
   * A staged rollout: `version` goes to `percent` % of the channel's devices (each device's place is
   * fixed per release, so raising the percentage only adds devices), the live bundle to the others.
   * 100 % completes it: the bundle becomes the channel's live bundle.
   */
  async rollout(
    appId: string,
    name: string,
    version: string,
    percent: number,
    actor: string,
  ): Promise<ChannelView> {
    if (percent >= 100) return this.setLive(appId, name, version, actor, 'rollout completed');
    await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      const bundle = await this.releasable(repos, appId, version);
      if (channel.bundle_id === bundle.id) {
        throw errors.alreadyLive({ version, channel: name });
      }
      await repos.channels.update(channel.id, { rollout_bundle_id: bundle.id, rollout_percent: percent });
      await this.logChange(repos, channel, 'rollout', bundle, `${percent}% of devices`, actor);
      await repos.audit.record({
        actor,
        action: 'channel.rollout',
        appId,
        target: name,
        detail: { version, percent },
      });
    });
    this.cache.invalidate(appId);
    this.events.emit(appId, 'channel.rollout', { channel: name, version, percent, actor });
    return this.get(appId, name);
  }

  /**
   * Undoes the last release: a rollout in progress is stopped (every device gets the live bundle
   * again); otherwise the bundle that was live before the current one becomes live again.
   */
  async rollback(appId: string, name: string, actor: string, reason?: string): Promise<ChannelView> {
    const result = await this.undoRelease(appId, name, 'rollback', actor, reason ?? null);
    this.events.emit(appId, 'channel.rollback', { channel: name, ...result, actor, reason: reason ?? null });
    return this.get(appId, name);
  }

  /**
   * The automatic safety's rollback: the same as `rollback`, recorded and announced as a halt. With
   * `releasing` (the id of the bundle judged), only while the channel still releases that bundle:
   * null when an admin, or another instance's halt, changed it meanwhile.
   */
  async halt(appId: string, name: string, reason: string, releasing?: number): Promise<ChannelView | null> {
    const result = await this.undoRelease(appId, name, 'halt', 'overair', reason, releasing);
    if (!result) return null;
    this.events.emit(appId, 'release.halted', { channel: name, ...result, reason });
    return this.get(appId, name);
  }

  /**
   * Undoes the channel's current release; with `releasing`, only if that is the bundle it releases
   * (null otherwise). The undo is relative to what was read, so it is written only if the channel
   * is still as read: two undos racing (two instances) never step back twice.
   */
  private async undoRelease(
    appId: string,
    name: string,
    action: 'rollback' | 'halt',
    actor: string,
    reason: string | null,
    releasing?: number,
  ): Promise<{ from: string | null; to: string | null } | null> {
    const result = await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      if (releasing !== undefined && (channel.rollout_bundle_id ?? channel.bundle_id) !== releasing)
        return null;
      let from: { id: number; version: string } | undefined;
      let to: { id: number; version: string } | undefined;
      let undo: Updateable<ChannelsTable>;
      if (channel.rollout_bundle_id !== null) {
        from = await repos.bundles.findById(channel.rollout_bundle_id);
        to = channel.bundle_id === null ? undefined : await repos.bundles.findById(channel.bundle_id);
        undo = { rollout_bundle_id: null, rollout_percent: 0 };
      } else {
        const previousId = await repos.channels.previousLiveBundleId(channel.id, channel.bundle_id);
        to = previousId === null ? undefined : await repos.bundles.findById(previousId);
        if (!to) throw errors.nothingToRollBack({ channel: name });
        from = channel.bundle_id === null ? undefined : await repos.bundles.findById(channel.bundle_id);
        undo = { bundle_id: to.id };
      }
      if (!(await repos.channels.updateIfUnchanged(channel, undo))) {
        // Another undo of this release (another instance's) was written first.
        if (releasing !== undefined) return null;
        throw errors.channelChanged({ channel: name });
      }
      await repos.channels.addHistory({
        app_id: appId,
        channel_id: channel.id,
        channel_name: channel.name,
        action,
        bundle_id: to?.id ?? null,
        version: to?.version ?? null,
        previous_version: from?.version ?? null,
        reason,
        actor,
      });
      await repos.audit.record({
        actor,
        action: `channel.${action}`,
        appId,
        target: name,
        detail: { from: from?.version ?? null, to: to?.version ?? null, reason },
      });
      return { from: from?.version ?? null, to: to?.version ?? null };
    });
    this.cache.invalidate(appId);
    return result;
  }

  async history(appId: string, name: string, limit: number, beforeId?: number): Promise<ChannelHistoryRow[]> {
    const channel = await this.find(appId, name);
    return this.repos.channels.history(channel.id, limit, beforeId);
  }

  private async logChange(
    repos: Repos,
    channel: ChannelRow,
    action: 'set' | 'rollout',
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
    const versionOf = async (id: number | null) =>
      id === null ? null : ((await this.repos.bundles.findById(id))?.version ?? null);
    return {
      ...channel,
      version: await versionOf(channel.bundle_id),
      rolloutVersion: await versionOf(channel.rollout_bundle_id),
    };
  }

  private find(appId: string, name: string): Promise<ChannelRow> {
    return this.findIn(this.repos, appId, name);
  }

  private async findIn(repos: Repos, appId: string, name: string): Promise<ChannelRow> {
    const channel = await repos.channels.find(appId, name);
    if (channel) return channel;
    await requireApp(repos, appId);
    throw errors.channelNotFound({ appId, channel: name });
  }

  /**
   * A bundle an admin may make live or roll out: one that meets what the app requires of its bundles
   * (signature, encryption). Rollbacks and halts are not held to it: they restore what was served.
   */
  private async releasable(repos: Repos, appId: string, version: string) {
    const bundle = await repos.bundles.find(appId, version);
    if (!bundle) throw errors.bundleNotFound({ appId, version });
    const app = await repos.apps.find(appId);
    const problems = app ? unmetRequirements(requirementsOf(app), bundle) : [];
    if (problems.length > 0)
      throw errors.bundleNotCompliant({ appId, version, problems: problems.join(', ') });
    return bundle;
  }
}
