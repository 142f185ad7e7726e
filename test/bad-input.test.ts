/**
 * Bad input across every route of a real server: each answer must be a 4xx with a JSON
 * {error, message} body (never a 500, a crash, a hang or non-JSON), and nothing may be written.
 *
 * Exceptions, all asserted exactly:
 * - POST /updates errors also carry kind:"failed" (docs/protocol.md §0.1).
 * - Channel get (PUT /channel_self) and list (GET /channel_self) answer semantic errors (unknown app,
 *   no channel) with HTTP 200 + {error, message}: Android drops the body of a non-2xx answer to those
 *   two calls (docs/protocol.md §0.4/§0.5). Malformed input to them is still a 400.
 * - POST /stats with an array body (a plugin batch) answers 200 and reports each bad event by index
 *   (src/http/device-routes.ts), so a batch of only bad events is {status:"ok", results:[{status:"error",
 *   index, error, message}, …]}. A body that is not JSON at all is still a 400.
 * - HEAD answers carry no body: only the status is checked.
 * - "Nothing may be written" excludes the audit entry every admin request leaves (action
 *   http.request, src/http/auth.ts): those are checked apart, one per admin request sent, none
 *   recording a success. The failed-login limit is off here (hundreds of refused requests come
 *   from one address); test/admin-security.test.ts covers it.
 *
 * Requests go through node:http, not fetch, so that paths reach the server exactly as written
 * (fetch would normalise "..", "%2e%2e" and friends away).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  VECTORS,
  deviceInfo,
  startTestServer,
  uploadBundle,
  type TestServer,
} from './helpers/server.js';
import { REQUEST_AUDIT_ACTION } from '../src/http/auth.js';
import { runSql, tableNames } from './helpers/sql.js';
import { stagingEntries, storedBlobs } from './helpers/stored.js';
import { TEST_BACKEND } from './helpers/backends.js';

const APP = 'com.example.app';
/** An app created without any channel: "no channel" errors. */
const EMPTY_APP = 'com.example.empty';
const UNKNOWN_APP = 'com.example.unknown';
/** Not the default channel and closed to self-assignment. */
const PRIVATE = 'private';
const SEED_VERSION = '1.0.0';
const NEW_VERSION = '2.0.0';
const DEVICE = '6f1e2a4c-3b5d-4e6f-8a9b-0c1d2e3f4a5b';
/** The only dashboard user, an admin (so it cannot be deleted). */
const USER = 'operator';
const USER_PASSWORD = 'operator-password-1';
const MAX_UPLOAD = 64 * 1024;
const MAX_JSON = 1024 * 1024;
const HUGE = 'a'.repeat(100_000);
/** Long enough to break every length limit, short enough for a request line (Node caps headers at 16 KiB). */
const LONG_IN_URL = 'a'.repeat(5_000);
const ZERO_SHA = '0'.repeat(64);
/** The suite's scale-out run keeps bundles in S3 (test/helpers/backends.ts). */
const BUNDLES_IN_S3 = TEST_BACKEND === 'postgres';

// ---------------------------------------------------------------------------------------------
// Fixtures filled in by beforeAll; cases read them lazily.

interface Fixtures {
  seedZip: Buffer;
  seedSha: string;
  newZip: Buffer;
  readToken: string;
  readTokenId: number;
  publishToken: string;
  badZips: Record<string, Buffer>;
  /** The cookie of a dashboard session of USER, opened before the snapshot. */
  sessionCookie: string;
}
const fx = {} as Fixtures;

// ---------------------------------------------------------------------------------------------
// Cases

type Auth = 'admin' | 'read' | 'publish' | 'none' | { header: string };
type Lazy<T> = T | (() => T);
/** error: 4xx {error,message}; updates: + kind:"failed"; soft: HTTP 200 {error,message}; batch: stats array; head: no body. */
/** 'bytes': a file served as it is (a download), not JSON. */
type Shape = 'error' | 'updates' | 'soft' | 'batch' | 'head' | 'bytes';

interface Case {
  name: string;
  method: string;
  /** Request target sent verbatim (already percent-encoded where wanted). */
  path: Lazy<string>;
  auth?: Auth;
  body?: Lazy<string | Buffer>;
  contentType?: string;
  /** Sent with Transfer-Encoding: chunked instead of a Content-Length. */
  chunked?: boolean;
  headers?: Lazy<Record<string, string>>;
  status: number | number[];
  /** Accepted error codes; any string when absent. */
  error?: string | string[];
  shape?: Shape;
  /** Number of events of a stats batch (shape "batch"). */
  batch?: number;
}

interface Group {
  name: string;
  cases: Case[];
}

const groups: Group[] = [];
const group = (name: string, cases: Case[]) => groups.push({ name, cases });

const json = (value: unknown) => JSON.stringify(value);
const enc = encodeURIComponent;
const show = (value: unknown): string => {
  if (typeof value === 'string') return value.length > 40 ? `string(${value.length})` : JSON.stringify(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};

/** Bodies that are not JSON at all. */
const MALFORMED = [
  '{',
  '{"app_id":',
  "{'app_id':'x'}",
  '{"a":1}}',
  'nul',
  '[1,]',
  'undefined',
  '\u0000',
  '<xml/>',
  'app_id=x&device_id=y',
  '\uFEFF{',
];
/** JSON of the wrong top-level type for an object body. */
const WRONG_TOP: unknown[] = [[], [{}], 'a string', 42, null, true];
/** Wrong-typed values; the one of the field's own type is skipped. */
const WRONG_TYPES: Array<[type: string, value: unknown]> = [
  ['string', 'not-valid-as-this-type'],
  ['number', 42],
  ['object', { a: 1 }],
  ['array', ['x']],
  ['null', null],
  ['boolean', true],
];
/** Path-like and otherwise unsafe identifiers. */
const PATH_LIKE = [
  '../../etc/passwd',
  'a/b',
  '..',
  '%2e%2e%2f',
  'C:\\x',
  'a\u0000b',
  'a\nb',
  '/etc/passwd',
  '.hidden',
  '-x',
  'a b',
  '',
];
const RESERVED = ['builtin', 'unknown', 'BUILTIN', 'Unknown'];
const BAD_SHA = [
  'abc',
  'g'.repeat(64),
  '0'.repeat(63),
  '0'.repeat(65),
  `${'0'.repeat(63)} `,
  `sha256:${'0'.repeat(64)}`,
];
const BAD_URL = [
  'javascript:alert(1)',
  'ftp://cdn.example.com/b.zip',
  'file:///etc/passwd',
  'data:application/zip;base64,UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==',
  'not a url',
  '//cdn.example.com/b.zip',
  `https://cdn.example.com/${'a'.repeat(3000)}.zip`,
];

/** What a field accepts: its JSON type, and which special checks apply. */
interface Field {
  type: 'string' | 'boolean' | 'number' | 'flag';
  required?: boolean;
  /** An identifier: path-like strings must be refused. */
  id?: boolean;
  /** "" is valid (skip it in the path-like values). */
  emptyOk?: boolean;
  /** null is valid. */
  nullOk?: boolean;
  /** A version name: reserved names must be refused (except those listed). */
  version?: { allowed?: string[] };
}

interface JsonRoute {
  label: string;
  method: string;
  path: string;
  auth?: Auth;
  /** A valid body; every case breaks exactly one thing in it. */
  base: Record<string, unknown>;
  fields: Record<string, Field>;
  shape?: Shape;
  /** Answer to an empty body when it is not the usual 400 invalid_json. */
  empty?: { status: number; error: string };
  /** Answer to a body of unknown fields only when it is not the usual 400 invalid_request. */
  unknownOnly?: { status: number; error: string };
  /** The array top-level types are handled elsewhere (stats batches). */
  arrayIsValid?: boolean;
}

/** Malformed, empty, wrong top-level, oversized, and one case per field and way of being wrong. */
function jsonRouteCases(route: JsonRoute): Case[] {
  const base: Omit<Case, 'name' | 'status'> = {
    method: route.method,
    path: route.path,
    auth: route.auth,
    shape: route.shape,
    contentType: 'application/json',
  };
  const bad = (name: string, body: unknown): Case => ({
    ...base,
    name,
    body: json(body),
    status: 400,
    error: 'invalid_request',
  });
  const cases: Case[] = [];
  for (const text of MALFORMED)
    cases.push({
      ...base,
      name: `malformed JSON ${show(text)}`,
      body: text,
      status: 400,
      error: 'invalid_json',
    });
  for (const text of ['', '  \n ']) {
    cases.push({
      ...base,
      name: `empty body ${show(text)}`,
      body: text,
      status: route.empty?.status ?? 400,
      error: route.empty?.error ?? 'invalid_json',
    });
  }
  for (const value of WRONG_TOP) {
    if (route.arrayIsValid && Array.isArray(value)) continue;
    cases.push(bad(`top-level ${show(value)}`, value));
  }
  const oversized = { ...route.base, padding: 'x'.repeat(MAX_JSON) };
  cases.push({
    ...base,
    name: 'body over 1 MiB',
    body: json(oversized),
    status: 413,
    error: 'payload_too_large',
  });
  cases.push({
    ...base,
    name: 'body over 1 MiB, chunked',
    body: json(oversized),
    chunked: true,
    status: 413,
    error: 'payload_too_large',
  });
  const unknownOnly = (name: string, body: string): Case => ({
    ...base,
    name,
    body,
    status: route.unknownOnly?.status ?? 400,
    error: route.unknownOnly?.error ?? 'invalid_request',
  });
  cases.push(unknownOnly('unknown fields only', json({ hello: 'world' })));
  // Own "__proto__" key of JSON.parse: must not become the prototype that supplies the fields.
  cases.push(unknownOnly('fields only under __proto__', `{"__proto__": ${json(route.base)}}`));
  cases.push(
    unknownOnly('fields only under constructor.prototype', json({ constructor: { prototype: route.base } })),
  );
  // Deep nesting: a stack overflow in JSON.parse must still be a 400, not a 500.
  const depth = 100_000;
  cases.push({
    ...unknownOnly('deeply nested object', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
    error: route.unknownOnly ? route.unknownOnly.error : ['invalid_json', 'invalid_request'],
  });

  for (const [name, field] of Object.entries(route.fields)) {
    const without = { ...route.base };
    delete without[name];
    if (field.required) cases.push(bad(`${name} missing`, without));
    for (const [type, value] of WRONG_TYPES) {
      if (type === field.type || (type === 'string' && field.type === 'flag')) continue;
      if (type === 'null' && field.nullOk) continue;
      if (type === 'boolean' && field.type === 'flag') continue;
      cases.push(bad(`${name} as ${type}`, { ...route.base, [name]: value }));
    }
    if (field.type === 'flag') cases.push(bad(`${name} as "yes"`, { ...route.base, [name]: 'yes' }));
    if (field.type === 'string' || field.type === 'flag') {
      cases.push(bad(`${name} oversized`, { ...route.base, [name]: HUGE }));
      // PostgreSQL's text cannot hold NUL: refused up front, on every backend.
      cases.push(bad(`${name} with NUL`, { ...route.base, [name]: 'a\u0000b' }));
    }
    if (field.id) {
      for (const value of PATH_LIKE) {
        if (value === '' && field.emptyOk) continue;
        cases.push(bad(`${name} path-like ${show(value)}`, { ...route.base, [name]: value }));
      }
    }
    if (field.version) {
      for (const value of RESERVED) {
        if (field.version.allowed?.includes(value)) continue;
        cases.push(bad(`${name} reserved ${show(value)}`, { ...route.base, [name]: value }));
      }
    }
  }
  return cases;
}

/** A semantic error (unknown app, channel…) on a JSON route. */
function semantic(
  route: JsonRoute,
  name: string,
  body: unknown,
  status: number,
  error: string,
  shape?: Shape,
): Case {
  return {
    name,
    method: route.method,
    path: route.path,
    auth: route.auth,
    body: json(body),
    contentType: 'application/json',
    status,
    error,
    shape: shape ?? route.shape,
  };
}

// --- Device routes --------------------------------------------------------------------------

const INFO_FIELDS: Record<string, Field> = {
  app_id: { type: 'string', required: true, id: true },
  device_id: { type: 'string', required: true, id: true },
  platform: { type: 'string' },
  version_name: { type: 'string' },
  version_build: { type: 'string' },
  version_code: { type: 'string' },
  version_os: { type: 'string' },
  plugin_version: { type: 'string' },
  custom_id: { type: 'string' },
  defaultChannel: { type: 'string' },
  is_emulator: { type: 'flag' },
  is_prod: { type: 'flag' },
  key_id: { type: 'string' },
};
const info = deviceInfo({ app_id: APP, device_id: DEVICE });
const statsEvent = {
  ...info,
  action: 'app_moved_to_foreground',
  version_name: SEED_VERSION,
  old_version_name: '',
};

const updatesRoute: JsonRoute = {
  label: 'POST /updates',
  method: 'POST',
  path: '/updates',
  base: info,
  fields: INFO_FIELDS,
  shape: 'updates',
};
const statsRoute: JsonRoute = {
  label: 'POST /stats (object)',
  method: 'POST',
  path: '/stats',
  base: statsEvent,
  fields: {
    ...INFO_FIELDS,
    action: { type: 'string', required: true },
    old_version_name: { type: 'string' },
  },
  arrayIsValid: true,
};
const channelSetRoute: JsonRoute = {
  label: 'POST /channel_self (set)',
  method: 'POST',
  path: '/channel_self',
  base: { ...info, channel: 'production' },
  fields: { ...INFO_FIELDS, channel: { type: 'string', required: true, id: true } },
};
const channelGetRoute: JsonRoute = {
  label: 'PUT /channel_self (get)',
  method: 'PUT',
  path: '/channel_self',
  base: info,
  fields: INFO_FIELDS,
};
const channelUnsetRoute: JsonRoute = {
  label: 'DELETE /channel_self (unset)',
  method: 'DELETE',
  path: '/channel_self',
  base: info,
  fields: INFO_FIELDS,
  // No body: the info object is read from the (here empty) query instead.
  empty: { status: 400, error: 'invalid_request' },
};
const checkRoute: JsonRoute = {
  label: 'POST /check',
  method: 'POST',
  path: '/check',
  base: { app_id: APP, channel: 'production', version: '0.9.0', native_version: '1.0.0' },
  fields: {
    app_id: { type: 'string', required: true, id: true },
    channel: { type: 'string', id: true, emptyOk: true },
    version: { type: 'string', required: true, id: true, version: { allowed: ['builtin'] } },
    native_version: { type: 'string', id: true },
  },
};

for (const route of [
  updatesRoute,
  statsRoute,
  channelSetRoute,
  channelGetRoute,
  channelUnsetRoute,
  checkRoute,
]) {
  group(route.label, jsonRouteCases(route));
}

group('device routes: unknown apps and channels', [
  semantic(updatesRoute, 'unknown app', { ...info, app_id: UNKNOWN_APP }, 404, 'app_not_found'),
  semantic(statsRoute, 'unknown app', { ...statsEvent, app_id: UNKNOWN_APP }, 404, 'app_not_found'),
  semantic(
    channelSetRoute,
    'unknown app',
    { ...info, app_id: UNKNOWN_APP, channel: 'production' },
    404,
    'app_not_found',
  ),
  semantic(channelSetRoute, 'unknown channel', { ...info, channel: 'nope' }, 404, 'channel_not_found'),
  semantic(
    channelSetRoute,
    'app without channels',
    { ...info, app_id: EMPTY_APP, channel: 'production' },
    404,
    'channel_not_found',
  ),
  semantic(
    channelSetRoute,
    'private channel',
    { ...info, channel: PRIVATE },
    403,
    'channel_self_set_not_allowed',
  ),
  semantic(
    channelSetRoute,
    'private channel, old plugin',
    { ...info, channel: PRIVATE, plugin_version: '6.0.0' },
    403,
    'channel_self_set_not_allowed',
  ),
  // Channel get: semantic errors on HTTP 200 (docs/protocol.md §0.4).
  semantic(channelGetRoute, 'unknown app', { ...info, app_id: UNKNOWN_APP }, 200, 'app_not_found', 'soft'),
  semantic(
    channelGetRoute,
    'app without channels',
    { ...info, app_id: EMPTY_APP },
    200,
    'channel_not_found',
    'soft',
  ),
  semantic(
    channelGetRoute,
    'app without channels, asks for one',
    { ...info, app_id: EMPTY_APP, defaultChannel: 'production' },
    200,
    'channel_not_found',
    'soft',
  ),
  semantic(channelUnsetRoute, 'unknown app', { ...info, app_id: UNKNOWN_APP }, 404, 'app_not_found'),
  semantic(checkRoute, 'unknown app', { app_id: UNKNOWN_APP, version: '0.9.0' }, 404, 'app_not_found'),
  {
    name: 'DELETE /channel_self: unknown app in the query',
    method: 'DELETE',
    path: `/channel_self?${new URLSearchParams({ app_id: UNKNOWN_APP, device_id: DEVICE })}`,
    status: 404,
    error: 'app_not_found',
  },
  {
    name: 'DELETE /channel_self: bad device id in the query',
    method: 'DELETE',
    path: `/channel_self?${new URLSearchParams({ app_id: APP, device_id: '../x' })}`,
    status: 400,
    error: 'invalid_request',
  },
]);

// Stats batches: each bad event is reported by index, the answer is 200 and nothing is stored.
{
  const badEvents: Array<[string, unknown]> = [];
  for (const value of [1, 'x', null, [], true]) badEvents.push([`event ${show(value)}`, value]);
  badEvents.push(['event {}', {}]);
  badEvents.push(['unknown app', { ...statsEvent, app_id: UNKNOWN_APP }]);
  for (const [name, field] of Object.entries(statsRoute.fields)) {
    if (field.required) {
      const without: Record<string, unknown> = { ...statsEvent };
      delete without[name];
      badEvents.push([`${name} missing`, without]);
    }
    badEvents.push([`${name} as object`, { ...statsEvent, [name]: { a: 1 } }]);
    // 1000 characters break every limit and keep the whole batch under 1 MiB.
    if (field.type === 'string')
      badEvents.push([`${name} oversized`, { ...statsEvent, [name]: 'x'.repeat(1000) }]);
    if (field.id) badEvents.push([`${name} path-like`, { ...statsEvent, [name]: '../../etc/passwd' }]);
  }
  const batch = (name: string, events: unknown[]): Case => ({
    name,
    method: 'POST',
    path: '/stats',
    body: json(events),
    contentType: 'application/json',
    status: 200,
    shape: 'batch',
    batch: events.length,
  });
  group('POST /stats (array)', [
    ...badEvents.map(([name, event]) => batch(`[${name}]`, [event])),
    batch(
      'every bad event at once',
      badEvents.map(([, event]) => event),
    ),
    {
      name: 'malformed batch',
      method: 'POST',
      path: '/stats',
      body: '[{"action":"x"},',
      status: 400,
      error: 'invalid_json',
    },
    {
      name: 'batch over 1 MiB',
      method: 'POST',
      path: '/stats',
      body: json(Array.from({ length: 2000 }, () => ({ ...statsEvent, custom_id: 'x'.repeat(600) }))),
      contentType: 'application/json',
      status: 413,
      error: 'payload_too_large',
    },
  ]);
}

// Channel list: the info object comes as query parameters.
{
  const query: Record<string, string> = Object.fromEntries(
    Object.entries(info).map(([key, value]) => [key, String(value)]),
  );
  const list = (
    name: string,
    params: Record<string, string>,
    status = 400,
    error = 'invalid_request',
    shape?: Shape,
  ): Case => ({
    name,
    method: 'GET',
    path: `/channel_self?${new URLSearchParams(params)}`,
    status,
    error,
    shape,
  });
  const cases: Case[] = [list('no query', {})];
  for (const [name, field] of Object.entries(INFO_FIELDS)) {
    if (field.required) {
      const without = { ...query };
      delete without[name];
      cases.push(list(`${name} missing`, without));
    }
    if (field.type === 'flag') cases.push(list(`${name} "yes"`, { ...query, [name]: 'yes' }));
    cases.push(list(`${name} oversized`, { ...query, [name]: LONG_IN_URL }));
    if (field.id)
      for (const value of PATH_LIKE)
        cases.push(list(`${name} path-like ${show(value)}`, { ...query, [name]: value }));
  }
  // Semantic errors on HTTP 200 (docs/protocol.md §0.5).
  cases.push(list('unknown app', { ...query, app_id: UNKNOWN_APP }, 200, 'app_not_found', 'soft'));
  cases.push({ name: 'HEAD, no query', method: 'HEAD', path: '/channel_self', status: 400 });
  group('GET /channel_self (list)', cases);
}

// --- Download ---------------------------------------------------------------------------------

{
  const cases: Case[] = [];
  const names: Array<[string, Lazy<string>]> = [
    ['unknown sha256', ZERO_SHA],
    ['unknown sha256.zip', `${ZERO_SHA}.zip`],
    ['short hex', 'abc'],
    ['non-hex', 'g'.repeat(64)],
    ['seed sha256.zip.zip', () => `${fx.seedSha}.zip.zip`],
    ['seed sha256 + NUL', () => `${fx.seedSha}%00`],
    ['seed sha256 + newline', () => `${fx.seedSha}%0A`],
    ['seed sha256 + /..', () => `${fx.seedSha}%2F..`],
    ['../../etc/passwd', enc('../../etc/passwd')],
    ['%2e%2e%2f literal', enc('%2e%2e%2f')],
    ['C:\\x', enc('C:\\x')],
    ['.hidden', '.tmp'],
    ['oversized', LONG_IN_URL],
  ];
  for (const method of ['GET', 'HEAD']) {
    for (const [name, file] of names) {
      cases.push({
        name: `${method} ${name}`,
        method,
        path: () => `/download/${typeof file === 'function' ? file() : file}`,
        status: 404,
        error: 'bundle_not_found',
      });
    }
    for (const [name, raw] of [
      ['..', '..'],
      ['%2e%2e', '%2e%2e'],
      ['a/b', 'a/b'],
      ['empty', ''],
    ]) {
      cases.push({
        name: `${method} ${name}`,
        method,
        path: `/download/${raw}`,
        status: 404,
        error: ['not_found', 'bundle_not_found'],
      });
    }
    for (const range of ['bytes=999999-', 'bytes=-0']) {
      cases.push({
        name: `${method} seed, unsatisfiable Range ${range}`,
        method,
        path: () => `/download/${fx.seedSha}`,
        headers: { range },
        // From S3 storage the route redirects to the bucket, which judges the range itself.
        status: BUNDLES_IN_S3 ? 302 : 416,
      });
    }
    // An invalid range (first byte after the last) is ignored: the whole file (RFC 9110 §14.2).
    cases.push({
      name: `${method} seed, invalid Range bytes=5-2`,
      method,
      path: () => `/download/${fx.seedSha}`,
      headers: { range: 'bytes=5-2' },
      status: BUNDLES_IN_S3 ? 302 : 200,
      shape: 'bytes',
    });
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    cases.push({
      name: `${method} seed`,
      method,
      path: () => `/download/${fx.seedSha}`,
      status: 405,
      error: 'method_not_allowed',
    });
  }
  group('/download/:file', cases);
}

// --- Admin API --------------------------------------------------------------------------------

type Scope = 'read' | 'publish' | 'admin';
interface AdminRoute {
  method: string;
  /** With :app, :version, :channel, :device, :token slots. */
  template: string;
  scope: Scope;
  body?: Lazy<string | Buffer>;
  contentType?: string;
  /** Slots whose unknown value is not an error (a device may be pinned before its first check). */
  unknownIsValid?: string[];
}

const zipBody = () => fx.newZip;
const ADMIN_ROUTES: AdminRoute[] = [
  { method: 'GET', template: '/whoami', scope: 'read' },
  { method: 'GET', template: '/apps', scope: 'read' },
  { method: 'POST', template: '/apps', scope: 'admin', body: json({ id: 'com.example.new' }) },
  { method: 'GET', template: '/apps/:app', scope: 'read' },
  { method: 'DELETE', template: '/apps/:app', scope: 'admin' },
  { method: 'GET', template: '/apps/:app/bundles', scope: 'read' },
  {
    method: 'POST',
    template: `/apps/:app/bundles/upload?version=${NEW_VERSION}`,
    scope: 'publish',
    body: zipBody,
    contentType: 'application/zip',
  },
  {
    method: 'POST',
    template: '/apps/:app/bundles',
    scope: 'publish',
    body: json({ version: NEW_VERSION, url: 'https://cdn.example.com/2.0.0.zip', sha256: 'ab'.repeat(32) }),
  },
  { method: 'GET', template: '/apps/:app/bundles/:version', scope: 'read' },
  { method: 'DELETE', template: '/apps/:app/bundles/:version', scope: 'publish' },
  { method: 'GET', template: '/apps/:app/channels', scope: 'read' },
  {
    method: 'POST',
    template: '/apps/:app/channels',
    scope: 'publish',
    body: json({ name: 'beta', version: SEED_VERSION }),
  },
  { method: 'GET', template: '/apps/:app/channels/:channel', scope: 'read' },
  {
    method: 'PATCH',
    template: '/apps/:app/channels/:channel',
    scope: 'publish',
    body: json({ allow_self_assign: true }),
  },
  { method: 'DELETE', template: '/apps/:app/channels/:channel', scope: 'admin' },
  {
    method: 'PUT',
    template: '/apps/:app/channels/:channel/bundle',
    scope: 'publish',
    body: json({ version: SEED_VERSION }),
  },
  { method: 'POST', template: '/apps/:app/channels/:channel/rollback', scope: 'publish', body: json({}) },
  { method: 'GET', template: '/apps/:app/channels/:channel/history', scope: 'read' },
  { method: 'GET', template: '/apps/:app/devices', scope: 'read' },
  { method: 'GET', template: '/apps/:app/devices/:device', scope: 'read' },
  // A live stream of server-sent events: only refusals are sent here (a valid request stays open).
  { method: 'GET', template: '/apps/:app/devices/:device/live', scope: 'read', unknownIsValid: ['device'] },
  {
    method: 'PUT',
    template: '/apps/:app/devices/:device/channel',
    scope: 'publish',
    body: json({ channel: 'production' }),
    unknownIsValid: ['device'],
  },
  { method: 'DELETE', template: '/apps/:app/devices/:device/channel', scope: 'publish' },
  { method: 'GET', template: '/tokens', scope: 'admin' },
  { method: 'POST', template: '/tokens', scope: 'admin', body: json({ name: 'escalated', scope: 'admin' }) },
  { method: 'DELETE', template: '/tokens/:token', scope: 'admin' },
  { method: 'GET', template: '/audit', scope: 'admin' },
  { method: 'GET', template: '/users', scope: 'admin' },
  {
    method: 'POST',
    template: '/users',
    scope: 'admin',
    body: json({ username: 'escalated', password: 'escalated-password', scope: 'admin' }),
  },
  { method: 'DELETE', template: '/users/:user', scope: 'admin' },
  {
    method: 'PUT',
    template: '/users/:user/password',
    scope: 'admin',
    body: json({ password: 'hijacked-pw-1' }),
  },
];

const SLOT_DEFAULTS: Record<string, () => string> = {
  app: () => APP,
  version: () => SEED_VERSION,
  channel: () => 'production',
  device: () => DEVICE,
  token: () => String(fx.readTokenId),
  user: () => USER,
};
const fill =
  (template: string, overrides: Record<string, string> = {}) =>
  () =>
    `/api/v1${template.replace(/:(app|version|channel|device|token|user)\b/g, (_, slot: string) => overrides[slot] ?? SLOT_DEFAULTS[slot]!())}`;
const slotsOf = (template: string) =>
  [...template.matchAll(/:(app|version|channel|device|token|user)\b/g)].map((m) => m[1]!);
const adminCase = (route: AdminRoute, name: string, rest: Partial<Case> & Pick<Case, 'status'>): Case => ({
  name: `${route.method} ${route.template}: ${name}`,
  method: route.method,
  path: fill(route.template),
  auth: 'admin',
  body: route.body,
  contentType: route.body === undefined ? undefined : (route.contentType ?? 'application/json'),
  ...rest,
});

// Missing, malformed and insufficient credentials on every admin route, with otherwise valid requests.
{
  const cases: Case[] = [];
  const unauthorized: Array<[string, Auth, string]> = [
    ['no Authorization', 'none', 'unauthorized'],
    ['wrong token', { header: 'Bearer oat_wrong-token-0123456789abcdef' }, 'invalid_token'],
    ['oversized token', { header: `Bearer ${'t'.repeat(8000)}` }, 'invalid_token'],
    [
      'Basic scheme',
      { header: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` },
      'unauthorized',
    ],
    ['Bearer without token', { header: 'Bearer' }, 'unauthorized'],
    ['token plus junk', { header: `Bearer ${ADMIN_TOKEN} junk` }, 'unauthorized'],
    ['token without scheme', { header: ADMIN_TOKEN }, 'unauthorized'],
    ['latin-1 token', { header: 'Bearer t\u00f6k\u00e9n' }, 'invalid_token'],
    ['admin token with a NUL-like suffix', { header: `Bearer ${ADMIN_TOKEN}%00` }, 'invalid_token'],
  ];
  for (const route of ADMIN_ROUTES) {
    for (const [name, auth, error] of unauthorized)
      cases.push(adminCase(route, name, { auth, status: 401, error }));
    if (route.method === 'GET')
      cases.push(adminCase(route, 'HEAD, no Authorization', { method: 'HEAD', auth: 'none', status: 401 }));
    if (route.scope !== 'read')
      cases.push(adminCase(route, 'read-scoped token', { auth: 'read', status: 403, error: 'forbidden' }));
    if (route.scope === 'admin') {
      cases.push(
        adminCase(route, 'publish-scoped token', { auth: 'publish', status: 403, error: 'forbidden' }),
      );
    }
  }
  cases.push({
    name: 'unknown admin route, no token',
    method: 'GET',
    path: '/api/v1/nope',
    status: 401,
    error: 'unauthorized',
  });
  group('admin auth', cases);
}

// Bad and unknown path parameters.
{
  const cases: Case[] = [];
  const segments: Array<[name: string, raw: string, status: number[], error: string[]]> = [
    ['../../etc/passwd', enc('../../etc/passwd'), [400], ['invalid_request']],
    ['a/b (encoded)', 'a%2Fb', [400], ['invalid_request']],
    // Dot segments and raw slashes change the route itself (the URL is normalised): no route, or a bad param.
    ['a/b (raw)', 'a/b', [400, 404], ['invalid_request', 'not_found']],
    ['..', '..', [400, 404], ['invalid_request', 'not_found']],
    ['%2e%2e', '%2e%2e', [400, 404], ['invalid_request', 'not_found']],
    ['%2e%2e%2f literal', enc('%2e%2e%2f'), [400], ['invalid_request']],
    ['C:\\x', enc('C:\\x'), [400], ['invalid_request']],
    ['NUL', 'a%00b', [400], ['invalid_request']],
    ['newline', 'a%0Ab', [400], ['invalid_request']],
    ['.hidden', '.hidden', [400], ['invalid_request']],
    ['lone %', '%', [400], ['invalid_request']],
    ['invalid UTF-8', '%ED%A0%80%FF', [400], ['invalid_request']],
    ['non-ASCII', enc('çà-日本'), [400], ['invalid_request']],
    ['oversized', 'a'.repeat(300), [400], ['invalid_request']],
  ];
  const unknown: Record<string, string> = {
    app: UNKNOWN_APP,
    version: '9.9.9',
    channel: 'nope',
    device: 'no-such-device',
    token: '99999',
    user: 'no-such-user',
  };
  const notFound = [
    'app_not_found',
    'bundle_not_found',
    'channel_not_found',
    'device_not_found',
    'token_not_found',
    'user_not_found',
  ];
  for (const route of ADMIN_ROUTES) {
    for (const slot of slotsOf(route.template)) {
      const at = (raw: string) => fill(route.template, { [slot]: raw });
      for (const [name, raw, status, error] of segments) {
        cases.push(adminCase(route, `${slot} ${name}`, { path: at(raw), status, error }));
      }
      if (slot === 'version') {
        for (const value of RESERVED)
          cases.push(
            adminCase(route, `version reserved ${value}`, {
              path: at(value),
              status: 400,
              error: 'invalid_request',
            }),
          );
      }
      if (slot === 'token') {
        for (const value of ['0', '-1', '1.5', 'abc', '1e400']) {
          cases.push(
            adminCase(route, `token id ${value}`, { path: at(value), status: 400, error: 'invalid_request' }),
          );
        }
      }
      if (!route.unknownIsValid?.includes(slot)) {
        cases.push(
          adminCase(route, `unknown ${slot}`, { path: at(unknown[slot]!), status: 404, error: notFound }),
        );
      }
    }
  }
  cases.push(
    adminCase(
      ADMIN_ROUTES.find((r) => r.template === '/tokens/:token')!,
      'last admin token',
      {
        path: '/api/v1/tokens/1',
        status: 409,
        error: 'last_admin_token',
      },
    ),
  );
  cases.push(
    adminCase(
      ADMIN_ROUTES.find((r) => r.template === '/users/:user')!,
      'last admin user',
      {
        status: 409,
        error: 'last_admin_user',
      },
    ),
  );
  group('admin path parameters', cases);
}

// Bad query strings on list routes.
{
  const cases: Case[] = [];
  const get = (
    route: string,
    params: Record<string, string>,
    status = 400,
    error = 'invalid_request',
  ): Case => ({
    name: `GET ${route}?${show(new URLSearchParams(params).toString())}`,
    method: 'GET',
    path: `/api/v1${route}?${new URLSearchParams(params)}`,
    auth: 'admin',
    status,
    error,
  });
  const LIMITS = ['0', '-1', 'abc', '501', '1.5', '', '1e400', 'Infinity'];
  const CURSORS = ['0', '-5', 'abc', '1.5', '1e400'];
  for (const route of [
    `/apps/${APP}/bundles`,
    `/apps/${APP}/channels/production/history`,
    '/audit',
    `/apps/${APP}/devices`,
  ]) {
    for (const limit of LIMITS) cases.push(get(route, { limit }));
  }
  for (const route of [`/apps/${APP}/bundles`, `/apps/${APP}/channels/production/history`, '/audit']) {
    for (const cursor of CURSORS) cases.push(get(route, { cursor }));
  }
  const b64 = (value: string) => Buffer.from(value).toString('base64url');
  for (const cursor of [
    '!!!',
    b64('[1,2]'),
    b64('null'),
    b64('{}'),
    b64('5'),
    b64('["a"]'),
    'x'.repeat(301),
  ]) {
    cases.push(get(`/apps/${APP}/devices`, { cursor }));
  }
  for (const value of PATH_LIKE.filter((v) => v !== '')) {
    cases.push(get(`/apps/${APP}/devices`, { channel: value }));
    cases.push(get('/audit', { app: value }));
  }
  cases.push(get(`/apps/${APP}/devices`, { version: 'v'.repeat(300) }));
  cases.push(get(`/apps/${APP}/devices`, { platform: 'p'.repeat(40) }));
  cases.push(get(`/apps/${UNKNOWN_APP}/devices`, {}, 404, 'app_not_found'));
  cases.push(get(`/apps/${UNKNOWN_APP}/bundles`, {}, 404, 'app_not_found'));
  group('admin query strings', cases);
}

// JSON bodies of the admin API.
{
  const EXTERNAL = {
    version: NEW_VERSION,
    url: 'https://cdn.example.com/2.0.0.zip',
    sha256: 'ab'.repeat(32),
    size: 1234,
  };
  const SESSION_KEY = 'aGVsbG8gd29ybGQxMjM0NQ==:c2Vzc2lvbmtleWJsb2Nr';
  const CHECKSUM = 'cd'.repeat(256);
  const routes: Array<[JsonRoute, Array<[string, unknown, number, string]>]> = [
    [
      {
        label: 'POST /apps',
        method: 'POST',
        path: '/api/v1/apps',
        auth: 'admin',
        base: { id: 'com.example.new', name: 'New app', default_channel: 'main' },
        fields: {
          id: { type: 'string', required: true, id: true },
          name: { type: 'string' },
          default_channel: { type: 'string', id: true, nullOk: true },
        },
      },
      [
        ['duplicate app', { id: APP }, 409, 'app_exists'],
        ['duplicate app, other default channel', { id: APP, default_channel: 'other' }, 409, 'app_exists'],
        ['empty name', { id: 'com.example.new', name: '' }, 400, 'invalid_request'],
      ],
    ],
    [
      {
        label: 'POST /apps/:app/bundles (external)',
        method: 'POST',
        path: `/api/v1/apps/${APP}/bundles`,
        auth: 'admin',
        base: EXTERNAL,
        fields: {
          version: { type: 'string', required: true, id: true, version: {} },
          url: { type: 'string', required: true },
          sha256: { type: 'string', required: true },
          size: { type: 'number' },
          session_key: { type: 'string' },
          checksum: { type: 'string' },
          key_id: { type: 'string' },
          min_native_version: { type: 'string', id: true },
          notes: { type: 'string' },
        },
      },
      [
        ['duplicate version', { ...EXTERNAL, version: SEED_VERSION }, 409, 'version_exists'],
        ...BAD_URL.map((url): [string, unknown, number, string] => [
          `url ${show(url)}`,
          { ...EXTERNAL, url },
          400,
          'invalid_request',
        ]),
        ...BAD_SHA.map((sha256): [string, unknown, number, string] => [
          `sha256 ${show(sha256)}`,
          { ...EXTERNAL, sha256 },
          400,
          'invalid_request',
        ]),
        ...[-1, 1.5, 1e300, Number.MAX_SAFE_INTEGER + 2].map((size): [string, unknown, number, string] => [
          `size ${size}`,
          { ...EXTERNAL, size },
          400,
          'invalid_request',
        ]),
        [
          'session_key without checksum',
          { ...EXTERNAL, session_key: SESSION_KEY },
          400,
          'incomplete_encryption',
        ],
        ['checksum without session_key', { ...EXTERNAL, checksum: CHECKSUM }, 400, 'incomplete_encryption'],
        [
          'malformed session_key',
          { ...EXTERNAL, session_key: 'not base64', checksum: CHECKSUM },
          400,
          'invalid_request',
        ],
        [
          'malformed checksum',
          { ...EXTERNAL, session_key: SESSION_KEY, checksum: 'xyz' },
          400,
          'invalid_request',
        ],
        ['malformed key_id', { ...EXTERNAL, key_id: 'a b' }, 400, 'invalid_request'],
        ['notes too long', { ...EXTERNAL, notes: 'n'.repeat(2001) }, 400, 'invalid_request'],
      ],
    ],
    [
      {
        label: 'POST /apps/:app/channels',
        method: 'POST',
        path: `/api/v1/apps/${APP}/channels`,
        auth: 'admin',
        base: { name: 'beta', version: SEED_VERSION, is_default: false, allow_self_assign: true },
        fields: {
          name: { type: 'string', required: true, id: true },
          version: { type: 'string', id: true, version: {} },
          is_default: { type: 'boolean' },
          allow_self_assign: { type: 'boolean' },
        },
      },
      [
        ['duplicate channel', { name: 'production' }, 409, 'channel_exists'],
        [
          'duplicate channel, made default',
          { name: PRIVATE, is_default: true, version: SEED_VERSION },
          409,
          'channel_exists',
        ],
        ['unknown bundle', { name: 'beta', version: '9.9.9' }, 404, 'bundle_not_found'],
        [
          'unknown bundle, made default',
          { name: 'beta', version: '9.9.9', is_default: true },
          404,
          'bundle_not_found',
        ],
      ],
    ],
    [
      {
        label: 'PATCH /apps/:app/channels/:channel',
        method: 'PATCH',
        path: `/api/v1/apps/${APP}/channels/${PRIVATE}`,
        auth: 'admin',
        base: { allow_self_assign: true },
        fields: { is_default: { type: 'boolean' }, allow_self_assign: { type: 'boolean' } },
      },
      [
        ['unknown key', { allow_self_assign: true, name: 'renamed' }, 400, 'invalid_request'],
        ['flag as string', { is_default: 'true' }, 400, 'invalid_request'],
      ],
    ],
    [
      {
        label: 'PUT /apps/:app/channels/:channel/bundle',
        method: 'PUT',
        path: `/api/v1/apps/${APP}/channels/${PRIVATE}/bundle`,
        auth: 'admin',
        base: { version: SEED_VERSION },
        fields: { version: { type: 'string', required: true, id: true, version: {} } },
      },
      [['unknown bundle', { version: '9.9.9' }, 404, 'bundle_not_found']],
    ],
    [
      {
        label: 'POST /apps/:app/channels/:channel/rollback',
        method: 'POST',
        path: `/api/v1/apps/${APP}/channels/production/rollback`,
        auth: 'admin',
        base: { reason: 'bad release' },
        fields: { reason: { type: 'string' } },
        // No body means no reason: a real rollback, refused because there is nothing to go back to.
        empty: { status: 409, error: 'nothing_to_roll_back' },
        unknownOnly: { status: 409, error: 'nothing_to_roll_back' },
      },
      [
        ['nothing to roll back', { reason: 'x' }, 409, 'nothing_to_roll_back'],
        ['reason too long', { reason: 'r'.repeat(501) }, 400, 'invalid_request'],
      ],
    ],
    [
      {
        label: 'PUT /apps/:app/devices/:device/channel',
        method: 'PUT',
        path: `/api/v1/apps/${APP}/devices/${DEVICE}/channel`,
        auth: 'admin',
        base: { channel: 'production' },
        fields: { channel: { type: 'string', required: true, id: true } },
      },
      [['unknown channel', { channel: 'nope' }, 404, 'channel_not_found']],
    ],
    [
      {
        label: 'POST /tokens',
        method: 'POST',
        path: '/api/v1/tokens',
        auth: 'admin',
        base: { name: 'ci', scope: 'publish' },
        fields: { name: { type: 'string', required: true }, scope: { type: 'string', required: true } },
      },
      [
        ['empty name', { name: '', scope: 'read' }, 400, 'invalid_request'],
        ['name too long', { name: 'n'.repeat(101), scope: 'read' }, 400, 'invalid_request'],
        ...['root', 'ADMIN', '', 'read,admin'].map((scope): [string, unknown, number, string] => [
          `scope ${show(scope)}`,
          { name: 'ci', scope },
          400,
          'invalid_request',
        ]),
      ],
    ],
    [
      {
        label: 'POST /users',
        method: 'POST',
        path: '/api/v1/users',
        auth: 'admin',
        base: { username: 'newuser', password: 'new-user-password', scope: 'read' },
        fields: {
          username: { type: 'string', required: true, id: true },
          password: { type: 'string', required: true },
          scope: { type: 'string', required: true },
        },
      },
      [
        [
          'duplicate user',
          { username: USER, password: 'another-password', scope: 'read' },
          409,
          'user_exists',
        ],
        [
          'password too short',
          { username: 'newuser', password: '123456789', scope: 'read' },
          400,
          'invalid_request',
        ],
        [
          'scope root',
          { username: 'newuser', password: 'new-user-password', scope: 'root' },
          400,
          'invalid_request',
        ],
        [
          'name with ..',
          { username: 'a..b', password: 'new-user-password', scope: 'read' },
          400,
          'invalid_request',
        ],
      ],
    ],
    [
      {
        label: 'PUT /users/:user/password',
        method: 'PUT',
        path: `/api/v1/users/${USER}/password`,
        auth: 'admin',
        base: { password: 'new-operator-password' },
        fields: { password: { type: 'string', required: true } },
      },
      [['password too short', { password: 'short' }, 400, 'invalid_request']],
    ],
    [
      {
        label: 'POST /session',
        method: 'POST',
        path: '/api/v1/session',
        auth: 'none',
        base: { username: USER, password: USER_PASSWORD },
        fields: {
          username: { type: 'string', required: true, id: true },
          password: { type: 'string', required: true },
        },
      },
      [
        ['wrong password', { username: USER, password: 'wrong-password' }, 401, 'invalid_credentials'],
        ['unknown user', { username: 'nobody', password: USER_PASSWORD }, 401, 'invalid_credentials'],
        ['wrong token', { token: 'oat_wrong-token-0123456789abcdef' }, 401, 'invalid_credentials'],
        [
          'token and password',
          { token: ADMIN_TOKEN, username: USER, password: USER_PASSWORD },
          400,
          'invalid_request',
        ],
        ['empty token', { token: '' }, 400, 'invalid_request'],
      ],
    ],
  ];
  for (const [route, extra] of routes) {
    group(route.label, [
      ...jsonRouteCases(route),
      ...extra.map(([name, body, status, error]) => semantic(route, name, body, status, error)),
    ]);
  }
  // The dashboard's session cookie: changes without the CSRF token, ended sessions, cross-site sign-in.
  const withCookie = (csrf?: string) => () => ({
    cookie: `overair_session=${fx.sessionCookie}`,
    ...(csrf !== undefined && { 'x-csrf-token': csrf }),
  });
  const refusedChange = (method: string, route: string, body?: unknown, csrf?: string): Case => ({
    name: `${method} ${route} with the session cookie, CSRF token ${csrf === undefined ? 'missing' : show(csrf)}`,
    method,
    path: `/api/v1${route}`,
    headers: withCookie(csrf),
    body: body === undefined ? undefined : json(body),
    contentType: body === undefined ? undefined : 'application/json',
    status: 403,
    error: 'csrf_token_invalid',
  });
  group('session cookies', [
    refusedChange('POST', '/apps', { id: 'com.example.csrf' }),
    refusedChange('POST', '/apps', { id: 'com.example.csrf' }, ''),
    refusedChange('POST', '/apps', { id: 'com.example.csrf' }, 'A'.repeat(43)),
    refusedChange('DELETE', `/apps/${APP}`),
    refusedChange('PUT', `/apps/${APP}/channels/production/bundle`, { version: SEED_VERSION }, 'wrong'),
    refusedChange('PATCH', `/apps/${APP}/channels/${PRIVATE}`, { allow_self_assign: true }),
    refusedChange('PUT', `/users/${USER}/password`, { password: 'hijacked-password' }),
    refusedChange('POST', '/tokens', { name: 'escalated', scope: 'admin' }),
    refusedChange('DELETE', '/session'),
    ...['A'.repeat(43), 'short', 'x'.repeat(3000)].map((cookie): Case => ({
      name: `ended or made-up session cookie ${show(cookie)}`,
      method: 'POST',
      path: '/api/v1/apps',
      headers: { cookie: `overair_session=${cookie}`, 'x-csrf-token': 'A'.repeat(43) },
      body: json({ id: 'com.example.csrf' }),
      contentType: 'application/json',
      status: 401,
      error: 'invalid_session',
    })),
    {
      name: 'sign-in from another site',
      method: 'POST',
      path: '/api/v1/session',
      headers: { 'sec-fetch-site': 'cross-site' },
      body: json({ username: USER, password: USER_PASSWORD }),
      contentType: 'application/json',
      status: 403,
      error: 'cross_site_request',
    },
  ]);
  group('admin semantic errors on other channels', [
    {
      name: 'rollback a channel without bundle',
      method: 'POST',
      path: `/api/v1/apps/${APP}/channels/${PRIVATE}/rollback`,
      auth: 'admin',
      status: 409,
      error: 'nothing_to_roll_back',
    },
    {
      name: 'unset the default flag of the default channel',
      method: 'PATCH',
      path: `/api/v1/apps/${APP}/channels/production`,
      auth: 'admin',
      body: json({ is_default: false }),
      contentType: 'application/json',
      status: 409,
      error: 'default_channel_required',
    },
    {
      name: 'clear the override of an unknown device',
      method: 'DELETE',
      path: `/api/v1/apps/${APP}/devices/${DEVICE}/channel`,
      auth: 'admin',
      status: 404,
      error: 'device_not_found',
    },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Zips

/** Zips whose only fault is one entry (names yazl refuses are written under a placeholder and patched). */
const BAD_ZIP_ENTRIES: Record<string, Array<{ name: string; raw?: boolean }>> = {
  'with ../evil.txt': [{ name: 'index.html' }, { name: '../evil.txt', raw: true }],
  'with a/../../evil.txt': [{ name: 'index.html' }, { name: 'a/../../evil.txt', raw: true }],
  'with /abs.txt': [{ name: 'index.html' }, { name: '/abs.txt', raw: true }],
  'with C:/evil.txt': [{ name: 'index.html' }, { name: 'C:/evil.txt', raw: true }],
  'with a\\..\\evil.txt': [{ name: 'index.html' }, { name: 'a\\..\\evil.txt', raw: true }],
  'with NUL in a name': [{ name: 'index.html' }, { name: 'a\u0000b.txt', raw: true }],
  'without index.html': [{ name: 'main.js' }, { name: 'assets/app.css' }],
  'with index.html two folders deep': [{ name: 'a/b/index.html' }, { name: 'a/b/main.js' }],
  'with index.html in two top folders': [{ name: 'a/index.html' }, { name: 'b/index.html' }],
  'with only __MACOSX/index.html': [{ name: '__MACOSX/index.html' }],
};

async function makeZip(entries: Array<{ name: string; raw?: boolean }>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const patches: Array<[Buffer, Buffer]> = [];
  for (const [index, entry] of entries.entries()) {
    let name = entry.name;
    if (entry.raw) {
      const real = Buffer.from(entry.name);
      const placeholder = Buffer.from(`Q${index}`.padEnd(real.length, 'Q'));
      name = placeholder.toString();
      patches.push([placeholder, real]);
    }
    zip.addBuffer(Buffer.from(`<html>${index}</html>`), name, { compress: false, mtime: new Date(0) });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  for (const [placeholder, real] of patches) {
    let at = bytes.indexOf(placeholder);
    let count = 0;
    while (at !== -1) {
      real.copy(bytes, at);
      count++;
      at = bytes.indexOf(placeholder, at + 1);
    }
    if (count !== 2)
      throw new Error(`expected the name twice (local header, central directory), found it ${count} times`);
  }
  return bytes;
}

// Uploads: raw body, metadata in the query.
{
  const upload = (
    name: string,
    query: Lazy<Record<string, string>>,
    rest: Partial<Case> & Pick<Case, 'status'>,
  ): Case => ({
    name,
    method: 'POST',
    path: () =>
      `/api/v1/apps/${APP}/bundles/upload?${new URLSearchParams(typeof query === 'function' ? query() : query)}`,
    auth: 'admin',
    body: zipBody,
    contentType: 'application/zip',
    ...rest,
  });
  const v = { version: NEW_VERSION };
  const bad = (name: string, query: Record<string, string>) =>
    upload(name, query, { status: 400, error: 'invalid_request' });
  const cases: Case[] = [
    bad('no query', {}),
    bad('version empty', { version: '' }),
    ...PATH_LIKE.filter((p) => p !== '').map((version) =>
      bad(`version path-like ${show(version)}`, { version }),
    ),
    ...RESERVED.map((version) => bad(`version reserved ${version}`, { version })),
    bad('version oversized', { version: LONG_IN_URL }),
    ...BAD_SHA.map((sha256) => bad(`sha256 ${show(sha256)}`, { ...v, sha256 })),
    bad('notes oversized', { ...v, notes: LONG_IN_URL }),
    bad('min_native_version malformed', { ...v, min_native_version: '../1' }),
    bad('key_id malformed', { ...v, key_id: 'a b' }),
    bad('session_key malformed', { ...v, session_key: 'nope', checksum: 'cd'.repeat(256) }),
    bad('checksum malformed', { ...v, session_key: 'aGVsbG8=:d29ybGQ=', checksum: 'xyz' }),
    upload(
      'session_key without checksum',
      { ...v, session_key: 'aGVsbG8=:d29ybGQ=' },
      { status: 400, error: 'incomplete_encryption' },
    ),
    upload(
      'checksum without session_key',
      { ...v, checksum: 'cd'.repeat(256) },
      { status: 400, error: 'incomplete_encryption' },
    ),
    upload(
      'sha256 does not match the bytes',
      { ...v, sha256: ZERO_SHA },
      { status: 400, error: 'checksum_mismatch' },
    ),
    upload('sha256 of another bundle', () => ({ ...v, sha256: fx.seedSha }), {
      status: 400,
      error: 'checksum_mismatch',
    }),
    upload('duplicate version', { version: SEED_VERSION }, { status: 409, error: 'version_exists' }),
    upload(
      'duplicate version, same bytes',
      { version: SEED_VERSION },
      { body: () => fx.seedZip, status: 409, error: 'version_exists' },
    ),
    upload('unknown app', v, {
      path: `/api/v1/apps/${UNKNOWN_APP}/bundles/upload?version=${NEW_VERSION}`,
      status: 404,
      error: 'app_not_found',
    }),
    upload('empty body', v, { body: '', status: 400, error: 'empty_body' }),
    upload('not a zip', v, { body: 'hello, not a zip', status: 400, error: 'invalid_zip' }),
    upload('JSON instead of a zip', v, {
      body: json({ version: NEW_VERSION }),
      contentType: 'application/json',
      status: 400,
      error: 'invalid_zip',
    }),
    upload('truncated zip', v, {
      body: () => fx.newZip.subarray(0, fx.newZip.length - 30),
      status: 400,
      error: 'invalid_zip',
    }),
    upload('zip over the upload limit', v, {
      body: () => Buffer.alloc(MAX_UPLOAD + 1024, 1),
      status: 413,
      error: 'payload_too_large',
    }),
    upload('zip over the upload limit, chunked', v, {
      body: () => Buffer.alloc(MAX_UPLOAD + 1024, 1),
      chunked: true,
      status: 413,
      error: 'payload_too_large',
    }),
    upload(
      'encrypted upload over the upload limit, chunked',
      { ...v, session_key: 'aGVsbG8=:d29ybGQ=', checksum: 'cd'.repeat(256) },
      {
        body: () => Buffer.alloc(MAX_UPLOAD * 3, 1),
        chunked: true,
        status: 413,
        error: 'payload_too_large',
      },
    ),
  ];
  for (const name of Object.keys(BAD_ZIP_ENTRIES)) {
    cases.push(
      upload(`zip ${name}`, v, {
        body: () => fx.badZips[name]!,
        status: 400,
        error: ['invalid_zip', 'invalid_zip_entry', 'index_html_not_found'],
      }),
    );
  }
  group('POST /apps/:app/bundles/upload', cases);
}

// Routes that do not exist. (Other GETs are the dashboard's: see dashboard-serving.test.ts.)
group('unknown routes', [
  ...[
    ['POST', '/'],
    ['DELETE', '/nope'],
    ['GET', '/updates/..%2F..%2Fetc%2Fpasswd'],
    // Reserved for the API and devices: never the dashboard's index.html.
    ['GET', '/api'],
    ['GET', '/api/v2/apps'],
    ['GET', '/download'],
    ['GET', '/stats/x'],
    ['GET', '/healthz/x'],
  ].map(([method, route]): Case => ({
    name: `${method} ${route}`,
    method: method!,
    path: route!,
    status: 404,
    error: 'not_found',
  })),
  // A known path with a wrong method: 405 with Allow (test/faults/http-limits.test.ts checks Allow).
  ...[
    ['GET', '/updates'],
    ['PUT', '/updates'],
    ['GET', '/stats'],
    ['PATCH', '/channel_self'],
    ['GET', '/check'],
    ['POST', '/healthz'],
  ].map(([method, route]): Case => ({
    name: `${method} ${route}`,
    method: method!,
    path: route!,
    status: 405,
    error: 'method_not_allowed',
  })),
  ...[
    ['POST', '/api/v1/apps/com.example.app'],
    ['PUT', '/api/v1/apps/com.example.app/bundles/1.0.0'],
  ].map(([method, route]): Case => ({
    name: `${method} ${route}`,
    method: method!,
    path: route!,
    auth: 'admin',
    status: 405,
    error: 'method_not_allowed',
  })),
  ...[
    ['GET', '/api/v1'],
    ['GET', '/api/v1/nope'],
    ['GET', '/api/v1/apps/com.example.app/bundles/1.0.0/extra'],
  ].map(([method, route]): Case => ({
    name: `${method} ${route}`,
    method: method!,
    path: route!,
    auth: 'admin',
    status: 404,
    error: 'not_found',
  })),
]);

// ---------------------------------------------------------------------------------------------
// Sending and checking

let server: TestServer;
let requests = 0;
/** Of those, the ones sent to the admin API (each must leave a request entry in the audit log). */
let adminRequests = 0;
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

const resolve = <T>(value: Lazy<T>): T => (typeof value === 'function' ? (value as () => T)() : value);

function authHeader(auth: Auth | undefined): Record<string, string> {
  if (auth === undefined || auth === 'none') return {};
  if (typeof auth === 'object') return { authorization: auth.header };
  const token = auth === 'admin' ? ADMIN_TOKEN : auth === 'read' ? fx.readToken : fx.publishToken;
  return { authorization: `Bearer ${token}` };
}

function send(c: Case): Promise<Answer> {
  requests++;
  if (/^\/api\/v1(\/|\?|$)/.test(resolve(c.path))) adminRequests++;
  const body = c.body === undefined ? undefined : Buffer.from(resolve(c.body));
  const headers: Record<string, string> = { ...authHeader(c.auth), ...resolve(c.headers ?? {}) };
  if (c.contentType) headers['content-type'] = c.contentType;
  if (body !== undefined) {
    if (c.chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(body.length);
  }
  // A large body the server refuses early may not be read to the end, and the connection is then
  // closed: such requests get a connection of their own.
  const big = body !== undefined && body.length > 32 * 1024;
  return new Promise((done, fail) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: c.method,
        path: resolve(c.path),
        headers,
        agent: big ? false : keepAlive,
        timeout: 5000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          done({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        response.on('error', fail);
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 5 s (hang)')));
    request.on('error', fail);
    if (body !== undefined && c.chunked) {
      // Several chunks, so that the server sees a stream without a length.
      for (let start = 0; start < body.length; start += 16 * 1024)
        request.write(body.subarray(start, start + 16 * 1024));
      request.end();
    } else {
      request.end(body);
    }
  });
}

/** Everything wrong with an answer, as readable lines (empty when it is as expected). */
function problemsOf(c: Case, answer: Answer): string[] {
  const problems: string[] = [];
  const statuses = Array.isArray(c.status) ? c.status : [c.status];
  const codes = c.error === undefined ? undefined : Array.isArray(c.error) ? c.error : [c.error];
  const shape: Shape = c.method === 'HEAD' ? 'head' : (c.shape ?? 'error');
  if (!statuses.includes(answer.status))
    problems.push(`status ${answer.status}, expected ${statuses.join(' or ')}`);
  if (answer.status >= 500) problems.push('server error');
  if (answer.status === 401 && !String(answer.headers['www-authenticate'] ?? '').startsWith('Bearer')) {
    problems.push('401 without WWW-Authenticate: Bearer');
  }
  if (shape === 'head') {
    if (answer.text !== '') problems.push('HEAD answer with a body');
    return problems;
  }
  if (answer.status === 302) {
    // A download handed to the bucket: a presigned URL and no body.
    if (!String(answer.headers.location ?? '').startsWith('http')) problems.push('302 without a Location');
    return problems;
  }
  if (shape === 'bytes') return problems;
  if (!String(answer.headers['content-type'] ?? '').startsWith('application/json')) {
    problems.push(`content-type ${String(answer.headers['content-type'])}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    problems.push(`not JSON: ${JSON.stringify(answer.text.slice(0, 200))}`);
    return problems;
  }
  const isErrorBody = (value: unknown, keys: string[]) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return `not an object: ${JSON.stringify(value)}`;
    const record = value as Record<string, unknown>;
    const actual = Object.keys(record).sort();
    if (JSON.stringify(actual) !== JSON.stringify([...keys].sort()))
      return `keys ${actual.join(',')}, expected ${[...keys].sort().join(',')}`;
    if (typeof record.error !== 'string' || record.error === '') return 'error is not a non-empty string';
    if (typeof record.message !== 'string' || record.message === '')
      return 'message is not a non-empty string';
    if (codes && !codes.includes(record.error))
      return `error "${record.error}", expected ${codes.join(' or ')}`;
    return undefined;
  };
  if (shape === 'batch') {
    const record = body as { status?: unknown; results?: unknown };
    if (record?.status !== 'ok' || !Array.isArray(record.results)) {
      problems.push(`not a batch answer: ${answer.text.slice(0, 200)}`);
      return problems;
    }
    if (record.results.length !== c.batch)
      problems.push(`${record.results.length} results for ${c.batch} events`);
    for (const [index, result] of record.results.entries()) {
      const item = result as Record<string, unknown>;
      if (item?.status !== 'error' || item.index !== index)
        problems.push(`result ${index}: ${JSON.stringify(result)}`);
      const { status: _status, index: _index, ...rest } = item ?? {};
      const problem = isErrorBody(rest, ['error', 'message']);
      if (problem) problems.push(`result ${index}: ${problem}`);
    }
    return problems;
  }
  const problem = isErrorBody(
    body,
    shape === 'updates' ? ['error', 'message', 'kind'] : ['error', 'message'],
  );
  if (problem) problems.push(`${problem} (body ${answer.text.slice(0, 200)})`);
  if (shape === 'updates' && (body as { kind?: unknown }).kind !== 'failed')
    problems.push('kind is not "failed"');
  if (/\bat .+:\d+:\d+/.test(answer.text)) problems.push('stack trace in the answer');
  return problems;
}

// ---------------------------------------------------------------------------------------------
// State: every table and every stored file

interface Snapshot {
  counts: Record<string, number>;
  rows: Record<string, string[]>;
  files: string[];
  staging: string[];
  /** The per-request audit entries, kept apart from `rows` (every admin request adds one). */
  requestLog: Array<{ id: number; status: number; path: string }>;
}

async function snapshot(): Promise<Snapshot> {
  // Device reports are written behind; get them into the database first.
  await server.services.activity.flush();
  const counts: Record<string, number> = {};
  const rows: Record<string, string[]> = {};
  const requestLog: Snapshot['requestLog'] = [];
  for (const name of await tableNames(server)) {
    let all = (await runSql(server, `SELECT * FROM "${name}"`)) as Array<Record<string, unknown>>;
    if (name === 'audit_log') {
      for (const row of all.filter((entry) => entry.action === REQUEST_AUDIT_ACTION))
        requestLog.push({
          id: Number(row.id),
          ...(JSON.parse(String(row.detail)) as { status: number; path: string }),
        });
      all = all.filter((entry) => entry.action !== REQUEST_AUDIT_ACTION);
    }
    counts[name] = all.length;
    // Authenticating a token or a session updates its last-use time: a read, as far as this test
    // is concerned.
    rows[name] = all
      .map((row) => {
        if (name !== 'tokens' && name !== 'sessions') return JSON.stringify(row);
        const { last_used_at: _lastUsed, ...rest } = row;
        return JSON.stringify(rest);
      })
      .sort();
  }
  return {
    counts,
    rows,
    files: await storedBlobs(server),
    staging: await stagingEntries(server),
    requestLog,
  };
}

// ---------------------------------------------------------------------------------------------

let before: Snapshot;

beforeAll(async () => {
  server = await startTestServer({
    OVERAIR_MAX_UPLOAD_SIZE: String(MAX_UPLOAD),
    OVERAIR_AUTH_MAX_FAILURES: '0',
  });
  const ok = (answer: { status: number; body: unknown }, status: number) => {
    if (answer.status !== status)
      throw new Error(`seed failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as Record<string, unknown>;
  };
  ok(await server.api('POST', '/apps', { id: APP }), 201);
  fx.seedZip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
  fx.seedSha = String(ok(await uploadBundle(server, APP, fx.seedZip, { version: SEED_VERSION }), 201).sha256);
  ok(await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: SEED_VERSION }), 200);
  ok(
    await server.api('POST', `/apps/${APP}/channels`, {
      name: PRIVATE,
      is_default: false,
      allow_self_assign: false,
    }),
    201,
  );
  ok(await server.api('POST', '/apps', { id: EMPTY_APP, default_channel: null }), 201);
  const reader = ok(await server.api('POST', '/tokens', { name: 'reader', scope: 'read' }), 201);
  fx.readToken = String(reader.token);
  fx.readTokenId = Number(reader.id);
  ok(await server.api('POST', '/users', { username: USER, password: USER_PASSWORD, scope: 'admin' }), 201);
  fx.publishToken = String(
    ok(await server.api('POST', '/tokens', { name: 'publisher', scope: 'publish' }), 201).token,
  );
  fx.newZip = await makeZip([{ name: 'index.html' }, { name: 'main.js' }]);
  fx.badZips = {};
  for (const [name, entries] of Object.entries(BAD_ZIP_ENTRIES)) fx.badZips[name] = await makeZip(entries);
  const signedIn = await fetch(`${server.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: json({ username: USER, password: USER_PASSWORD }),
  });
  fx.sessionCookie = /^overair_session=([^;]+)/.exec(signedIn.headers.get('set-cookie') ?? '')?.[1] ?? '';
  if (signedIn.status !== 200 || !fx.sessionCookie) throw new Error(`sign-in failed: ${signedIn.status}`);
  // Both tokens used once, so that their first-use bookkeeping happens before the snapshot.
  for (const auth of ['read', 'publish'] as const)
    await send({ name: 'warm-up', method: 'GET', path: '/api/v1/whoami', auth, status: 200 });
  requests = 0;
  adminRequests = 0;
  before = await snapshot();
});

afterAll(async () => {
  keepAlive.destroy();
  await server?.stop();
});

describe('bad input never gets a 500, a non-JSON answer or a write', () => {
  for (const { name, cases } of groups) {
    describe(name, () => {
      for (const c of cases) {
        it(c.name, async () => {
          const answer = await send(c);
          expect(problemsOf(c, answer).join('\n'), `${c.method} ${resolve(c.path).slice(0, 200)}`).toBe('');
        });
      }
    });
  }

  describe('clients that give up halfway', () => {
    /** Sends the headers and part of the body, then drops the connection. */
    const abort = (route: string, headers: Record<string, string>, part: Buffer) =>
      new Promise<void>((done) => {
        requests++;
        const request = http.request({
          host: '127.0.0.1',
          port: server.port,
          method: 'POST',
          path: route,
          headers,
          agent: false,
        });
        request.on('error', () => done());
        request.on('response', (response) => {
          response.resume();
          done();
        });
        request.write(part, () => setTimeout(() => request.destroy(), 50));
      });
    const stagingEmpty = async () => {
      for (let attempt = 0; attempt < 40; attempt++) {
        if ((await stagingEntries(server)).length === 0) return true;
        await new Promise((wait) => setTimeout(wait, 50));
      }
      return false;
    };

    it('an upload cut off halfway leaves no staged file', async () => {
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/zip' };
      const route = `/api/v1/apps/${APP}/bundles/upload?version=${NEW_VERSION}`;
      await abort(route, { ...auth, 'content-length': String(fx.newZip.length + 10_000) }, fx.newZip);
      await abort(route, { ...auth, 'transfer-encoding': 'chunked' }, fx.newZip.subarray(0, 100));
      expect(await stagingEmpty()).toBe(true);
    });

    it('a JSON body cut off halfway is dropped', async () => {
      const body = Buffer.from(json(info));
      await abort(
        '/updates',
        { 'content-type': 'application/json', 'content-length': String(body.length + 100) },
        body,
      );
      await abort(
        '/api/v1/apps',
        {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
        },
        Buffer.from('{"id":"com.example.'),
      );
      const health = await send({ name: 'healthz', method: 'GET', path: '/healthz', status: 200 });
      expect(health.status).toBe(200);
    });
  });

  it('sent a few hundred requests', () => {
    expect(requests).toBeGreaterThanOrEqual(300);
  });

  it('wrote nothing: same rows in every table, same bundle files, empty staging folder', async () => {
    const after = await snapshot();
    expect(after.counts).toEqual(before.counts);
    expect(after.counts.audit_log).toBe(before.counts.audit_log);
    expect(after.rows).toEqual(before.rows);
    expect(after.files).toEqual(before.files);
    expect(after.staging).toEqual([]);
  });

  it('but audited every admin request it sent, each as refused', async () => {
    // By id: a SELECT without ORDER BY gives PostgreSQL's rows in any order.
    const last = Math.max(0, ...before.requestLog.map((entry) => entry.id));
    const added = (await snapshot()).requestLog.filter((entry) => entry.id > last);
    // Plus at most the two uploads and the JSON body cut off halfway, which may end either way.
    expect(added.length).toBeGreaterThanOrEqual(adminRequests);
    expect(added.length).toBeLessThanOrEqual(adminRequests + 3);
    expect(added.filter((entry) => entry.status < 400)).toEqual([]);
    expect(added.every((entry) => entry.path.startsWith('/api/v1'))).toBe(true);
  });

  it('still serves: /healthz and the seed bundle', async () => {
    const health = await send({ name: 'healthz', method: 'GET', path: '/healthz', status: 200 });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toEqual({ status: 'ok' });
    const download = await fetch(`${server.url}/download/${fx.seedSha}`);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(fx.seedZip)).toBe(true);
    const apps = await server.api('GET', '/apps');
    expect(apps.body.items.map((app: { id: string }) => app.id).sort()).toEqual([APP, EMPTY_APP]);
  });
});
