import type { Context, Hono } from 'hono';
import { errors, OverairError } from '../errors.js';
import type { Services } from '../services/index.js';
import { actorOf } from '../services/sessions.js';
import type { AdminGuard } from './admin-routes.js';
import { countedAttempt, type AdminEnv } from './auth.js';
import type { SessionCookies } from './session-cookie.js';

/** Query strings longer than this are no provider's answer: refused before any work. */
const MAX_CALLBACK_QUERY = 8192;

/**
 * Single sign-on's routes (docs/sso.md), registered before the failed-login limit's middleware so
 * that every answer, a refusal included, is a redirect the browser follows back to the dashboard
 * (which shows `sso_error`) rather than a JSON page. The callback counts its own failed checks.
 */
export function registerSsoRoutes(
  api: Hono<AdminEnv>,
  services: Services,
  cookies: SessionCookies,
  guard: Pick<AdminGuard, 'limiter'>,
) {
  /**
   * Back to the dashboard's sign-in page, which says what went wrong in its own words: the URL
   * carries only a code and a reason key, never text another site could put in front of the user.
   */
  const backWithError = (c: Context<AdminEnv>, error: OverairError, reason?: string) => {
    cookies.clearSsoFlow(c);
    const query = new URLSearchParams({ sso_error: error.code, ...(reason !== undefined && { reason }) });
    return c.redirect(`/?${query}`, 302);
  };

  // How one may sign in here: the sign-in page shows the SSO button and the password form by it.
  api.get('/session/methods', (c) =>
    c.json({
      password: services.passwordSignIn,
      sso: services.sso.providerName === null ? null : { name: services.sso.providerName },
    }),
  );

  api.get('/session/oidc', async (c) => {
    try {
      const { url, flow } = await services.sso.start();
      cookies.setSsoFlow(c, flow);
      c.header('Cache-Control', 'no-store');
      return c.redirect(url, 302);
    } catch (error) {
      if (error instanceof OverairError) return backWithError(c, error);
      throw error;
    }
  });

  api.get('/session/oidc/callback', async (c) => {
    c.header('Cache-Control', 'no-store');
    try {
      const query = new URL(c.req.url).search;
      if (query.length > MAX_CALLBACK_QUERY) throw errors.ssoFailed();
      const flow = cookies.readSsoFlow(c);
      const origin = { userAgent: c.req.header('user-agent'), address: c.get('address') };
      const outcome = await countedAttempt(
        c,
        guard.limiter,
        () => services.sso.finish(query, flow, origin),
        (result) => result.status === 'failed' && result.counted,
      );
      if (outcome.status === 'failed') return backWithError(c, outcome.error, outcome.reason);
      const opened = outcome.session;
      // The session this browser had, if any, ends: one browser, one session.
      const previous = cookies.read(c);
      if (previous !== undefined) {
        const found = await services.sessions.resolve(previous);
        if (found.status === 'ok') await services.sessions.end(found.session.id);
      }
      c.set('actor', actorOf(opened.principal));
      cookies.clearSsoFlow(c);
      cookies.set(c, opened.secret, opened.expiresAt);
      return c.redirect('/', 302);
    } catch (error) {
      if (error instanceof OverairError) return backWithError(c, error);
      throw error;
    }
  });
}
