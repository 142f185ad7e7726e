/**
 * What every server the benches start reports over its IPC channel, so each scenario's figures come
 * from inside the process under load: the event loop's delay (perf_hooks.monitorEventLoopDelay, 1 ms
 * resolution) and the RSS, over the span since the last reset, and the process's CPU time. The bench
 * sends {type: 'metrics-reset'} before a scenario and {type: 'metrics'} after it; the answer is a
 * {type: 'metrics', ...ServerMetrics} message. `extra` adds figures of the server's own (its
 * database writes, the devices it remembers). {type: 'memory'} answers {type: 'memory', ...ServerMemory}.
 *
 * With BENCH_PROFILE_DIR set (in the server's environment: the benches pass theirs on), each span from
 * a reset to its report is also a CPU profile of the server's main thread, written to
 * `<dir>/<pid>-<n>.cpuprofile` (n counts the spans): a profile of one scenario only, without the
 * seeding and warm-up that --cpu-prof would mix in.
 */
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ServerMetrics {
  /** Event loop delay in ms since the last reset. */
  loopDelayP99: number;
  loopDelayMax: number;
  /** Resident set size now, and its peak since the last reset (sampled with the loop delay), in bytes. */
  rss: number;
  rssPeak: number;
  /** V8 heap in use now, in bytes (what of the RSS is JavaScript objects). */
  heapUsed: number;
  /** CPU time of the process since the last reset, in ms. */
  cpuMs: number;
  /** Device rows and events written since the last reset (Overair only). */
  rowsWritten?: number;
  /** Device reports sent to the database since the last reset, changing a row or not (Overair only). */
  reportsSent?: number;
  /** Devices whose written state the server remembers now (Overair only). */
  remembered?: number;
  /** Device reports queued or being written now (Overair only). */
  backlog?: number;
}

/** A server's memory now, after a full garbage collection when it runs with --expose-gc. */
export interface ServerMemory {
  rss: number;
  /** V8 heap in use: live JavaScript objects (after the collection). */
  heapUsed: number;
  /** Memory of ArrayBuffers and typed arrays, outside the heap (Overair's device memory among them). */
  arrayBuffers: number;
  /** Whether a full collection ran first. */
  collected: boolean;
}

/** A server's own figures: counters (since the start) and, for `remembered`, the value now. */
export type ServerCounters = Pick<ServerMetrics, 'rowsWritten' | 'reportsSent' | 'remembered' | 'backlog'>;

export function reportMetrics(extra: () => ServerCounters = () => ({})): void {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let cpuAtReset = process.cpuUsage();
  let rowsAtReset = extra().rowsWritten ?? 0;
  let sentAtReset = extra().reportsSent ?? 0;
  let rssPeak = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, 100);
  sampler.unref();

  const profiler = process.env.BENCH_PROFILE_DIR
    ? new SpanProfiler(process.env.BENCH_PROFILE_DIR)
    : undefined;
  process.on('message', async (message: { type?: string }) => {
    if (message.type === 'metrics-reset') {
      await profiler?.start();
      delay.reset();
      cpuAtReset = process.cpuUsage();
      rowsAtReset = extra().rowsWritten ?? 0;
      sentAtReset = extra().reportsSent ?? 0;
      rssPeak = process.memoryUsage.rss();
      process.send?.({ type: 'metrics-reset' });
    } else if (message.type === 'metrics') {
      const cpu = process.cpuUsage(cpuAtReset);
      const { rowsWritten: rows, reportsSent: sent, remembered, backlog } = extra();
      const metrics: ServerMetrics = {
        loopDelayP99: delay.percentile(99) / 1e6,
        loopDelayMax: delay.max / 1e6,
        rss: process.memoryUsage.rss(),
        rssPeak: Math.max(rssPeak, process.memoryUsage.rss()),
        heapUsed: process.memoryUsage().heapUsed,
        cpuMs: (cpu.user + cpu.system) / 1000,
        ...(rows !== undefined && { rowsWritten: rows - rowsAtReset }),
        ...(sent !== undefined && { reportsSent: sent - sentAtReset }),
        ...(remembered !== undefined && { remembered }),
        ...(backlog !== undefined && { backlog }),
      };
      await profiler?.stop();
      process.send?.({ type: 'metrics', ...metrics });
    } else if (message.type === 'memory') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
      const memory: ServerMemory = { rss, heapUsed, arrayBuffers, collected: gc !== undefined };
      process.send?.({ type: 'memory', ...memory });
    }
  });
}

/** CPU profiles of spans of the process's life, through the inspector (see BENCH_PROFILE_DIR above). */
class SpanProfiler {
  private readonly session = new Session();
  private spans = 0;
  private running = false;

  constructor(private readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.session.connect();
  }

  async start(): Promise<void> {
    if (this.running) await this.stop();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.start');
    this.running = true;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const { profile } = await this.session.post('Profiler.stop');
    const file = path.join(this.dir, `${process.pid}-${++this.spans}.cpuprofile`);
    fs.writeFileSync(file, JSON.stringify(profile));
  }
}
