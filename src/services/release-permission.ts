import { grantsOf, may } from '../domain/roles.js';
import { errors, type OverairError } from '../errors.js';
import type { Principal } from './sessions.js';

/**
 * Protected channels: who may change what one serves. The one place where the release role is
 * asked for (the integrator of per-app roles changes `releaseCallerOf` only, if anything); the
 * services call the checks below inside the transaction that reads the channel, so a channel
 * protected meanwhile is never changed by someone without the role.
 *
 * On a protected channel, without the `release` role on the app:
 * - making a bundle live, starting, raising or completing a rollout: refused (403), or, when the
 *   app has `release_approval`, turned into a release request that someone else with the role
 *   approves (services/release-requests.ts);
 * - rolling back (and the automatic halt): allowed. Stopping harm must never wait for anyone;
 * - any change of its settings (targeting, policy, thresholds, self-assign, default): refused.
 *   Targeting decides who gets the live bundle, so widening it is a release by other means; a
 *   mixed PATCH cannot be half applied, and one rule is easier to trust than a list of safe fields;
 * - turning `protected` on or off: refused on any channel. Off would lift the protection;
 *   on takes the channel away from the publishers who manage it, which is the release managers' call;
 * - creating a channel already protected: refused, like turning it on (and a protected channel
 *   created with a bundle would be a release without the role);
 * - making another channel the default (create or update) while the default is protected:
 *   refused. Devices that ask for no channel would leave the protected one for a channel the
 *   publisher controls: a release of the whole fleet by other means;
 * - deleting the bundle live on it: refused. The channel would fall back to an older bundle (or
 *   to none) without a rollback's record; rolling back first (allowed) and then deleting is the way.
 *   Deleting the bundle it is rolling out stops the rollout, like a rollback: allowed;
 * - changing the minimum native version or native layer of a bundle it serves (live or rolling out):
 *   refused, since that decides which devices get it, like targeting. Correcting its notes: allowed.
 * Pinning single devices to a channel (`device set-channel`) stays a publisher's: it changes what
 * one device gets, not what the channel serves.
 */

/** Who asks for a change, as far as protection cares. */
export interface ReleaseCaller {
  /** The audit name (`token:ci`, `user:alice`). */
  actor: string;
  /** Who it is, `token:ID` or `user:ID`: the requester of a release request may not approve it. */
  identity: string;
  /** Holds the release role on the app. */
  mayRelease: boolean;
  /** For messages: "this token" or "this user". */
  holder: string;
}

/** The caller of a request on `appId`, from its authenticated principal. */
export function releaseCallerOf(principal: Principal, actor: string, appId: string): ReleaseCaller {
  return {
    actor,
    identity: `${principal.kind}:${principal.id}`,
    mayRelease: may(grantsOf(principal), appId, 'release'),
    holder: principal.kind === 'user' ? 'this user' : 'this token',
  };
}

/** Whether `caller` (absent: the server itself, e.g. the automatic halt) may change protected channels. */
export const mayChangeProtected = (caller: ReleaseCaller | undefined): boolean =>
  caller === undefined || caller.mayRelease;

const ASK = 'Ask someone with the release role on the app.';

/** What a refused change of a protected channel is, for the 403's message. */
const PROTECTED_ACTIONS = {
  set: {
    action: 'making a bundle live',
    hint: 'Rolling back needs only "publish". Ask someone with the release role, or have an app admin turn on release_approval so that the change becomes a release request.',
  },
  rollout: {
    action: 'a rollout (start, raise or complete)',
    hint: 'Rolling back needs only "publish". Ask someone with the release role, or have an app admin turn on release_approval so that the change becomes a release request.',
  },
  settings: { action: 'changing its settings', hint: ASK },
  protect: { action: 'turning protection on or off', hint: ASK },
  create: { action: 'creating a protected channel', hint: ASK },
  default: { action: 'making another channel the default', hint: ASK },
  editServed: {
    action: 'changing the minimum native version or native layer of a bundle it serves',
    hint: 'Ask someone with the release role; notes can be corrected freely.',
  },
  deleteLive: {
    action: 'deleting its live bundle (the channel would fall back)',
    hint: 'Roll back first (that needs only "publish"), then delete the bundle; or ask someone with the release role.',
  },
} as const;

export type ProtectedAction = keyof typeof PROTECTED_ACTIONS;

/** The 403 for `caller` doing `what` on protected channel `channel` of `appId`. */
export function protectedRefusal(
  caller: ReleaseCaller | undefined,
  appId: string,
  channel: string,
  what: ProtectedAction,
): OverairError {
  const { action, hint } = PROTECTED_ACTIONS[what];
  return errors.protectedChannel({ action, channel, appId, holder: caller?.holder ?? 'the caller', hint });
}

/** Throws the 403 unless `caller` may do `what` on `channel` (refused only when it is protected). */
export function guardProtected(
  caller: ReleaseCaller | undefined,
  channel: { app_id: string; name: string; protected: number },
  what: ProtectedAction,
): void {
  if (channel.protected === 1 && !mayChangeProtected(caller))
    throw protectedRefusal(caller, channel.app_id, channel.name, what);
}
