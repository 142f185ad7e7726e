import type { Logger } from 'pino';
import type { Repos } from '../db/index.js';
import type { NewDeviceEvent } from '../db/devices.js';
import type { ChannelRow } from '../db/schema.js';
import { categoryOf, INSTALL_FAILURE_ACTIONS } from '../domain/device-events.js';
import { evidenceHaltReason } from '../domain/release-health.js';
import { haltReason, releaseStart, shouldHalt } from '../domain/safety.js';
import type { ChannelService } from './channels.js';
import type { InsightService } from './insight.js';

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
 *
 * Channels with `halt_on_evidence` are also judged on evidence during a rollout, after a flush with
 * any failure (to start, or to download) from them: the rollout is halted when its failure rate's
 * 95% interval lies above the control group's (InsightService.evidence, domain/release-health.ts).
 */
export class SafetyService {
  /** Releases already halted (or that could not be): channel, bundle and start of the release. */
  private readonly done = new Set<string>();

  constructor(
    private readonly repos: Repos,
    private readonly channels: ChannelService,
    private readonly log: Logger,
    private readonly insight?: InsightService,
  ) {}

  /** The DeviceActivity listener. */
  async afterWrite(events: readonly NewDeviceEvent[]): Promise<void> {
    // Per app, the channels with failures to start (the threshold's rule) and with any failure (the evidence rule's).
    const failing = new Map<string, { install: Set<string>; any: Set<string> }>();
    for (const event of events) {
      if (!event.channel) continue;
      const category = categoryOf(event.action);
      if (category !== 'install_failure' && category !== 'download_failure') continue;
      const channels = failing.get(event.app_id) ?? { install: new Set<string>(), any: new Set<string>() };
      if (INSTALL_FAILURE_ACTIONS.includes(event.action)) channels.install.add(event.channel);
      channels.any.add(event.channel);
      failing.set(event.app_id, channels);
    }
    for (const [appId, names] of failing) {
      const channels = await this.repos.channels.list(appId);
      for (const channel of channels) {
        if (
          channel.failure_threshold !== null &&
          names.install.has(channel.name) &&
          (await this.judge(channel))
        )
          continue;
        if (
          channel.halt_on_evidence === 1 &&
          channel.rollout_bundle_id !== null &&
          names.any.has(channel.name)
        )
          await this.judgeEvidence(channel);
      }
    }
  }

  /** Judges the channel's rollout on evidence; halts it when it fails more than its control group. */
  async judgeEvidence(channel: ChannelRow): Promise<boolean> {
    if (!this.insight) return false;
    const evidence = await this.insight.evidence(channel);
    if (!evidence) return false;
    const key = `${channel.id}:${evidence.bundleId}:${evidence.startId}`;
    if (this.done.has(key) || evidence.verdict !== 'worse') return false;
    this.done.add(key);
    const reason = evidenceHaltReason(evidence.candidate, evidence.control);
    const figures = {
      app: channel.app_id,
      channel: channel.name,
      version: evidence.candidate.version,
      rollout: { devices: evidence.candidate.devices, failed: evidence.candidate.failed },
      control: { devices: evidence.control.devices, failed: evidence.control.failed },
    };
    try {
      // As for the threshold: only the rollout that was judged, and only once across instances.
      if (!(await this.channels.halt(channel.app_id, channel.name, reason, evidence.bundleId))) return false;
      this.log.warn(figures, 'rollout halted automatically on evidence');
      return true;
    } catch (error) {
      this.log.error(
        { err: error, ...figures },
        'rollout fails more than its control group but could not be halted',
      );
      return false;
    }
  }

  /** Judges the channel's current release; halts it when it fails too often. Resolves to whether it did. */
  async judge(channel: ChannelRow): Promise<boolean> {
    const bundleId = channel.rollout_bundle_id ?? channel.bundle_id;
    if (bundleId === null || channel.failure_threshold === null) return false;
    const bundle = await this.repos.bundles.findById(bundleId);
    if (!bundle) return false;
    const history = await this.repos.channels.history(channel.id, HISTORY_DEPTH);
    const start = releaseStart(history, bundle.version);
    const key = `${channel.id}:${bundle.id}:${start?.id ?? 0}`;
    if (this.done.has(key)) return false;

    const settings = {
      failureThreshold: channel.failure_threshold,
      failureMinDevices: channel.failure_min_devices,
    };
    const health = await this.repos.stats.releaseHealth(
      channel.app_id,
      channel.name,
      bundle.version,
      start?.at,
    );
    if (!shouldHalt(settings, health)) return false;

    this.done.add(key);
    const reason = haltReason(bundle.version, settings, health);
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
