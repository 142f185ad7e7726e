import http from 'node:http';
import { deviceInfo } from './server.js';

/** One simulated phone running @capgo/capacitor-updater 8.x. */
export interface SimDevice {
  id: string;
  platform: string;
  /** The bundle it runs (the plugin's version_name). */
  version: string;
  /** Its native build (version_build). */
  native: string;
  plugin: string;
  isEmulator: boolean;
  isProd: boolean;
  /** The channel it asks for ('' for the app's default). */
  channel: string;
}

/** What a device does with an offered bundle. */
export type Outcome = 'install' | 'download_fail' | 'install_fail';

export interface CheckResult {
  device: SimDevice;
  status: number;
  body: any;
  /** The version offered, when the answer is an update. */
  offered?: string;
}

type Counter = 'downloads' | 'installs' | 'download_failures' | 'install_failures' | 'rollbacks';
const COUNTERS: Counter[] = ['downloads', 'installs', 'download_failures', 'install_failures', 'rollbacks'];

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * A fleet of simulated devices speaking the plugin's protocol over HTTP: update checks with the
 * plugin's info object (POST /updates), then stats as plugins from 8.42 send them (POST /stats with a
 * JSON array of events). It keeps a ledger of what it reported, to compare with the statistics.
 */
export class Fleet {
  readonly devices: SimDevice[];
  /** Per version and counter, the devices that reported it. */
  readonly ledger = new Map<string, Record<Counter, Set<string>>>();
  /** Kept-alive connections: node:http is several times cheaper per request than fetch. */
  private readonly agent: http.Agent;
  private readonly target: URL;

  constructor(
    url: string,
    readonly appId: string,
    count: number,
    shape: (index: number) => Partial<SimDevice> = () => ({}),
    private readonly concurrency = 64,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    this.target = new URL(url);
    this.devices = Array.from({ length: count }, (_, index) => ({
      id: `${appId}-device-${String(index).padStart(5, '0')}`,
      platform: 'android',
      version: '1.0.0',
      native: '1.0.0',
      plugin: '8.51.23',
      isEmulator: false,
      isProd: true,
      channel: '',
      ...shape(index),
    }));
  }

  /** The info object the plugin sends with every request. */
  info(device: SimDevice) {
    return deviceInfo({
      app_id: this.appId,
      device_id: device.id,
      platform: device.platform,
      version_name: device.version,
      version_build: device.native,
      plugin_version: device.plugin,
      is_emulator: device.isEmulator,
      is_prod: device.isProd,
      defaultChannel: device.channel,
    });
  }

  private post(route: string, body: unknown): Promise<{ status: number; body: any }> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: this.target.hostname,
          port: this.target.port,
          path: route,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': data.length },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            try {
              resolve({ status: response.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) });
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
        },
      );
      request.on('error', reject);
      request.end(data);
    });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** An update check from each device (all of them by default). */
  check(devices: readonly SimDevice[] = this.devices): Promise<CheckResult[]> {
    return pool(devices, this.concurrency, async (device) => {
      const { status, body } = await this.post('/updates', this.info(device));
      const offered =
        typeof body?.version === 'string' && typeof body?.url === 'string' ? body.version : undefined;
      return { device, status, body, offered };
    });
  }

  /**
   * Each device that was offered a bundle downloads and applies it as `outcome` says, and reports
   * it in one stats batch: progress and download_complete, then `set` (installed; the device now
   * runs it), or download_fail, or `set` followed by update_fail and app_launch_timeout (the bundle
   * never called notifyAppReady(): the device rolled back to what it ran before).
   */
  async apply(results: readonly CheckResult[], outcome: (device: SimDevice) => Outcome = () => 'install') {
    const offered = results.filter((result) => result.offered !== undefined);
    await pool(offered, this.concurrency, async ({ device, offered: version }) => {
      const target = version!;
      const previous = device.version;
      const event = (action: string) => ({
        ...this.info(device),
        action,
        version_name: target,
        old_version_name: previous,
        timestamp: Date.now(),
      });
      const events = [];
      const result = outcome(device);
      if (result === 'download_fail') {
        events.push(event('download_10'), event('download_fail'));
        this.count(target, 'download_failures', device);
      } else {
        events.push(event('download_10'), event('download_90'), event('download_complete'), event('set'));
        this.count(target, 'downloads', device);
        this.count(target, 'installs', device);
        if (result === 'install_fail') {
          events.push(event('update_fail'), event('app_launch_timeout'));
          this.count(target, 'install_failures', device);
          this.count(target, 'rollbacks', device);
        } else {
          device.version = target;
        }
      }
      const answer = await this.post('/stats', events);
      if (answer.status !== 200 || answer.body.results.some((r: { status: string }) => r.status !== 'ok'))
        throw new Error(`stats refused: ${JSON.stringify(answer.body)}`);
    });
  }

  /** A check by every device, then each applies what it was offered. */
  async cycle(outcome?: (device: SimDevice) => Outcome): Promise<CheckResult[]> {
    const results = await this.check();
    await this.apply(results, outcome);
    return results;
  }

  private count(version: string, counter: Counter, device: SimDevice): void {
    let entry = this.ledger.get(version);
    if (!entry) {
      entry = Object.fromEntries(COUNTERS.map((name) => [name, new Set<string>()])) as Record<
        Counter,
        Set<string>
      >;
      this.ledger.set(version, entry);
    }
    entry[counter].add(device.id);
  }

  /** The ledger as the statistics API counts it: distinct devices per version and counter. */
  reported(version: string): Record<Counter, number> {
    const entry = this.ledger.get(version);
    return Object.fromEntries(COUNTERS.map((name) => [name, entry?.[name].size ?? 0])) as Record<
      Counter,
      number
    >;
  }

  /** How many devices run each version now. */
  running(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const device of this.devices) counts.set(device.version, (counts.get(device.version) ?? 0) + 1);
    return counts;
  }
}
