import type { Kysely } from 'kysely';
import type { Database, NewRolloutSchedule, RolloutScheduleRow } from './schema.js';

/** States a schedule ends in; `running` is the only one the scheduler acts on. */
export type ScheduleEnd = 'completed' | 'halted' | 'cancelled';

/**
 * Rollout schedules, one per channel (the latest). Every change of a running schedule is conditional
 * on the step it was read at, so two writers (two instances' ticks, a tick and an admin's change)
 * never both act on one step: the second changes nothing and is told so.
 */
export class RolloutSchedulesRepo {
  constructor(private readonly db: Kysely<Database>) {}

  ofChannel(channelId: number): Promise<RolloutScheduleRow | undefined> {
    return this.db
      .selectFrom('rollout_schedules')
      .selectAll()
      .where('channel_id', '=', channelId)
      .executeTakeFirst();
  }

  /** Every running schedule (few: one per channel at most), oldest step first. */
  running(): Promise<RolloutScheduleRow[]> {
    return this.db
      .selectFrom('rollout_schedules')
      .selectAll()
      .where('state', '=', 'running')
      .orderBy('step_started_at')
      .execute();
  }

  /** Stores the channel's new schedule in place of its previous one. */
  async replace(schedule: Omit<NewRolloutSchedule, 'id'>): Promise<RolloutScheduleRow> {
    await this.db.deleteFrom('rollout_schedules').where('channel_id', '=', schedule.channel_id).execute();
    return this.db.insertInto('rollout_schedules').values(schedule).returningAll().executeTakeFirstOrThrow();
  }

  /** Moves a running schedule from step `from` to the next; false when it is no longer there. */
  async advance(id: number, from: number, startedAt: string, completed: boolean): Promise<boolean> {
    const result = await this.db
      .updateTable('rollout_schedules')
      .set({
        current_step: from + 1,
        step_started_at: startedAt,
        state: completed ? 'completed' : 'running',
        updated_at: startedAt,
      })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('current_step', '=', from)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Ends the channel's running schedule, if it has one: resolves to it as it was, or undefined. */
  async end(
    channelId: number,
    state: ScheduleEnd,
    reason: string,
    at: string,
  ): Promise<RolloutScheduleRow | undefined> {
    const running = await this.db
      .selectFrom('rollout_schedules')
      .selectAll()
      .where('channel_id', '=', channelId)
      .where('state', '=', 'running')
      .executeTakeFirst();
    if (!running) return undefined;
    const result = await this.db
      .updateTable('rollout_schedules')
      .set({ state, reason, updated_at: at })
      .where('id', '=', running.id)
      .where('state', '=', 'running')
      .where('current_step', '=', running.current_step)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n ? running : undefined;
  }
}
