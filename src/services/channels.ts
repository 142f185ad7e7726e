import { errors } from '../errors.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import type { Updateable } from 'kysely';
import type { ScheduleEnd } from '../db/rollout-schedules.js';
import type { ChannelHistoryRow, ChannelRow, ChannelsTable, RolloutScheduleRow } from '../db/schema.js';
import { now, toFlag } from '../db/time.js';
import { formatRolloutSteps, type RolloutStep } from '../domain/rollout-schedule.js';
import { SCHEDULE_CANCELLED } from '../domain/safety.js';
import type { UnregisteredBinaryRule } from '../domain/native-layer.js';
import type { NativePolicy } from '../domain/policy.js';
import { NO_EVENTS, type EventSink } from './events.js';
import { requirementsOf, unmetRequirements } from './release-requirements.js';
import { requireApp } from './require.js';
import type { ReleaseCache } from './release-cache.js';
import {
  guardProtected,
  mayChangeProtected,
  protectedRefusal,
  type ReleaseCaller,
} from './release-permission.js';
import type { Metrics } from '../metrics/registry.js';

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
  /** Changing what the channel serves needs the release role (services/release-permission.ts). */
  protected?: boolean;
}

/** A change of what a channel serves: the kind a protected channel keeps for the release role. */
export type ReleaseChange =
  { action: 'set'; version: string } | { action: 'rollout'; version: string; percent: number };

/** The webhook event of an applied change, sent once its transaction is committed. */
export interface ReleaseAnnouncement {
  event: 'channel.released' | 'channel.rollout';
  data: Record<string, unknown>;
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
    protected: flag(changes.protected),
  };
  return Object.fromEntries(Object.entries(columns).filter(([, value]) => value !== undefined));
}

/** The `rollout.advanced` event of a schedule's step (the one it is at). */
function advancedEvent(schedule: RolloutScheduleRow, steps: readonly RolloutStep[], actor: string) {
  const step = steps[schedule.current_step]!;
  return {
    channel: schedule.channel_name,
    version: schedule.version,
    step: schedule.current_step + 1,
    steps: steps.length,
    percent: step.percent,
    completed: schedule.state === 'completed',
    actor,
  };
}

export class ChannelService {
  constructor(
    private readonly repos: Repos,
    private readonly cache: ReleaseCache,
    private readonly events: EventSink = NO_EVENTS,
    private readonly metrics?: Metrics,
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
    caller?: ReleaseCaller,
  ): Promise<ChannelView> {
    await requireApp(this.repos, appId);
    try {
      const channel = await this.repos.transaction(async (repos) => {
        const existing = await repos.channels.list(appId);
        // The first channel of an app is its default unless told otherwise.
        const isDefault = input.isDefault ?? !existing.some((channel) => channel.is_default === 1);
        if (!mayChangeProtected(caller)) {
          if (input.protected) throw protectedRefusal(caller, appId, input.name, 'create');
          const currentDefault = existing.find((channel) => channel.is_default === 1);
          if (isDefault && currentDefault) guardProtected(caller, currentDefault, 'default');
        }
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

  async update(
    appId: string,
    name: string,
    changes: ChannelChanges,
    actor: string,
    caller?: ReleaseCaller,
  ): Promise<ChannelView> {
    await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      if (!mayChangeProtected(caller)) {
        if (changes.protected !== undefined && toFlag(changes.protected) !== channel.protected)
          throw protectedRefusal(caller, appId, name, 'protect');
        guardProtected(caller, channel, 'settings');
        if (changes.isDefault && channel.is_default === 0) {
          const currentDefault = (await repos.channels.list(appId)).find((other) => other.is_default === 1);
          if (currentDefault) guardProtected(caller, currentDefault, 'default');
        }
      }
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
    caller?: ReleaseCaller,
  ): Promise<ChannelView> {
    return this.release(appId, name, { action: 'set', version }, actor, reason, caller);
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
    caller?: ReleaseCaller,
  ): Promise<ChannelView> {
    return this.release(appId, name, { action: 'rollout', version, percent }, actor, undefined, caller);
  }

  /** Makes `change` on the channel, refused (403) on a protected channel to a caller without release. */
  private async release(
    appId: string,
    name: string,
    change: ReleaseChange,
    actor: string,
    reason: string | undefined,
    caller: ReleaseCaller | undefined,
  ): Promise<ChannelView> {
    const announcement = await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      guardProtected(caller, channel, change.action);
      return this.applyIn(repos, channel, change, actor, reason);
    });
    this.cache.invalidate(appId);
    if (announcement) this.announce(appId, announcement);
    return this.get(appId, name);
  }

  /**
   * Makes `change` on `channel` (read in the transaction of `repos`): the history entry and the audit
   * entry in the same transaction. Answers the event to announce once it is committed, or null when
   * it changed nothing. The caller invalidates the release cache after the commit.
   */
  async applyIn(
    repos: Repos,
    channel: ChannelRow,
    change: ReleaseChange,
    actor: string,
    reason?: string,
  ): Promise<ReleaseAnnouncement | null> {
    const { app_id: appId, name } = channel;
    const { version } = change;
    const bundle = await this.releasable(repos, appId, version);
    if (change.action === 'set' || change.percent >= 100) {
      if (channel.bundle_id === bundle.id && channel.rollout_bundle_id === null) return null;
      // A manual change takes over from a scheduled rollout (a schedule's last step is its own).
      await this.endSchedule(repos, channel, 'cancelled', `cancelled: ${version} made live`, actor);
      const why = reason ?? (change.action === 'rollout' ? 'rollout completed' : null);
      await this.writeLive(repos, channel, bundle, why, actor);
      return { event: 'channel.released', data: { channel: name, version, actor } };
    }
    const { percent } = change;
    if (channel.bundle_id === bundle.id) {
      throw errors.alreadyLive({ version, channel: name });
    }
    await this.endSchedule(
      repos,
      channel,
      'cancelled',
      `cancelled by a manual rollout of ${version} to ${percent}%`,
      actor,
    );
    const why = reason === undefined ? `${percent}% of devices` : `${percent}% of devices; ${reason}`;
    await this.writeRollout(repos, channel, bundle, percent, why, actor);
    return { event: 'channel.rollout', data: { channel: name, version, percent, actor } };
  }

  /** Sends the event of a committed change (applyIn's answer). */
  announce(appId: string, announcement: ReleaseAnnouncement): void {
    this.events.emit(appId, announcement.event, announcement.data);
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
    this.metrics?.releaseHalted('automatic');
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
      // A halt ends the schedule as halted (the halt entry below says why); a rollback cancels it.
      if (action === 'halt') await repos.schedules.end(channel.id, 'halted', reason ?? 'halted', now());
      else await this.endSchedule(repos, channel, 'cancelled', 'cancelled by a rollback', actor);
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

  /**
   * Starts a scheduled rollout: its first step at once (as a rollout to that share), and the schedule
   * stored in place of the channel's previous one (a running one is cancelled), in one transaction.
   * `at` (the scheduler's clock) is when the first step started.
   */
  async startSchedule(
    appId: string,
    name: string,
    version: string,
    steps: readonly RolloutStep[],
    actor: string,
    at: string,
    caller?: ReleaseCaller,
  ): Promise<{ channel: ChannelView; schedule: RolloutScheduleRow }> {
    const first = steps[0]!;
    const schedule = await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      // Each step of a schedule changes what the channel serves: on a protected channel, only who
      // holds release may start one (its steps are then the server's, gated on health). A four-eyes
      // request covers one change, not a schedule: a publisher is refused, not turned into a request.
      guardProtected(caller, channel, 'rollout');
      const bundle = await this.releasable(repos, appId, version);
      if (channel.bundle_id === bundle.id) throw errors.alreadyLive({ version, channel: name });
      await this.endSchedule(repos, channel, 'cancelled', `replaced by a new schedule for ${version}`, actor);
      const written = formatRolloutSteps(steps);
      await this.writeRollout(
        repos,
        channel,
        bundle,
        first.percent,
        `scheduled rollout ${written}: step 1 of ${steps.length}, ${first.percent}% of devices`,
        actor,
      );
      return repos.schedules.replace({
        app_id: appId,
        channel_id: channel.id,
        channel_name: channel.name,
        bundle_id: bundle.id,
        version,
        steps: JSON.stringify(steps),
        current_step: 0,
        step_started_at: at,
        state: 'running',
        reason: null,
        actor,
        created_at: at,
        updated_at: at,
      });
    });
    this.cache.invalidate(appId);
    this.events.emit(appId, 'rollout.advanced', advancedEvent(schedule, steps, actor));
    return { channel: await this.get(appId, name), schedule };
  }

  /**
   * The scheduler's move of `schedule` from the step it was read at to the next (`at`: when that
   * step starts): the schedule and the channel change together, and only if the schedule is still
   * at that step and the channel still rolls its bundle out. Resolves to the schedule as written, or
   * null when nothing was done (another instance moved it first, or it ended meanwhile; a channel
   * changed behind its back ends it as cancelled). `health`: the gate's word, for the history.
   */
  async advanceSchedule(
    schedule: RolloutScheduleRow,
    at: string,
    health: string,
  ): Promise<RolloutScheduleRow | null> {
    const steps = JSON.parse(schedule.steps) as RolloutStep[];
    const index = schedule.current_step + 1;
    const step = steps[index];
    if (!step) return null;
    const completes = index === steps.length - 1;
    const actor = 'overair';
    const written = await this.repos.transaction(async (repos) => {
      const channel = await repos.channels.find(schedule.app_id, schedule.channel_name);
      if (!channel || channel.id !== schedule.channel_id) return null;
      if (schedule.bundle_id === null || channel.rollout_bundle_id !== schedule.bundle_id) {
        // Every change through the API ends the schedule; this is a change that did not (a bundle
        // deleted, a database edited by hand).
        await this.endSchedule(
          repos,
          channel,
          'cancelled',
          `cancelled: the channel no longer rolls out ${schedule.version}`,
          actor,
        );
        return null;
      }
      const bundle = await repos.bundles.findById(schedule.bundle_id);
      if (!bundle) return null;
      if (!(await repos.schedules.advance(schedule.id, schedule.current_step, at, completes))) return null;
      const where = `scheduled rollout: step ${index + 1} of ${steps.length}`;
      if (completes)
        await this.writeLive(repos, channel, bundle, `${where}, rollout completed (${health})`, actor);
      else {
        const reason = `${where}, ${step.percent}% of devices (${health})`;
        await this.writeRollout(repos, channel, bundle, step.percent, reason, actor);
      }
      return repos.schedules.ofChannel(channel.id);
    });
    if (!written) return null;
    this.cache.invalidate(schedule.app_id);
    this.events.emit(schedule.app_id, 'rollout.advanced', advancedEvent(written, steps, actor));
    if (completes)
      this.events.emit(schedule.app_id, 'channel.released', {
        channel: schedule.channel_name,
        version: schedule.version,
        actor,
      });
    return written;
  }

  /** The channel's schedule (the latest, whatever its state), or undefined when it never had one. */
  async schedule(appId: string, name: string): Promise<RolloutScheduleRow | undefined> {
    const channel = await this.find(appId, name);
    return this.repos.schedules.ofChannel(channel.id);
  }

  /** Cancels the channel's running schedule; the rollout stays at its current step. */
  async cancelSchedule(appId: string, name: string, actor: string): Promise<RolloutScheduleRow> {
    const cancelled = await this.repos.transaction(async (repos) => {
      const channel = await this.findIn(repos, appId, name);
      if (!(await this.endSchedule(repos, channel, 'cancelled', 'cancelled', actor)))
        throw errors.scheduleNotRunning({ channel: name });
      return repos.schedules.ofChannel(channel.id);
    });
    return cancelled!;
  }

  async history(appId: string, name: string, limit: number, beforeId?: number): Promise<ChannelHistoryRow[]> {
    const channel = await this.find(appId, name);
    return this.repos.channels.history(channel.id, limit, beforeId);
  }

  /** Makes `bundle` live on the whole channel (ending any rollout), with its history and audit entries. */
  private async writeLive(
    repos: Repos,
    channel: ChannelRow,
    bundle: { id: number; version: string },
    reason: string | null,
    actor: string,
  ): Promise<void> {
    await repos.channels.update(channel.id, {
      bundle_id: bundle.id,
      rollout_bundle_id: null,
      rollout_percent: 0,
    });
    await this.logChange(repos, channel, 'set', bundle, reason, actor);
    await repos.audit.record({
      actor,
      action: 'channel.set',
      appId: channel.app_id,
      target: channel.name,
      detail: { version: bundle.version },
    });
  }

  /** Serves `bundle` to `percent` % of the channel's devices, with its history and audit entries. */
  private async writeRollout(
    repos: Repos,
    channel: ChannelRow,
    bundle: { id: number; version: string },
    percent: number,
    reason: string,
    actor: string,
  ): Promise<void> {
    await repos.channels.update(channel.id, { rollout_bundle_id: bundle.id, rollout_percent: percent });
    await this.logChange(repos, channel, 'rollout', bundle, reason, actor);
    await repos.audit.record({
      actor,
      action: 'channel.rollout',
      appId: channel.app_id,
      target: channel.name,
      detail: { version: bundle.version, percent },
    });
  }

  /**
   * Ends the channel's running schedule, if any, saying why in its history (a note: nothing changed
   * live by it). Every manual change of the channel's release calls it in its own transaction: an
   * admin's rollout, set-live or rollback takes over from the schedule. Resolves to whether one ran.
   */
  private async endSchedule(
    repos: Repos,
    channel: ChannelRow,
    state: Exclude<ScheduleEnd, 'halted'>,
    why: string,
    actor: string,
  ): Promise<boolean> {
    const ended = await repos.schedules.end(channel.id, state, why, now());
    if (!ended) return false;
    const steps = JSON.parse(ended.steps) as RolloutStep[];
    await repos.channels.addHistory({
      app_id: channel.app_id,
      channel_id: channel.id,
      channel_name: channel.name,
      action: SCHEDULE_CANCELLED,
      bundle_id: null,
      version: null,
      previous_version: null,
      reason: `rollout schedule of ${ended.version} (${formatRolloutSteps(steps)}) ended at step ${ended.current_step + 1} of ${steps.length}: ${why}`,
      actor,
    });
    return true;
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

  async findIn(repos: Repos, appId: string, name: string): Promise<ChannelRow> {
    const channel = await repos.channels.find(appId, name);
    if (channel) return channel;
    await requireApp(repos, appId);
    throw errors.channelNotFound({ appId, channel: name });
  }

  /**
   * A bundle an admin may make live or roll out: one that meets what the app requires of its bundles
   * (signature, encryption). Rollbacks and halts are not held to it: they restore what was served.
   */
  async releasable(repos: Repos, appId: string, version: string) {
    const bundle = await repos.bundles.find(appId, version);
    if (!bundle) throw errors.bundleNotFound({ appId, version });
    const app = await repos.apps.find(appId);
    const problems = app ? unmetRequirements(requirementsOf(app), bundle) : [];
    if (problems.length > 0)
      throw errors.bundleNotCompliant({ appId, version, problems: problems.join(', ') });
    return bundle;
  }
}
