import type { Logger } from 'pino';
import type { Repos } from '../db/index.js';
import type { NewDeviceEvent } from '../db/devices.js';
import type { BundleRow, ChannelRow } from '../db/schema.js';
import { INSTALL_FAILURE_ACTIONS } from '../domain/device-events.js';
import { haltReason, releaseStart, shouldHalt, type ReleaseHealth } from '../domain/safety.js';
import type { ChannelService } from './channels.js';

/** History entries read to find where the current release began. */
const HISTORY_DEPTH = 50;

/**
 * The automatic halt. After a flush of device events that contained install failures, each channel
 * those failures came from that has a failure threshold is judged on the bundle it is releasing
 * (its rollout bundle, else its live bundle), counting the reports since that release began; one
 * that fails too often is halted through ChannelService.halt. Runs inside the write-behind flush,
 * so never on a device's request, and one flush after another, so two judgements never race here;
 * other instances sharing the database judge their own devices' reports over the same counts, and
 * the halt is written only while the channel still releases the judged bundle, so it happens once.
 */
export class SafetyService {
  /** Releases already halted (or that could not be): channel, bundle and start of the release. */
  private readonly done = new Set<string>();

  constructor(
    private readonly repos: Repos,
    private readonly channels: ChannelService,
    private readonly log: Logger,
  ) {}

  /** The DeviceActivity listener. */
  async afterWrite(events: readonly NewDeviceEvent[]): Promise<void> {
    const failing = new Map<string, Set<string>>();
    for (const event of events) {
      if (!event.channel || !INSTALL_FAILURE_ACTIONS.includes(event.action)) continue;
      const channels = failing.get(event.app_id) ?? new Set<string>();
      channels.add(event.channel);
      failing.set(event.app_id, channels);
    }
    for (const [appId, names] of failing) {
      const channels = await this.repos.channels.list(appId);
      for (const channel of channels) {
        if (channel.failure_threshold === null || !names.has(channel.name)) continue;
        await this.judge(channel);
      }
    }
  }

  /** Judges the channel's current release; halts it when it fails too often. Resolves to whether it did. */
  async judge(channel: ChannelRow): Promise<boolean> {
    const assessment = await assessRelease(this.repos, channel);
    if (!assessment) return false;
    const { bundle, health, key } = assessment;
    if (this.done.has(key) || !assessment.failing) return false;

    this.done.add(key);
    const reason = assessment.reason;
    try {
      // Only the release that was judged: an admin may have changed the channel meanwhile, or
      // another instance, judging the same failures, halted it first.
      if (!(await this.channels.halt(channel.app_id, channel.name, reason, bundle.id))) return false;
      this.log.warn(
        { app: channel.app_id, channel: channel.name, version: bundle.version, ...health },
        'release halted automatically',
      );
      return true;
    } catch (error) {
      // Most likely nothing to roll back to (the channel's first bundle): say so once.
      this.log.error(
        { err: error, app: channel.app_id, channel: channel.name, version: bundle.version, ...health },
        'release fails too often but could not be halted',
      );
      return false;
    }
  }
}

/** The threshold rule's verdict on a channel's current release (see assessRelease). */
interface ReleaseAssessment {
  bundle: BundleRow;
  health: ReleaseHealth;
  /** The channel, the bundle and where its current release began: one release, judged once. */
  key: string;
  /** Whether the release fails as often as the channel's threshold says it must be halted. */
  failing: boolean;
  /** Why, when it fails (the halt's reason); else the counts. */
  reason: string;
}

/**
 * Today's rule on the channel's current release (its rollout bundle, else its live bundle), over the
 * reports since that release began: null when there is nothing to judge (no bundle, no threshold).
 */
export async function assessRelease(repos: Repos, channel: ChannelRow): Promise<ReleaseAssessment | null> {
  const bundleId = channel.rollout_bundle_id ?? channel.bundle_id;
  if (bundleId === null || channel.failure_threshold === null) return null;
  const bundle = await repos.bundles.findById(bundleId);
  if (!bundle) return null;
  const history = await repos.channels.history(channel.id, HISTORY_DEPTH);
  const start = releaseStart(history, bundle.version);
  const settings = {
    failureThreshold: channel.failure_threshold,
    failureMinDevices: channel.failure_min_devices,
  };
  const health = await repos.stats.releaseHealth(channel.app_id, channel.name, bundle.version, start?.at);
  const failing = shouldHalt(settings, health);
  return {
    bundle,
    health,
    key: `${channel.id}:${bundle.id}:${start?.id ?? 0}`,
    failing,
    reason: failing
      ? haltReason(bundle.version, settings, health)
      : `${health.failed} of ${health.tried} devices failed to start ${bundle.version}, under the channel's threshold`,
  };
}
