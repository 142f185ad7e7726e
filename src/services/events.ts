/**
 * Release events that leave the server (webhooks). Emitting never waits for delivery nor fails the
 * action that emits: the sink records the event and delivers it with its own retries.
 */
export const RELEASE_EVENTS = [
  'bundle.uploaded',
  'channel.released',
  'channel.rollout',
  'channel.rollback',
  'release.halted',
  'release.requested',
  'release.approved',
  'release.rejected',
  'rollout.advanced',
] as const;
export type ReleaseEvent = (typeof RELEASE_EVENTS)[number];

export interface EventSink {
  emit(appId: string, event: ReleaseEvent, data: Record<string, unknown>): void;
}

/** For callers with nowhere to send events (tests of a single service, tools). */
export const NO_EVENTS: EventSink = { emit: () => undefined };
