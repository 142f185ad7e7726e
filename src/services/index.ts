import type { Logger } from 'pino';
import type { Repos } from '../db/index.js';
import type { BlobStore } from '../storage/blob-store.js';
import { AppService } from './apps.js';
import { BundleService } from './bundles.js';
import { ChannelSelfService } from './channel-self.js';
import { ChannelService } from './channels.js';
import { DeviceActivity } from './device-activity.js';
import { DeviceService } from './devices.js';
import { ReleaseCache } from './release-cache.js';
import { StatsService } from './stats.js';
import { TokenService } from './tokens.js';
import { UpdateService } from './updates.js';

export interface ServiceOptions {
  maxUploadBytes: number;
  cacheTtlMs?: number;
}

/** Every use case, wired once over shared repositories, storage and cache. */
export function createServices(repos: Repos, store: BlobStore, log: Logger, options: ServiceOptions) {
  const cache = new ReleaseCache(repos, options.cacheTtlMs);
  const activity = new DeviceActivity(repos, log);
  return {
    store,
    cache,
    activity,
    apps: new AppService(repos, store, cache),
    bundles: new BundleService(repos, store, cache, options.maxUploadBytes),
    channels: new ChannelService(repos, cache),
    devices: new DeviceService(repos, activity, cache),
    tokens: new TokenService(repos),
    audit: repos.audit,
    updates: new UpdateService(cache, activity),
    channelSelf: new ChannelSelfService(repos, cache, activity),
    stats: new StatsService(cache, activity),
  };
}

export type Services = ReturnType<typeof createServices>;
