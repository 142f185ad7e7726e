import type { BundleJson, SessionJson } from '../../src/api-types.js';

export type {
  AdoptionJson,
  AppJson,
  BundleJson,
  ChannelJson,
  CompatibilityJson,
  DeviceJson,
  GroupHealthJson,
  HistoryJson,
  HoldJson,
  LiveStreamJson,
  NativeBuildJson,
  Page,
  RolesJson,
  ReleaseRequestJson,
  RolloutScheduleJson,
  ReleaseHealthJson,
  SessionListingJson,
  StatsJson,
  TokenJson,
  TotpEnrolmentJson,
  TotpStatusJson,
  UserJson,
  VersionStatsJson,
} from '../../src/api-types.js';

/** Who is signed in (kind 'user' for a user name and password, 'token' for an API token), and the CSRF token. */
export type Session = SessionJson;
export type SessionUser = SessionJson['user'];

export interface AuditJson {
  id: number;
  at: string;
  actor: string;
  action: string;
  app_id: string | null;
  target: string | null;
  detail: unknown;
}

const API = '/api/v1';

/** An error answer of the API (or a failure to reach it), with the server's readable message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
const unauthorizedListeners = new Set<(error: ApiError) => void>();

/** Sent as X-CSRF-Token with every POST, PUT, PATCH and DELETE. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the API answers 401 to a signed-in request: the session has ended. */
export function onUnauthorized(listener: (error: ApiError) => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** The message of a refused answer: the API's own `message`, else the status line. */
function errorOf(status: number, statusText: string, data: unknown): ApiError {
  const body = (data ?? {}) as { error?: unknown; message?: unknown };
  const message =
    typeof body.message === 'string' && body.message !== ''
      ? body.message
      : `The server answered ${status}${statusText ? ` ${statusText}` : ''}`;
  return new ApiError(status, typeof body.error === 'string' ? body.error : 'http_error', message);
}

const NETWORK_ERROR = () =>
  new ApiError(0, 'network_error', 'The server could not be reached; check the connection and try again.');

function headers(method: string, json: boolean): Record<string, string> {
  const result: Record<string, string> = { accept: 'application/json' };
  if (json) result['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) result['x-csrf-token'] = csrfToken;
  return result;
}

/** One call of the admin API with the session cookie: JSON in, JSON out, ApiError on refusal. */
export async function api<T>(method: string, route: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(API + route, {
      method,
      headers: headers(method, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw NETWORK_ERROR();
  }
  const text = await response.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!response.ok) {
    const error = errorOf(response.status, response.statusText, data);
    // A wrong two-factor code is a 401 too, but the session is still there.
    if (response.status === 401 && route !== '/session' && error.code !== 'invalid_totp_code') {
      for (const listener of unauthorizedListeners) listener(error);
    }
    throw error;
  }
  return data as T;
}

/** `route` with its query: parameters that are undefined or empty are left out. */
export function withQuery(route: string, query: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${route}${route.includes('?') ? '&' : '?'}${text}` : route;
}

export const enc = encodeURIComponent;

/** The URL of an admin route for EventSource, which sends the session cookie by itself (same origin). */
export const streamUrl = (route: string): string => API + route;

/** The sha256 of a file as hex, or null where the browser has no WebCrypto (plain http off localhost). */
export async function sha256Hex(file: Blob): Promise<string | null> {
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

export interface UploadHandle {
  done: Promise<BundleJson>;
  abort(): void;
}

/**
 * Streams a zip to `POST /apps/APP/bundles/upload` with XMLHttpRequest, whose upload events give
 * the progress that fetch cannot (0 to 1).
 */
export function uploadBundle(
  appId: string,
  file: Blob,
  query: Record<string, string | undefined>,
  onProgress: (fraction: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<BundleJson>((resolve, reject) => {
    xhr.open('POST', withQuery(`${API}/apps/${enc(appId)}/bundles/upload`, query));
    for (const [name, value] of Object.entries(headers('POST', false))) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader('content-type', 'application/zip');
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let data: unknown;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        data = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(data as BundleJson);
      } else {
        const error = errorOf(xhr.status, xhr.statusText, data);
        if (xhr.status === 401) for (const listener of unauthorizedListeners) listener(error);
        reject(error);
      }
    };
    xhr.onerror = () => reject(NETWORK_ERROR());
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}
