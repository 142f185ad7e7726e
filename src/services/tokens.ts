import { safeEqual } from '../crypto/hash.js';
import { hashToken, newTokenSecret } from '../crypto/tokens.js';
import { errors } from '../errors.js';
import type { Repos } from '../db/index.js';
import type { TokenRow } from '../db/schema.js';

export type Scope = TokenRow['scope'];

/** Scopes are nested: publish can do what read can, admin what publish can. */
const SCOPE_RANK: Record<Scope, number> = { read: 0, publish: 1, admin: 2 };

export function scopeAllows(held: Scope, needed: Scope): boolean {
  return SCOPE_RANK[held] >= SCOPE_RANK[needed];
}

export type PublicToken = Omit<TokenRow, 'hash'>;

const publicToken = ({ hash: _hash, ...token }: TokenRow): PublicToken => token;

/** How often a token's last-used time is written: per request would turn reads into writes. */
const TOUCH_INTERVAL_MS = 60_000;

/** Whether a token's expiry has passed (a token without one never expires). */
export function isExpired(token: Pick<TokenRow, 'expires_at'>, at = Date.now()): boolean {
  return token.expires_at !== null && Date.parse(token.expires_at) <= at;
}

/** What a presented secret turned out to be: a usable token, an expired one, or nothing known. */
export type Authentication =
  { status: 'ok'; token: TokenRow } | { status: 'expired' } | { status: 'invalid' };

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
    return { status: 'ok', token };
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
          await repos.tokens.insert({ name: 'OVERAIR_ADMIN_TOKEN', hash, scope: 'admin' });
      });
      return null;
    }
    if ((await this.repos.tokens.count()) > 0) return null;
    const secret = newTokenSecret();
    const minted = await this.repos.transaction(async (repos) => {
      await repos.settings.lock(BOOTSTRAP_LOCK);
      if ((await repos.tokens.count()) > 0) return false;
      await repos.tokens.insert({ name: 'initial admin', hash: hashToken(secret), scope: 'admin' });
      return true;
    });
    return minted ? secret : null;
  }

  async list(): Promise<PublicToken[]> {
    return (await this.repos.tokens.list()).map(publicToken);
  }

  async create(
    name: string,
    scope: Scope,
    actor: string,
    expiry?: TokenExpiry,
  ): Promise<{ token: PublicToken; secret: string }> {
    const secret = newTokenSecret();
    const expiresAt = expiryDate(expiry);
    const token = await this.repos.transaction(async (repos) => {
      const token = await repos.tokens.insert({
        name,
        hash: hashToken(secret),
        scope,
        expires_at: expiresAt,
      });
      await repos.audit.record({
        actor,
        action: 'token.create',
        target: String(token.id),
        detail: { name, scope, expires_at: expiresAt },
      });
      return token;
    });
    return { token: publicToken(token), secret };
  }

  async revoke(id: number, actor: string): Promise<void> {
    await this.repos.transaction(async (repos) => {
      const tokens = await repos.tokens.list();
      const token = tokens.find((candidate) => candidate.id === id);
      if (!token) throw errors.tokenNotFound({ id });
      // Expired admin tokens open nothing: the last one that still works is what must remain.
      const admins = tokens.filter((candidate) => candidate.scope === 'admin' && !isExpired(candidate));
      if (token.scope === 'admin' && !isExpired(token) && admins.length === 1) {
        throw errors.lastAdminToken();
      }
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

const DAY_MS = 86_400_000;

function expiryDate(expiry: TokenExpiry): string | null {
  if (expiry === undefined) return null;
  const at = 'inDays' in expiry ? Date.now() + expiry.inDays * DAY_MS : Date.parse(expiry.at);
  if (!Number.isFinite(at)) throw errors.invalidRequest({ problem: 'expires_at: not a date' });
  if (at <= Date.now()) throw errors.invalidRequest({ problem: 'expires_at: must be in the future' });
  return new Date(at).toISOString();
}
