import { SseParser, type SseMessage } from '../../src/cli/sse.js';

/** A server-sent event stream as a test reads it: every event parsed, and waits on what comes. */
export interface SseStream {
  status: number;
  /** The answer's body when it was not a stream (an error). */
  error: any;
  /** Every event so far, oldest first, its data parsed as JSON. */
  events: { id?: string; data: any }[];
  /** The first event (from `from` on) `match` accepts, within `timeoutMs`. */
  next(match: (data: any) => boolean, options?: { timeoutMs?: number; from?: number }): Promise<any>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const events: { id?: string; data: any }[] = [];
  const waiters = new Set<() => void>();
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    return {
      status: response.status,
      error: await response.json(),
      events,
      next: () => Promise.reject(new Error('not a stream')),
      ended: Promise.resolve(),
      close: () => undefined,
    };
  }
  const parser = new SseParser();
  const ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        for (const message of parser.feed(decoder.decode(chunk, { stream: true })) as SseMessage[]) {
          events.push({
            ...(message.id !== undefined && { id: message.id }),
            data: JSON.parse(message.data),
          });
          for (const wake of waiters) wake();
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    status: response.status,
    error: undefined,
    events,
    async next(match, { timeoutMs = 1000, from = 0 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.slice(from).find((event) => match(event.data));
        if (found) return found.data;
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(
            `no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => e.data))}`,
          );
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, left);
          waiters.add(wake);
        });
      }
    },
    ended,
    close: () => controller.abort(),
  };
}
