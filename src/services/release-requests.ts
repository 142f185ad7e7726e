import type { Repos } from '../db/index.js';
import type { ReleaseRequestFilter } from '../db/release-requests.js';
import type { ChannelRow, ReleaseRequestRow } from '../db/schema.js';
import { now } from '../db/time.js';
import { OverairError, errors } from '../errors.js';
import type { ChannelService, ChannelView, ReleaseChange } from './channels.js';
import { NO_EVENTS, type EventSink } from './events.js';
import type { ReleaseCache } from './release-cache.js';
import type { ReleaseCaller } from './release-permission.js';
import { requireApp } from './require.js';

/** A request as clients see it: `expired` is a pending request past its expiry. */
export interface ReleaseRequestView extends Omit<ReleaseRequestRow, 'status'> {
  status: ReleaseRequestFilter;
}

/** What a release asked for answers: the channel as changed, or the request waiting for approval. */
export type ReleaseOutcome = { channel: ChannelView } | { request: ReleaseRequestView };

/** The approved change can no longer be made: the request is closed as failed, with this problem. */
class StaleRequest extends Error {}

/**
 * Four-eyes releases: on an app with `release_approval`, a change of what a protected channel serves
 * (make live, start, raise or complete a rollout) by someone without the release role becomes a
 * release request; another principal with the role approves it (the change is made then, if the
 * channel is still as the request saw it and the bundle still releasable) or rejects it. Requests
 * expire after OVERAIR_RELEASE_REQUEST_TTL. Every step is audited and sent as a webhook event.
 */
export class ReleaseRequestService {
  constructor(
    private readonly repos: Repos,
    private readonly channels: ChannelService,
    private readonly cache: ReleaseCache,
    private readonly ttlSeconds: number,
    private readonly events: EventSink = NO_EVENTS,
  ) {}

  /**
   * Makes `change` on the channel for `caller`; a request instead when the channel is protected,
   * the caller lacks the release role and the app asks for approval. Otherwise the channel service
   * refuses a caller without the role on a protected channel (403).
   */
  async release(
    appId: string,
    name: string,
    change: ReleaseChange,
    caller: ReleaseCaller,
  ): Promise<ReleaseOutcome> {
    if (!caller.mayRelease) {
      const channel = await this.channels.findIn(this.repos, appId, name);
      const app = await this.repos.apps.find(appId);
      if (channel.protected === 1 && app?.release_approval === 1)
        return this.request(appId, name, change, caller);
    }
    const channel =
      change.action === 'set'
        ? await this.channels.setLive(appId, name, change.version, caller.actor, undefined, caller)
        : await this.channels.rollout(appId, name, change.version, change.percent, caller.actor, caller);
    return { channel };
  }

  async list(
    appId: string,
    status: ReleaseRequestFilter | undefined,
    limit: number,
    beforeId?: number,
  ): Promise<ReleaseRequestView[]> {
    await requireApp(this.repos, appId);
    const at = now();
    const rows = await this.repos.releaseRequests.list(appId, status, at, limit, beforeId);
    return rows.map((row) => viewOf(row, at));
  }

  async get(appId: string, id: number): Promise<ReleaseRequestView> {
    return viewOf(await this.find(appId, id), now());
  }

  /**
   * Approves a pending request: closes it and makes the change in one transaction, so of two
   * approvers at once exactly one makes it (the other gets 409 release_request_closed). When the
   * channel changed since the request, or the bundle is gone or no longer releasable, nothing
   * changes and the request is closed as failed (409 release_request_failed).
   */
  async approve(appId: string, id: number, caller: ReleaseCaller): Promise<ReleaseRequestView> {
    const request = await this.find(appId, id);
    if (request.requester === caller.identity) throw errors.selfApproval({ id });
    let announcement;
    try {
      announcement = await this.repos.transaction(async (repos) => {
        const at = now();
        if (
          !(await repos.releaseRequests.close(id, at, {
            status: 'approved',
            decidedBy: caller.actor,
            reason: null,
          }))
        )
          throw await this.closed(repos, appId, id);
        const channel = await repos.channels.find(appId, request.channel);
        if (!channel || channel.id !== request.channel_id)
          throw new StaleRequest(`channel "${request.channel}" was deleted`);
        if (!stillAsSeen(request, channel))
          throw new StaleRequest(`channel "${request.channel}" changed since the request was made`);
        let applied;
        try {
          applied = await this.channels.applyIn(
            repos,
            channel,
            changeOf(request),
            caller.actor,
            `release request ${id} by ${request.requested_by}`,
          );
        } catch (error) {
          // The bundle was deleted, no longer meets the app's requirements, or is live already.
          if (error instanceof OverairError && error.status < 500 && error.status !== 503)
            throw new StaleRequest(error.message);
          throw error;
        }
        await repos.audit.record({
          actor: caller.actor,
          action: 'release.approve',
          appId,
          target: request.channel,
          detail: { id, requested_by: request.requested_by, ...changeOf(request) },
        });
        return applied;
      });
    } catch (error) {
      if (error instanceof StaleRequest) throw await this.fail(request, caller, error.message);
      throw error;
    }
    this.cache.invalidate(appId);
    if (announcement) this.channels.announce(appId, announcement);
    this.emit('release.approved', request, { actor: caller.actor });
    return this.get(appId, id);
  }

  /** Rejects a pending request, with an optional reason; nothing changes on the channel. */
  async reject(
    appId: string,
    id: number,
    caller: ReleaseCaller,
    reason?: string,
  ): Promise<ReleaseRequestView> {
    const request = await this.find(appId, id);
    await this.repos.transaction(async (repos) => {
      const closed = await repos.releaseRequests.close(id, now(), {
        status: 'rejected',
        decidedBy: caller.actor,
        reason: reason ?? null,
      });
      if (!closed) throw await this.closed(repos, appId, id);
      await repos.audit.record({
        actor: caller.actor,
        action: 'release.reject',
        appId,
        target: request.channel,
        detail: { id, requested_by: request.requested_by, reason: reason ?? null },
      });
    });
    this.emit('release.rejected', request, { actor: caller.actor, reason: reason ?? null });
    return this.get(appId, id);
  }

  /**
   * Records a request for `change`, checked as far as it can be now (the bundle exists and may be
   * released; a rollout is not of the live bundle). Setting the bundle already live, with no
   * rollout in progress, changes nothing and needs no request: the channel is answered.
   */
  private async request(
    appId: string,
    name: string,
    change: ReleaseChange,
    caller: ReleaseCaller,
  ): Promise<ReleaseOutcome> {
    const request = await this.repos.transaction(async (repos) => {
      const channel = await this.channels.findIn(repos, appId, name);
      const bundle = await this.channels.releasable(repos, appId, change.version);
      const completes = change.action === 'set' || change.percent >= 100;
      if (completes && channel.bundle_id === bundle.id && channel.rollout_bundle_id === null) return null;
      if (!completes && channel.bundle_id === bundle.id)
        throw errors.alreadyLive({ version: change.version, channel: name });
      const at = new Date();
      const request = await repos.releaseRequests.insert({
        app_id: appId,
        channel_id: channel.id,
        channel: name,
        action: change.action,
        version: change.version,
        percent: change.action === 'rollout' ? change.percent : null,
        seen_bundle_id: channel.bundle_id,
        seen_rollout_bundle_id: channel.rollout_bundle_id,
        seen_rollout_percent: channel.rollout_percent,
        status: 'pending',
        requested_by: caller.actor,
        requester: caller.identity,
        created_at: at.toISOString(),
        expires_at: new Date(at.getTime() + this.ttlSeconds * 1000).toISOString(),
        decided_by: null,
        decided_at: null,
        reason: null,
      });
      await repos.audit.record({
        actor: caller.actor,
        action: 'release.request',
        appId,
        target: name,
        detail: { id: request.id, ...change, expires_at: request.expires_at },
      });
      return request;
    });
    if (!request) return { channel: await this.channels.get(appId, name) };
    this.emit('release.requested', request, { actor: caller.actor, expires_at: request.expires_at });
    return { request: viewOf(request, now()) };
  }

  /** Closes a request whose approval cannot be applied as failed (if still pending); the 409 to throw. */
  private async fail(
    request: ReleaseRequestRow,
    caller: ReleaseCaller,
    problem: string,
  ): Promise<OverairError> {
    await this.repos.transaction(async (repos) => {
      const closed = await repos.releaseRequests.close(request.id, now(), {
        status: 'failed',
        decidedBy: caller.actor,
        reason: problem,
      });
      if (!closed) return;
      await repos.audit.record({
        actor: caller.actor,
        action: 'release.fail',
        appId: request.app_id,
        target: request.channel,
        detail: { id: request.id, problem },
      });
    });
    return errors.releaseRequestFailed({ id: request.id, problem });
  }

  /** The 409 for a request that could not be closed: decided meanwhile, or expired. */
  private async closed(repos: Repos, appId: string, id: number): Promise<OverairError> {
    const row = await repos.releaseRequests.find(appId, id);
    return errors.releaseRequestClosed({ id, status: row ? viewOf(row, now()).status : 'gone' });
  }

  private async find(appId: string, id: number): Promise<ReleaseRequestRow> {
    const row = await this.repos.releaseRequests.find(appId, id);
    if (row) return row;
    await requireApp(this.repos, appId);
    throw errors.releaseRequestNotFound({ appId, id });
  }

  private emit(
    event: 'release.requested' | 'release.approved' | 'release.rejected',
    request: ReleaseRequestRow,
    extra: Record<string, unknown>,
  ): void {
    this.events.emit(request.app_id, event, {
      id: request.id,
      channel: request.channel,
      action: request.action,
      version: request.version,
      percent: request.percent,
      requested_by: request.requested_by,
      ...extra,
    });
  }
}

const changeOf = (request: ReleaseRequestRow): ReleaseChange =>
  request.action === 'set'
    ? { action: 'set', version: request.version }
    : { action: 'rollout', version: request.version, percent: request.percent ?? 100 };

/** The channel still serves what it served when the request was made. */
function stillAsSeen(request: ReleaseRequestRow, channel: ChannelRow): boolean {
  return (
    channel.bundle_id === request.seen_bundle_id &&
    channel.rollout_bundle_id === request.seen_rollout_bundle_id &&
    Number(channel.rollout_percent) === Number(request.seen_rollout_percent)
  );
}

function viewOf(row: ReleaseRequestRow, at: string): ReleaseRequestView {
  const expired = row.status === 'pending' && row.expires_at <= at;
  return { ...row, status: expired ? 'expired' : row.status };
}
