import type { Command } from 'commander';
import type { LiveEvent } from '../../domain/live-events.js';
import { resolveAppId } from '../capacitor.js';
import { StreamUnreachable } from '../client.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { SseParser } from '../sse.js';

/** What the stream says besides events: a gap, dropped events, its end. */
type Marker =
  | { kind: 'dropped'; count: number }
  | { kind: 'gap'; missed: number | null }
  | { kind: 'closed'; reason: string; reconnect: boolean };

/** The longest wait between two reconnection attempts. */
const MAX_RETRY_MS = 30_000;

/**
 * `overair device watch DEVICE`: the device's checks, downloads and events as they happen, one line
 * each (or JSON lines), until Ctrl-C or `--count` events. A dropped connection is resumed where it
 * left off (Last-Event-ID); a refusal (401, 403, 404) or the end of the token's access ends it.
 */
export async function deviceWatch(
  io: CliIo,
  deviceId: string,
  options: { app?: string; count?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const count = options.count === undefined ? Infinity : Number(options.count);
  if (count !== Infinity && (!Number.isInteger(count) || count < 1))
    throw new CliError(`--count must be a whole number from 1, not "${options.count}"`);
  const api = await ctx.api();
  const route = `/apps/${encodeURIComponent(appId)}/devices/${encodeURIComponent(deviceId)}/live`;
  const controller = new AbortController();
  const stopListening = io.onInterrupt?.(() => controller.abort()) ?? (() => undefined);
  const print = (event: LiveEvent | Marker) =>
    io.stdout(`${ctx.json ? JSON.stringify(event) : describe(event)}\n`);

  let lastEventId: string | undefined;
  let seen = 0;
  let connected = false;
  let retryMs = 2000;
  let failures = 0;
  try {
    for (;;) {
      const parser = new SseParser();
      try {
        const body = await api.openStream(route, { lastEventId, signal: controller.signal });
        if (connected) io.stderr('reconnected\n');
        connected = true;
        failures = 0;
        const decoder = new TextDecoder();
        for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
          for (const message of parser.feed(decoder.decode(chunk, { stream: true }))) {
            if (message.id !== undefined) lastEventId = message.id;
            const event = JSON.parse(message.data) as LiveEvent | Marker;
            if (event.kind === 'closed') {
              if (!event.reconnect) throw new CliError(`the stream ended: ${event.reason}`);
              io.stderr(`the stream ended: ${event.reason}\n`);
              continue;
            }
            print(event);
            if (event.kind !== 'dropped' && event.kind !== 'gap' && ++seen >= count) return;
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof CliError) throw error;
        // The first connection must work: a wrong address is an error, not an endless retry.
        if (!connected) throw new CliError((error as Error).message);
        if (!(error instanceof StreamUnreachable) && !(error instanceof TypeError)) throw error;
      }
      if (controller.signal.aborted) return;
      retryMs = parser.retryMs ?? retryMs;
      const wait = Math.min(retryMs * 2 ** Math.min(failures++, 5), MAX_RETRY_MS);
      io.stderr(`connection lost; reconnecting in ${Math.round(wait / 100) / 10} s\n`);
      await sleep(wait, controller.signal);
      if (controller.signal.aborted) return;
    }
  } finally {
    stopListening();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** One line for a person. */
function describe(event: LiveEvent | Marker): string {
  switch (event.kind) {
    case 'dropped':
      return `... ${event.count} events dropped: they came faster than they were read`;
    case 'gap':
      return `... events may have been missed while disconnected${event.missed === null ? '' : ` (${event.missed})`}`;
    case 'closed':
      return `... ${event.reason}`;
    case 'check': {
      const { sent, answer } = event;
      const what = [answer.outcome, answer.version].filter(Boolean).join(' ');
      const channel = answer.channel ? ` (${answer.channel})` : '';
      const code = answer.error && answer.outcome !== 'up_to_date' ? ` [${answer.error}]` : '';
      return (
        `${event.at}  check     ${event.device_id} ${sent.version_name || 'builtin'} ` +
        `(native ${sent.version_build || '?'}, ${sent.platform}) → ${what}${channel}${code}  ${event.reason}`
      );
    }
    case 'download':
    case 'event': {
      const from = event.old_version_name ? ` (from ${event.old_version_name})` : '';
      const label = event.kind === 'download' ? 'download' : 'event   ';
      return `${event.at}  ${label}  ${event.device_id} ${event.action} ${event.version_name}${from} on ${event.channel || '?'}`;
    }
  }
}
