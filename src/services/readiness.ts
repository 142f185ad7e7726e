import type { Logger } from 'pino';
import { atMostEvery } from '../log.js';

/** The outcome of one dependency's probe. */
export type ProbeStatus = 'ok' | 'unavailable' | 'timeout';

export type ReadinessReport =
  | { ready: true; checks: Record<string, ProbeStatus> }
  | { ready: false; message: string; checks: Record<string, ProbeStatus | 'draining'> };

/** A dependency check: resolves when the dependency can be used now. */
export type Probe = () => Promise<void>;

/**
 * Whether this instance should be sent traffic (GET /readyz): every dependency (the database, the
 * bundle storage) answers its probe within `timeoutMs`, and the server is not shutting down. Probes
 * that arrive while a check runs share it, so a burst of probes is never a burst of queries.
 */
export class Readiness {
  private draining = false;
  private running: Promise<ReadinessReport> | undefined;
  private readonly warn = atMostEvery(10_000, (checks: Record<string, ProbeStatus>, errors: unknown[]) =>
    this.log.warn({ checks, err: errors[0] }, 'not ready: a dependency cannot be reached'),
  );

  constructor(
    private readonly probes: Record<string, Probe>,
    private readonly log: Logger,
    private readonly timeoutMs = 2000,
  ) {}

  /** From now on, not ready: a load balancer stops sending new requests while ours finish. */
  startDraining(): void {
    this.draining = true;
  }

  check(): Promise<ReadinessReport> {
    if (this.draining) {
      return Promise.resolve({
        ready: false,
        message: 'The server is shutting down',
        checks: { server: 'draining' },
      });
    }
    this.running ??= this.probeAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async probeAll(): Promise<ReadinessReport> {
    const errors: unknown[] = [];
    const outcomes = await Promise.all(
      Object.entries(this.probes).map(async ([name, probe]): Promise<[string, ProbeStatus]> => {
        try {
          return [name, (await withTimeout(probe(), this.timeoutMs)) ? 'ok' : 'timeout'];
        } catch (error) {
          errors.push(error);
          return [name, 'unavailable'];
        }
      }),
    );
    const checks = Object.fromEntries(outcomes);
    const failed = outcomes.filter(([, status]) => status !== 'ok');
    if (failed.length === 0) return { ready: true, checks };
    this.warn(checks, errors);
    const list = failed.map(
      ([name, status]) => `${name} ${status === 'timeout' ? 'timed out' : 'unreachable'}`,
    );
    return { ready: false, message: `Not ready: ${list.join(', ')}`, checks };
  }
}

/** True when `work` settles in time (rethrowing its failure), false when it is still pending. */
async function withTimeout(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
    // A probe that lost the race may still fail later: nobody waits for it any more.
    work.catch(() => undefined);
  }
}
