import * as oidc from 'openid-client';
import type { Logger } from 'pino';
import { grantsOfRow } from '../db/grants.js';
import { isUniqueViolation, type Repos } from '../db/index.js';
import { describeGrants } from '../domain/roles.js';
import type { UserRow } from '../db/schema.js';
import { admit, type SsoPolicy, type SsoRefusal } from '../domain/sso.js';
import { errors, type OverairError } from '../errors.js';
import type { OpenedSession, SessionService, SignInOrigin } from './sessions.js';
import { applySsoGrants } from './sso-grants.js';

/** OVERAIR_OIDC_*: the client at the provider and who is let in. */
export interface SsoOptions {
  issuer: string;
  clientId: string;
  /** None: a public client (PKCE alone protects the code). */
  clientSecret?: string;
  redirectUrl: string;
  scopes: string;
  providerName: string;
  /** Accept a plain-http issuer off loopback (OVERAIR_OIDC_ALLOW_HTTP). */
  allowHttp: boolean;
  policy: SsoPolicy;
}

/**
 * A sign-in under way, kept in the browser's flow cookie between the start and the callback: the
 * state and nonce the provider must send back, and the PKCE verifier. All three are random values
 * chosen for this browser, so the cookie needs no signature: a forged or swapped one only lets its
 * holder finish a sign-in they started themselves (docs/sso.md#how-it-works).
 */
interface Flow {
  state: string;
  nonce: string;
  verifier: string;
}

const FLOW_FORMAT = /^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/;
const encodeFlow = (flow: Flow) => `${flow.state}.${flow.nonce}.${flow.verifier}`;

function decodeFlow(text: string | undefined): Flow | null {
  const match = text === undefined ? null : FLOW_FORMAT.exec(text);
  return match ? { state: match[1]!, nonce: match[2]!, verifier: match[3]! } : null;
}

/** Where a callback ends: a session, or an error for the sign-in page; `counted`: a failed login. */
export type SsoOutcome =
  | { status: 'ok'; session: OpenedSession; user: UserRow }
  | { status: 'failed'; error: OverairError; counted: boolean; reason?: SsoRefusal };

const REFUSALS: Record<SsoRefusal, string> = {
  email_unverified: 'your provider gave no verified email address',
  domain: 'your email domain is not allowed on this server',
  group: 'you are in none of the groups allowed on this server',
  no_role: 'none of your groups gives a role on this server',
  username: 'your account has no valid user name for this server',
};

/** Loopback issuers may be plain http (a provider on the same machine, tests): nothing crosses a network. */
function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Single sign-on with OpenID Connect (docs/sso.md): the authorization code flow with PKCE, state and
 * nonce; openid-client checks the ID token (signature against the provider's published keys, issuer,
 * audience, expiry, nonce). The provider's discovery document is read at the first sign-in, and
 * again after a failure, so that a provider down at start does not stop the server.
 */
export class SsoService {
  private configuration: Promise<oidc.Configuration> | null = null;

  constructor(
    private readonly repos: Repos,
    private readonly sessions: SessionService,
    private readonly log: Logger,
    readonly options: SsoOptions | null,
  ) {}

  private settings(): SsoOptions {
    if (!this.options) throw errors.ssoNotConfigured();
    return this.options;
  }

  private async discover(): Promise<oidc.Configuration> {
    const options = this.settings();
    if (!this.configuration) {
      const issuer = new URL(options.issuer);
      const plainHttp = issuer.protocol === 'http:';
      const execute = [
        // Off by default for the code flow (TLS vouches for the token endpoint): on, the ID token's
        // signature is checked too, against the provider's published keys.
        oidc.enableNonRepudiationChecks,
        ...(plainHttp && (options.allowHttp || isLoopback(issuer)) ? [oidc.allowInsecureRequests] : []),
      ];
      const pending = oidc.discovery(
        issuer,
        options.clientId,
        undefined,
        options.clientSecret === undefined ? oidc.None() : oidc.ClientSecretPost(options.clientSecret),
        { execute, timeout: 10 },
      );
      this.configuration = pending;
      pending.catch(() => {
        // Read again at the next sign-in.
        if (this.configuration === pending) this.configuration = null;
      });
    }
    try {
      return await this.configuration;
    } catch (error) {
      this.log.warn({ err: error, issuer: options.issuer }, 'could not read the OpenID provider');
      throw errors.ssoUnavailable();
    }
  }

  /** What the sign-in page shows: whether SSO is on, and the provider's name for its button. */
  get providerName(): string | null {
    return this.options?.providerName ?? null;
  }

  /** Starts a sign-in: the provider's URL to send the browser to, and the flow for its cookie. */
  async start(): Promise<{ url: string; flow: string }> {
    const options = this.settings();
    const configuration = await this.discover();
    const flow: Flow = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier: oidc.randomPKCECodeVerifier(),
    };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: options.redirectUrl,
      scope: options.scopes,
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, flow: encodeFlow(flow) };
  }

  /**
   * Ends a sign-in at the callback: exchanges the code, checks the ID token, decides who is let in,
   * finds or creates the user, sets their roles from their groups and opens a session. `query` is
   * the callback's query string, as the provider sent it.
   */
  async finish(query: string, flowCookie: string | undefined, origin: SignInOrigin): Promise<SsoOutcome> {
    const options = this.settings();
    const flow = decodeFlow(flowCookie);
    if (!flow) {
      await this.audit('anonymous', { reason: 'no_flow' });
      return { status: 'failed', error: errors.ssoFailed(), counted: true };
    }
    const configuration = await this.discover();
    // The URL the provider redirected to: the configured one (a proxy may have changed the host the
    // server sees), with the provider's parameters.
    const current = new URL(options.redirectUrl);
    current.search = query;
    let claims: oidc.IDToken;
    try {
      const tokens = await oidc.authorizationCodeGrant(
        configuration,
        current,
        { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce },
        { redirect_uri: options.redirectUrl },
      );
      const idClaims = tokens.claims();
      if (!idClaims) throw new Error('no ID token');
      claims = idClaims;
    } catch (error) {
      // openid-client's message is general; its cause says which claim or parameter failed.
      const cause = (error as { cause?: unknown }).cause;
      const detail = [error, cause]
        .filter((part): part is Error => part instanceof Error)
        .map((part) => part.message)
        .join(': ');
      const code = (error as { code?: unknown }).code;
      this.log.info({ err: error }, 'single sign-on failed a check');
      await this.audit('anonymous', {
        reason: 'check',
        detail: detail.slice(0, 500) || String(error),
        ...(typeof code === 'string' && { code }),
      });
      return { status: 'failed', error: errors.ssoFailed(), counted: true };
    }

    const identity = { issuer: claims.iss, subject: claims.sub };
    const admission = admit(claims as Record<string, unknown>, options.policy);
    if (admission.status === 'refused') {
      await this.refuseKnown(identity, admission.reason, admission.detail);
      return this.refusal(admission.reason);
    }
    const { username, grants, groups } = admission;

    let user: UserRow;
    try {
      const outcome = await this.repos.transaction(async (repos) => {
        let found = await repos.users.findByIdentity(identity.issuer, identity.subject);
        const created = found === undefined;
        if (!found) {
          // A local user of that name is someone else as far as Overair knows: never taken over.
          if (await repos.users.findByName(username)) return { status: 'name_taken' as const };
          found = await repos.users.insert({
            username,
            // Malformed on purpose: verifyPassword never matches it (src/crypto/passwords.ts).
            password_hash: NO_PASSWORD,
            // Nothing until the grants below are applied, in this same transaction.
            server_admin: 0,
            all_apps_role: null,
            oidc_issuer: identity.issuer,
            oidc_subject: identity.subject,
          });
          await repos.audit.record({
            actor: 'overair',
            action: 'user.create',
            target: found.username,
            detail: { sso: true, issuer: identity.issuer, subject: identity.subject },
          });
        }
        const previous = await repos.grants.appRoles({ userId: found.id });
        const before = describeGrants(grantsOfRow(found, previous));
        // Roles are set at every sign-in: whoever left a group loses its role now.
        const stored = await applySsoGrants(repos, found.id, grants);
        const fresh = (await repos.users.findById(found.id))!;
        const roles = describeGrants(stored);
        await repos.audit.record({
          actor: `user:${fresh.username}`,
          action: 'sso.sign_in',
          target: fresh.username,
          detail: {
            issuer: identity.issuer,
            subject: identity.subject,
            groups: groups.slice(0, 50),
            roles,
            ...(created ? { created: true } : before !== roles && { previous_roles: before }),
          },
        });
        return { status: 'ok' as const, user: fresh };
      });
      if (outcome.status === 'name_taken') {
        await this.audit('anonymous', { reason: 'name_taken', username, ...identity });
        return { status: 'failed', error: errors.ssoNameTaken({ username }), counted: false };
      }
      user = outcome.user;
    } catch (error) {
      // Two first sign-ins of one person at once: the other one created the user.
      if (isUniqueViolation(error)) return { status: 'failed', error: errors.ssoFailed(), counted: false };
      throw error;
    }
    const session = await this.sessions.openForUser(user, origin);
    return { status: 'ok', session, user };
  }

  private refusal(reason: SsoRefusal): SsoOutcome {
    return {
      status: 'failed',
      error: errors.ssoRefused({ reason: REFUSALS[reason] }),
      counted: false,
      reason,
    };
  }

  /**
   * A refused identity that has a user here (removed from the groups since their last sign-in):
   * their sessions end at once, and the refusal is audited under their name.
   */
  private async refuseKnown(
    identity: { issuer: string; subject: string },
    reason: SsoRefusal,
    detail: string,
  ): Promise<void> {
    const user = await this.repos.users.findByIdentity(identity.issuer, identity.subject);
    const ended = user ? await this.repos.sessions.deleteForUser(user.id) : 0;
    await this.audit(user ? `user:${user.username}` : 'anonymous', {
      reason,
      detail,
      ...identity,
      ...(user && { sessions_ended: ended }),
    });
  }

  private async audit(actor: string, detail: Record<string, unknown>): Promise<void> {
    await this.repos.audit.record({
      actor,
      action: 'sso.refused',
      target: this.options?.issuer ?? null,
      detail,
    });
  }
}

/** Not a password hash: the password of a single sign-on user, which nothing matches. */
const NO_PASSWORD = 'sso:no-password';
