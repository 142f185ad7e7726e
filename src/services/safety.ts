import type { Logger } from 'pino';
import type { Repos } from '../db/index.js';
import type { NewDeviceEvent } from '../db/devices.js';
import type { BundleRow, ChannelRow } from '../db/schema.js';
import { categoryOf, INSTALL_FAILURE_ACTIONS } from '../domain/device-events.js';
import { evidenceHaltReason } from '../domain/release-health.js';
import { haltReason, releaseStart, shouldHalt, type ReleaseHealth } from '../domain/safety.js';
import type { ChannelService } from './channels.js';
import type { InsightService } from './insight.js';

/** History entries read to find where the current release began. */
const HISTORY_DEPTH = 50;

/**
 * The least time between two judgements of one channel on evidence. The judgement counts the devices
 * of two groups (rows of release_devices: tens of ms at 1M devices and 10M events, more on
 * PostgreSQL than on SQLite, where each statement holds the event loop; bench/adoption.ts): a fleet
 * reporting failures in every flush need not pay it in every flush. A flush inside the interval
 * leaves a judgement for its end, so the last failures are always judged.
 */
const EVIDENCE_INTERVAL_MS = 30_000;

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
 * any failure (to start, or to download) from them, at most once per EVIDENCE_INTERVAL_MS: the
 * rollout is halted when its failure rate's 95% interval lies above the control group's
 * (InsightService.evidence, domain/release-health.ts).
 */
export class SafetyService {
  /** Releases already halted (or that could not be): channel, bundle and start of the release. */
  private readonly done = new Set<string>();
  /** When each channel (id) was last judged on evidence, and the judgements left for later. */
  private readonly evidenceJudgedAt = new Map<number, number>();
  private readonly evidenceLater = new Map<number, NodeJS.Timeout>();

  constructor(
    private readonly repos: Repos,
    private readonly channels: ChannelService,
    private readonly log: Logger,
    private readonly insight?: InsightService,
    private readonly evidenceIntervalMs = EVIDENCE_INTERVAL_MS,
  ) {}

  /** Drops the judgements left for later (the server stops). */
  close(): void {
    for (const timer of this.evidenceLater.values()) clearTimeout(timer);
    this.evidenceLater.clear();
  }

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
        if (haltsOnEvidence(channel) && names.any.has(channel.name)) await this.judgeEvidenceSoon(channel);
      }
    }
  }

  /** Judges on evidence now, or at the end of the channel's interval when it was judged lately. */
  private async judgeEvidenceSoon(channel: ChannelRow): Promise<void> {
    const wait = (this.evidenceJudgedAt.get(channel.id) ?? -Infinity) + this.evidenceIntervalMs - Date.now();
    if (wait <= 0) {
      this.evidenceJudgedAt.set(channel.id, Date.now());
      await this.judgeEvidence(channel);
      return;
    }
    if (this.evidenceLater.has(channel.id)) return;
    const timer = setTimeout(() => {
      this.evidenceLater.delete(channel.id);
      this.evidenceJudgedAt.set(channel.id, Date.now());
      // The channel as it is then: it may have been halted, completed or changed meanwhile.
      void this.repos.channels
        .find(channel.app_id, channel.name)
        .then((fresh) => (fresh && haltsOnEvidence(fresh) ? this.judgeEvidence(fresh) : false))
        .catch((error: unknown) => this.log.error({ err: error }, 'a judgement on evidence failed'));
    }, wait);
    timer.unref();
    this.evidenceLater.set(channel.id, timer);
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

/** Whether the channel is judged on evidence now: it asks for it, and it is rolling a bundle out. */
function haltsOnEvidence(channel: ChannelRow): boolean {
  return channel.halt_on_evidence === 1 && channel.rollout_bundle_id !== null;
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
async function assessRelease(repos: Repos, channel: ChannelRow): Promise<ReleaseAssessment | null> {
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
