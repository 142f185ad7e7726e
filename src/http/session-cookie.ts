import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

/** The dashboard session cookie's name (the dashboard relies on it). */
const SESSION_COOKIE = 'overair_session';

/** A single sign-on under way (src/services/sso.ts): sent only to its callback, for ten minutes. */
const SSO_FLOW_COOKIE = 'overair_sso_flow';
const SSO_FLOW_PATH = '/api/v1/session/oidc';
const SSO_FLOW_SECONDS = 600;

/**
 * Reads, sets and clears the session cookie: HttpOnly (scripts never see it), SameSite=Strict (never
 * sent with a request started by another site), Path=/, and Secure when the dashboard is reached over
 * https: the request itself, the proxy's X-Forwarded-Proto when OVERAIR_TRUST_PROXY is on, or an
 * https OVERAIR_PUBLIC_URL.
 */
export class SessionCookies {
  constructor(private readonly options: { publicUrl?: string; trustProxy: boolean }) {}

  read(c: Context): string | undefined {
    return getCookie(c, SESSION_COOKIE);
  }

  set(c: Context, secret: string, expiresAt: string): void {
    const maxAge = Math.max(0, Math.floor((Date.parse(expiresAt) - Date.now()) / 1000));
    setCookie(c, SESSION_COOKIE, secret, { ...this.attributes(c), maxAge });
  }

  clear(c: Context): void {
    deleteCookie(c, SESSION_COOKIE, this.attributes(c));
  }

  /**
   * The single sign-on flow cookie is SameSite=Lax, not Strict: the provider's redirect back to the
   * callback is a navigation started by another site, which a Strict cookie would not follow.
   */
  setSsoFlow(c: Context, flow: string): void {
    setCookie(c, SSO_FLOW_COOKIE, flow, this.ssoFlowAttributes(c));
  }

  readSsoFlow(c: Context): string | undefined {
    return getCookie(c, SSO_FLOW_COOKIE);
  }

  clearSsoFlow(c: Context): void {
    deleteCookie(c, SSO_FLOW_COOKIE, this.ssoFlowAttributes(c));
  }

  private ssoFlowAttributes(c: Context) {
    return {
      path: SSO_FLOW_PATH,
      httpOnly: true,
      sameSite: 'Lax',
      secure: this.isSecure(c),
      maxAge: SSO_FLOW_SECONDS,
    } as const;
  }

  private attributes(c: Context) {
    return { path: '/', httpOnly: true, sameSite: 'Strict', secure: this.isSecure(c) } as const;
  }

  private isSecure(c: Context): boolean {
    if (this.options.publicUrl?.startsWith('https:')) return true;
    if (new URL(c.req.url).protocol === 'https:') return true;
    if (!this.options.trustProxy) return false;
    return c.req.header('x-forwarded-proto')?.split(',').at(-1)?.trim().toLowerCase() === 'https';
  }
}
