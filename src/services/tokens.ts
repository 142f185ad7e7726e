import { safeEqual } from '../crypto/hash.js';
import { hashToken, newTokenSecret } from '../crypto/tokens.js';
import { errors } from '../errors.js';
import type { Repos } from '../db/index.js';
import type { TokenRow } from '../db/schema.js';
import { grantColumns, grantsOfRow } from '../db/grants.js';
import { grantsSomething, mayGrant, type Grants } from '../domain/roles.js';

/** A token as the API shows it: never its hash; its roles as grants. */
export type PublicToken = Pick<TokenRow, 'id' | 'name' | 'created_at' | 'last_used_at' | 'expires_at'> & {
  grants: Grants;
};

const publicToken = (token: TokenRow, grants: Grants): PublicToken => ({
  id: token.id,
  name: token.name,
  created_at: token.created_at,
  last_used_at: token.last_used_at,
  expires_at: token.expires_at,
  grants,
});

/** What a server-wide admin token holds (the bootstrap tokens). */
const SERVER_ADMIN: Grants = { serverAdmin: true, allApps: 'admin', apps: new Map() };

/** How often a token's last-used time is written: per request would turn reads into writes. */
const TOUCH_INTERVAL_MS = 60_000;

/** Whether a token's expiry has passed (a token without one never expires). */
export function isExpired(token: Pick<TokenRow, 'expires_at'>, at = Date.now()): boolean {
  return token.expires_at !== null && Date.parse(token.expires_at) <= at;
}

/** What a presented secret turned out to be: a usable token, an expired one, or nothing known. */
export type Authentication =
  { status: 'ok'; token: TokenRow; grants: Grants } | { status: 'expired' } | { status: 'invalid' };

/** When a new token stops working: in a number of days, or at a moment; never when neither is given. */
export type TokenExpiry = { inDays: number } | { at: string } | undefined;

/**
 * Held while the first token or user is created at start: with several instances starting on one
 * empty database, the second sees what the first created instead of creating another.
 */
export const BOOTSTRAP_LOCK = 'lock:bootstrap';

export class TokenService {
  constructor(private readonly repos: Repos) {}

  /**
   * The token a secret belongs to. Looked up by hash, then compared in constant time. A revoked
   * token is deleted, so it is as unknown as a made-up one; an expired one is refused as such.
   */
  async authenticate(secret: string): Promise<Authentication> {
    const hash = hashToken(secret);
    const token = await this.repos.tokens.findByHash(hash);
    if (!token || !safeEqual(hash, token.hash)) return { status: 'invalid' };
    if (isExpired(token)) return { status: 'expired' };
    const lastUsed = token.last_used_at ? Date.parse(token.last_used_at) : 0;
    if (Date.now() - lastUsed > TOUCH_INTERVAL_MS) await this.repos.tokens.touch(token.id);
    return { status: 'ok', token, grants: await this.grantsOf(token) };
  }

  /**
   * At start: adopt the operator's OVERAIR_ADMIN_TOKEN, or, on an empty database, mint an admin token.
   * Returns a newly minted secret (to print once), or null. Instances starting together on one
   * database take turns (the bootstrap lock), so only the first mints a token and none fails.
   */
  async ensureAdminToken(configured: string | undefined): Promise<string | null> {
    if (configured) {
      const hash = hashToken(configured);
      if (await this.repos.tokens.findByHash(hash)) return null;
      await this.repos.transaction(async (repos) => {
        await repos.settings.lock(BOOTSTRAP_LOCK);
        if (!(await repos.tokens.findByHash(hash)))
          await repos.tokens.insert({ name: 'OVERAIR_ADMIN_TOKEN', hash, ...grantColumns(SERVER_ADMIN) });
      });
      return null;
    }
    if ((await this.repos.tokens.count()) > 0) return null;
    const secret = newTokenSecret();
    const minted = await this.repos.transaction(async (repos) => {
      await repos.settings.lock(BOOTSTRAP_LOCK);
      if ((await repos.tokens.count()) > 0) return false;
      await repos.tokens.insert({
        name: 'initial admin',
        hash: hashToken(secret),
        ...grantColumns(SERVER_ADMIN),
      });
      return true;
    });
    return minted ? secret : null;
  }

  /** The grants of one token (its row and its per-app roles). */
  async grantsOf(token: TokenRow): Promise<Grants> {
    return grantsOfRow(token, await this.repos.grants.appRoles({ tokenId: token.id }));
  }

  /** The tokens `viewer` may manage (mayGrant): all of them for a server admin. */
  async list(viewer: Grants): Promise<PublicToken[]> {
    const [tokens, appRoles] = await Promise.all([
      this.repos.tokens.list(),
      this.repos.grants.allAppRoles('token'),
    ]);
    return tokens
      .map((token) => publicToken(token, grantsOfRow(token, appRoles.get(token.id))))
      .filter((token) => mayGrant(viewer, token.grants));
  }

  /**
   * Creates a token holding `grants`, which `creator` must be allowed to hand out (mayGrant: a 403
   * otherwise); a role on an app that does not exist is a 404, checked in the same transaction as
   * the insert so that the app cannot go in between.
   */
  async create(
    name: string,
    grants: Grants,
    actor: string,
    creator: Grants,
    expiry?: TokenExpiry,
  ): Promise<{ token: PublicToken; secret: string }> {
    if (!grantsSomething(grants))
      throw errors.invalidRequest({ problem: 'roles: a token needs at least one role' });
    if (!mayGrant(creator, grants)) {
      throw errors.forbidden({
        action: 'Creating this token',
        needed: 'admin on every app it gets a role on (server admin for server-wide roles)',
        holder: actor,
      });
    }
    const secret = newTokenSecret();
    const expiresAt = expiryDate(expiry);
    const token = await this.repos.transaction(async (repos) => {
      await requireApps(repos, grants);
      const token = await repos.tokens.insert({
        name,
        hash: hashToken(secret),
        ...grantColumns(grants),
        expires_at: expiresAt,
      });
      await repos.grants.replace({ tokenId: token.id }, grants.apps);
      await repos.audit.record({
        actor,
        action: 'token.create',
        target: String(token.id),
        detail: { name, roles: grantsDetail(grants), expires_at: expiresAt },
      });
      return token;
    });
    return { token: publicToken(token, grants), secret };
  }

  /**
   * Revokes a token `viewer` may manage; one they may not is answered as unknown (404), so that its
   * number tells them nothing. The last working server-admin token stays.
   */
  async revoke(id: number, actor: string, viewer: Grants): Promise<void> {
    await this.repos.transaction(async (repos) => {
      const tokens = await repos.tokens.list();
      const token = tokens.find((candidate) => candidate.id === id);
      if (!token) throw errors.tokenNotFound({ id });
      const grants = grantsOfRow(token, await repos.grants.appRoles({ tokenId: id }));
      if (!mayGrant(viewer, grants)) throw errors.tokenNotFound({ id });
      // Expired admin tokens open nothing: the last one that still works is what must remain.
      const working = (candidate: TokenRow) => candidate.server_admin === 1 && !isExpired(candidate);
      if (working(token) && tokens.filter(working).length === 1) throw errors.lastAdminToken();
      await repos.tokens.delete(id);
      await repos.audit.record({
        actor,
        action: 'token.revoke',
        target: String(id),
        detail: { name: token.name },
      });
    });
  }
}

/** Grants as an audit entry's detail shows them. */
export const grantsDetail = (grants: Grants) => ({
  server_admin: grants.serverAdmin,
  all: grants.allApps,
  apps: Object.fromEntries(grants.apps),
});

/** Every app `grants` names must exist (a 404 otherwise): a role on a future app is not a thing. */
export async function requireApps(repos: Repos, grants: Grants): Promise<void> {
  if (grants.apps.size === 0) return;
  const found = new Set((await repos.apps.findMany([...grants.apps.keys()])).map((app) => app.id));
  for (const appId of grants.apps.keys()) if (!found.has(appId)) throw errors.appNotFound({ appId });
}

const DAY_MS = 86_400_000;

function expiryDate(expiry: TokenExpiry): string | null {
  if (expiry === undefined) return null;
  const at = 'inDays' in expiry ? Date.now() + expiry.inDays * DAY_MS : Date.parse(expiry.at);
  if (!Number.isFinite(at)) throw errors.invalidRequest({ problem: 'expires_at: not a date' });
  if (at <= Date.now()) throw errors.invalidRequest({ problem: 'expires_at: must be in the future' });
  return new Date(at).toISOString();
}
