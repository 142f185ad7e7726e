import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import type { ReleaseCaller } from './release-permission.js';
import type { Repos } from '../db/index.js';
import type { RolloutScheduleRow } from '../db/schema.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { dueStep, stepEndsAt, type RolloutStep } from '../domain/rollout-schedule.js';
import { errors, OverairError } from '../errors.js';
import type { ChannelService } from './channels.js';
import type { InsightService } from './insight.js';

/**
 * Whether a release may go on to its next step: asked by the scheduler when a step's time is up.
 * Injected, so that the rule can change without the scheduler knowing (thresholdGate is today's).
 */
export type ReleaseGate = (appId: string, channel: string) => Promise<{ healthy: boolean; reason: string }>;

/**
 * Release health (InsightService.releaseHealth, docs/release-control.md#release-health): a release is
 * unhealthy when the channel's failure threshold would halt it, or when, during the rollout, its
 * failure rate's 95% interval lies wholly above its control group's with enough devices in each
 * (whether or not the channel halts on evidence by itself). A channel gone is unhealthy.
 */
export function healthGate(insight: Pick<InsightService, 'releaseHealth'>): ReleaseGate {
  return async (appId, name) => {
    try {
      const { healthy, reason } = await insight.releaseHealth(appId, name);
      return { healthy, reason };
    } catch (error) {
      if (error instanceof OverairError && error.code === errors.channelNotFound.code)
        return { healthy: false, reason: `channel "${name}" no longer exists` };
      throw error;
    }
  };
}

/** Milliseconds since the epoch: Date.now, or a test's fake clock. */
export type Clock = () => number;

export interface RolloutSchedulerOptions {
  /** How often running schedules are looked at (OVERAIR_ROLLOUT_TICK). */
  tickMs: number;
  gate: ReleaseGate;
  clock?: Clock;
}

/** The lease that lets one instance drive every schedule. */
const LEASE = 'rollout-scheduler';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Drives scheduled rollouts: every tick, the instance holding the scheduler's lease looks at the
 * running schedules, and for each whose current step's time is up asks the gate; a healthy release
 * goes on to its next step (the last completes the rollout), an unhealthy one is halted. All of a
 * schedule's state is in the database, so a restarted instance (or another one, once the lease of
 * one that died expires) goes on where it was. A step is only ever moved from the step it was read
 * at (a conditional update in the same transaction as the channel's change), so two instances that
 * both believe they hold the lease (one paused past its expiry) still never move a step twice; and a
 * late tick moves one step, which then gets its whole time: steps are never skipped.
 */
export class RolloutScheduler {
  private readonly clock: Clock;
  /** This instance's name in the lease row. */
  readonly holderId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly repos: Repos,
    private readonly channels: ChannelService,
    private readonly log: Logger,
    private readonly options: RolloutSchedulerOptions,
  ) {
    this.clock = options.clock ?? Date.now;
  }

  /** A lease outlives a few missed ticks, so that a busy holder keeps it; a dead one loses it soon. */
  get leaseMs(): number {
    return 3 * this.options.tickMs;
  }

  /** Ticks now and then every tickMs, on an unref'd timer. */
  start(): void {
    this.stopped = false;
    const tick = () => void this.tick();
    tick();
    this.timer = setInterval(tick, this.options.tickMs);
    this.timer.unref();
  }

  /** Stops ticking, waits for a tick under way, and gives the lease up for another instance. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.repos.leases.release(LEASE, this.holderId).catch(() => undefined);
  }

  /** Starts a schedule on a channel: its first step now. */
  begin(
    appId: string,
    channel: string,
    version: string,
    steps: readonly RolloutStep[],
    actor: string,
    caller?: ReleaseCaller,
  ) {
    return this.channels.startSchedule(appId, channel, version, steps, actor, iso(this.clock()), caller);
  }

  /**
   * One look at the running schedules, if there are any and this instance holds the lease (taken or
   * renewed here).
   * Resolves to the number of schedules it moved (advanced or halted). Errors are logged, not thrown:
   * the next tick tries again.
   */
  tick(): Promise<number> {
    // One tick at a time in an instance: a slow one (a database outage) is queued behind, not raced.
    const next = this.running.then(() => (this.stopped ? 0 : this.tickOnce()));
    this.running = next.catch(() => 0);
    return next;
  }

  private async tickOnce(): Promise<number> {
    const now = this.clock();
    let moved = 0;
    try {
      // Nothing running, nothing written: an idle server's ticks are one small read.
      const running = await this.repos.schedules.running();
      if (running.length === 0) return 0;
      if (!(await this.repos.leases.take(LEASE, this.holderId, iso(now), iso(now + this.leaseMs)))) return 0;
      for (const schedule of running) {
        if (this.stopped) break;
        try {
          if (await this.step(schedule, now)) moved += 1;
        } catch (error) {
          this.log.error(
            { err: error, app: schedule.app_id, channel: schedule.channel_name, version: schedule.version },
            'scheduled rollout step failed; retried at the next tick',
          );
        }
      }
    } catch (error) {
      if (isDatabaseUnavailable(error))
        this.log.warn('the database is unreachable: scheduled rollouts wait for the next tick');
      else this.log.error({ err: error }, 'rollout scheduler tick failed; retried at the next tick');
    }
    return moved;
  }

  /** Moves one schedule if its step is due: the next step when healthy, a halt when not. */
  private async step(schedule: RolloutScheduleRow, now: number): Promise<boolean> {
    const steps = JSON.parse(schedule.steps) as RolloutStep[];
    const due = dueStep(steps, schedule.current_step, Date.parse(schedule.step_started_at), now);
    if (!due) return false;
    const where = { app: schedule.app_id, channel: schedule.channel_name, version: schedule.version };
    const verdict = await this.options.gate(schedule.app_id, schedule.channel_name);
    if (verdict.healthy) {
      const advanced = await this.channels.advanceSchedule(schedule, iso(now), verdict.reason);
      if (advanced)
        this.log.info(
          { ...where, step: due.index + 1, steps: steps.length, percent: due.step.percent },
          due.completes ? 'scheduled rollout completed' : 'scheduled rollout advanced',
        );
      return advanced !== null;
    }
    const reason =
      `scheduled rollout halted after step ${schedule.current_step + 1} of ${steps.length} ` +
      `(${steps[schedule.current_step]!.percent}%): ${verdict.reason}`;
    const halted =
      schedule.bundle_id === null
        ? null
        : await this.channels.halt(schedule.app_id, schedule.channel_name, reason, schedule.bundle_id);
    if (halted) {
      this.log.warn(
        { ...where, reason: verdict.reason },
        'scheduled rollout halted: the release is not healthy',
      );
      return true;
    }
    // The channel no longer rolls the bundle out (changed behind the schedule's back): nothing to go on with.
    await this.repos.schedules.end(
      schedule.channel_id,
      'cancelled',
      'the channel no longer rolls out the bundle',
      iso(now),
    );
    return false;
  }
}

/** When the schedule's current step ends (its next step may start), or null when there is none. */
export function nextStepAt(schedule: RolloutScheduleRow): string | null {
  if (schedule.state !== 'running') return null;
  const steps = JSON.parse(schedule.steps) as RolloutStep[];
  const step = steps[schedule.current_step];
  const endsAt = step ? stepEndsAt(step, Date.parse(schedule.step_started_at)) : null;
  return endsAt === null ? null : iso(endsAt);
}
