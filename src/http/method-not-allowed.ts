import type { Context, Hono } from 'hono';
import { errorBody, errors } from '../errors.js';
import { TrieRouter } from 'hono/router/trie-router';

/**
 * The methods each path has, derived from the app's own routes (not a list kept by hand, which
 * would drift from them): for answering a wrong method with 405 and an Allow header instead of a
 * 404 (RFC 9110 §15.5.6). Middleware (method ALL) is left out; pass the routes before any catch-all
 * (the dashboard's GET of every path), or every path would seem to have GET.
 */
export function allowedMethods(routes: Hono['routes']): (path: string) => string[] {
  // One router keyed on a single method, with each route's method as its "handler": matching a path
  // then yields the methods of every route whose pattern matches it, with Hono's own matching.
  const router = new TrieRouter<string>();
  for (const route of routes) {
    if (route.method !== 'ALL') router.add('GET', route.path, route.method);
  }
  return (path) => {
    const methods = new Set(router.match('GET', path)[0].map(([method]) => method));
    // Hono answers HEAD with the GET route.
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

/** The 405 of a wrong method on a known path: Allow, and the JSON {error, message} of every error. */
export function methodNotAllowed(c: Context, allow: string[]): Response {
  const refused = errors.methodNotAllowed({
    method: c.req.method,
    path: c.req.path,
    allow: allow.join(', '),
  });
  return c.json(errorBody(refused), refused.status, { Allow: allow.join(', ') });
}
