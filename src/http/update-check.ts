import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { UpdateDecision } from '../domain/decision.js';
import { pluginSupportsManifest } from '../domain/plugin.js';
import type { DeviceInfo } from '../services/device-info.js';
import type { Services } from '../services/index.js';
import type { LiveBundle } from '../services/release-cache.js';
import type { BundleUrl } from './download.js';
import { tooManyRequests, type DeviceRateLimit } from './device-rate-limit.js';
import { toErrorResponse } from './errors.js';
import { parseJsonText, readBodyText, readRequestText } from './json-body.js';
import { nativeFileName } from './native-routes.js';
import { compileAsSent } from './compiled-input.js';
import { deviceInfo, deviceInfoAsSent } from './schemas.js';
import { parseInput } from './validation.js';
import { OUTCOME, outcomeOfStatus, PLUGIN } from '../metrics/labels.js';

/** One update check as it came in, whichever the entrance (node-listener.ts or the Hono route). */
export interface CheckRequest {
  /** The client's address, for the device rate limit (asked only when a limit is set). */
  address: () => string;
  contentLength: string | undefined;
  acceptEncoding: string | undefined;
  /** The body: the Node request itself (read with plain events) or any byte stream. */
  body: AsyncIterable<Uint8Array> | null;
  /** The download URL of a bundle (its origin is only worked out when one is needed). */
  urlOf: BundleUrl;
}

/** The answer, ready to write: never a rejection, every failure is one of these. */
export interface CheckAnswer {
  status: number;
  headers: Record<string, string | number>;
  body: string | Buffer;
}

const gzipAsync = promisify(gzip);
/** The device info as the plugins send it, validated by compiled code; else zod's `deviceInfo`. */
const infoAsSent = compileAsSent(deviceInfoAsSent, deviceInfo);
/** Answers below a network packet gain nothing from compression. */
const GZIP_MIN_BYTES = 1400;

/**
 * The update check (POST /updates), from the request to the answer the plugin parses
 * (docs/protocol.md): the device rate limit, the body, validation, the decision, the answer and its
 * compression. Both entrances (the Node fast path and the Hono route) only write what this returns,
 * so they answer alike.
 *
 * It is the hot path (every launch and resume of every device): in the steady state (the app's
 * release in the cache) everything after the body arrives runs in one turn, with no promise in
 * between, and the device's report is queued, not written (services/device-activity.ts).
 */
export class UpdateCheck {
  private readonly withManifest = new WeakMap<LiveBundle, { url: string; text: string }>();
  private readonly withoutManifest = new WeakMap<LiveBundle, { url: string; text: string }>();
  private readonly upToDate = new Map<string, string>();

  constructor(
    private readonly services: Services,
    private readonly log: Logger,
    private readonly limit?: DeviceRateLimit,
  ) {}

  answer(request: CheckRequest): Promise<CheckAnswer> {
    const limited = this.limited(request);
    if (limited) return Promise.resolve(limited);
    return readBodyText(request.body, request.contentLength).then(
      (text) => this.decide(text, request),
      (error: unknown) => this.failure(error, true),
    );
  }

  /**
   * The same for a Node request, calling `done` with the answer instead of returning a promise (the
   * Node entrance): in the steady state, the answer is made in the turn the body's end arrives.
   */
  answerNode(req: Readable, request: CheckRequest, done: (answer: CheckAnswer) => void): void {
    const limited = this.limited(request);
    if (limited) {
      done(limited);
      return;
    }
    readRequestText(req, request.contentLength, (error, text) => {
      const answer = error ? this.failure(error, true) : this.decide(text, request);
      if (answer instanceof Promise) void answer.then(done);
      else done(answer);
    });
  }

  /** The device rate limit's refusal, when the client is over it. */
  private limited(request: CheckRequest): CheckAnswer | undefined {
    const wait = this.limit?.enabled ? this.limit.check(request.address()) : 0;
    if (wait <= 0) return undefined;
    this.services.metrics.updateCheck(PLUGIN.capgo, OUTCOME.rate_limited, '');
    // The body is not read: the connection closes after the answer rather than drain it.
    return json(
      429,
      { ...tooManyRequests(wait), kind: 'failed' },
      { 'retry-after': String(wait), connection: 'close' },
    );
  }

  private decide(text: string, request: CheckRequest): CheckAnswer | Promise<CheckAnswer> {
    try {
      const value = parseJsonText(text);
      // A NUL can only come from a \u0000 escape: such a text goes the way that names the field.
      const info =
        (text.includes('\\u0000') ? undefined : infoAsSent(value)) ??
        parseInput(deviceInfo, value, 'body', text);
      const decision = this.services.updates.checkNow(info);
      if (decision === undefined) {
        // The app's release is being loaded (first check, or after a change): wait for it.
        return this.services.updates.check(info).then(
          (loaded) => this.respond(loaded, info, request),
          (error: unknown) => this.failure(error, true),
        );
      }
      return this.respond(decision, info, request);
    } catch (error) {
      return this.failure(error, true);
    }
  }

  private respond(
    decision: UpdateDecision<LiveBundle>,
    info: DeviceInfo,
    request: CheckRequest,
  ): CheckAnswer | Promise<CheckAnswer> {
    // Counted as decided. A failure making the answer after this is rare (a bug, gzip): it is then
    // also counted by its status.
    this.services.metrics.updateCheck(PLUGIN.capgo, OUTCOME[decision.outcome], info.plugin_version);
    // Only for devices whose native build is too old or lacks what the bundle needs: where to get
    // one that runs it (docs/protocol.md), a registered store link first.
    if (decision.outcome === 'blocked' && decision.link !== undefined) {
      const answer = updateAnswer(decision, info, request.urlOf);
      return json(200, {
        ...answer,
        link: decision.link,
        comment: 'A store update is needed for this release',
      });
    }
    if (
      decision.outcome === 'blocked' &&
      (decision.error === 'native_version_too_old' || decision.error === 'native_incompatible')
    ) {
      return nativeHint(this.services, info, decision, request.urlOf).then(
        (hint) => json(200, { ...updateAnswer(decision, info, request.urlOf), ...hint }),
        (error: unknown) => this.failure(error),
      );
    }
    const text =
      decision.outcome === 'update'
        ? this.updateText(decision.bundle, request.urlOf, pluginSupportsManifest(info.plugin_version))
        : decision.outcome === 'up_to_date'
          ? this.upToDateText(decision)
          : JSON.stringify(updateAnswer(decision, info, request.urlOf));
    // A delta manifest lists every file (~240 bytes each): gzip it for clients that accept it, as
    // the plugin's HTTP clients (OkHttp, URLSession) do transparently. Small answers go as they are,
    // and as a string: Node then sends headers and body in one write, measurably faster.
    if (text.length > GZIP_MIN_BYTES && /\bgzip\b/.test(request.acceptEncoding ?? '')) {
      return gzipAsync(text).then(
        (zipped) => ({
          status: 200,
          headers: {
            'content-type': 'application/json',
            'content-length': zipped.length,
            'content-encoding': 'gzip',
            vary: 'Accept-Encoding',
          },
          body: zipped,
        }),
        (error: unknown) => this.failure(error),
      );
    }
    return jsonText(200, text);
  }

  /**
   * The update answer's text: the same for every device a bundle goes to, so it is kept per bundle
   * (a release reload brings new bundle objects) for the URL it was made with (which changes with the
   * origin, and with the signing step of private links).
   */
  private updateText(bundle: LiveBundle, urlOf: BundleUrl, withManifest: boolean): string {
    const url = urlOf(bundle);
    const kept = (withManifest ? this.withManifest : this.withoutManifest).get(bundle);
    if (kept?.url === url) return kept.text;
    const text = JSON.stringify(updatePayload(bundle, urlOf, withManifest));
    (withManifest ? this.withManifest : this.withoutManifest).set(bundle, { url, text });
    return text;
  }

  /** The up-to-date answer's text, the same for every device told the same (kept per message). */
  private upToDateText(decision: UpdateDecision<LiveBundle> & { outcome: 'up_to_date' }): string {
    let text = this.upToDate.get(decision.message);
    if (text === undefined) {
      text = JSON.stringify(updateAnswer(decision, { version_name: '', plugin_version: '' }, () => ''));
      if (this.upToDate.size < 100) this.upToDate.set(decision.message, text);
    }
    return text;
  }

  /**
   * Any failure, as the plugin reads it: {error, message, kind: "failed"} at any status; `count`:
   * the check ends here without a decision (bad input, an unknown app, the database), so it is
   * counted by its status.
   */
  private failure(error: unknown, count = false): CheckAnswer {
    const { status, body, headers } = toErrorResponse(error, this.log);
    if (count) this.services.metrics.updateCheck(PLUGIN.capgo, outcomeOfStatus(status), '');
    return json(status, { ...body, kind: 'failed' }, headers);
  }
}

/** `headers` become the answer's own: pass a new object. */
function json(status: number, payload: object, headers?: Record<string, string>): CheckAnswer {
  return jsonText(status, JSON.stringify(payload), headers);
}

function jsonText(status: number, text: string, headers?: Record<string, string>): CheckAnswer {
  // Set one by one, not spread: a spread costs about a microsecond here (V8 in Node 20).
  const all: Record<string, string | number> = headers ?? {};
  all['content-type'] = 'application/json';
  all['content-length'] = Buffer.byteLength(text);
  return { status, headers: all, body: text };
}

/**
 * The newest native build of the device's platform on the native channel named like its live-update
 * channel, as the plugin's `link` and `comment`; nothing when there is none.
 */
async function nativeHint(
  services: Services,
  info: { app_id: string; platform: string },
  decision: { channel: string; bundle?: LiveBundle },
  urlOf: BundleUrl,
): Promise<{ link?: string; comment?: string }> {
  const build = await services.nativeBuilds.latestCached(info.app_id, decision.channel, info.platform);
  if (!build) return {};
  const link = `${urlOf({ location: 'blob', sha256: build.sha256, external_url: null })}`;
  const required = decision.bundle?.minNativeVersion ?? build.version;
  return {
    link: `${link}${link.includes('?') ? '&' : '?'}name=${encodeURIComponent(nativeFileName(build))}`,
    comment: `Native ${required} required; ${info.platform} build ${build.version} is available`,
  };
}

/** A bundle as the plugin's update answer (also the plain `/check`'s, which keeps a few fields). */
export function updatePayload(bundle: LiveBundle, urlOf: BundleUrl, withManifest = false): UpdatePayload {
  // Built field by field rather than with conditional spreads, which cost a microsecond each here.
  const payload: UpdatePayload = {
    version: bundle.version,
    // Sent with a manifest too: the plugin refuses an answer without a valid url.
    url: urlOf(bundle),
    checksum: bundle.checksum,
  };
  if (bundle.session_key !== null) payload.session_key = bundle.session_key;
  if (bundle.notes !== null) payload.comment = bundle.notes;
  // Every file of the bundle (the plugin builds the new bundle from these alone); never empty,
  // since an empty manifest would install an empty bundle.
  if (withManifest && bundle.files.length > 0) payload.manifest = manifestOf(bundle, urlOf);
  return payload;
}

interface UpdatePayload {
  version: string;
  url: string;
  checksum: string;
  session_key?: string;
  comment?: string;
  manifest?: { file_name: string; file_hash: string; download_url: string }[];
}

/** The delta manifest as the plugin parses it: "*.br" names are brotli-decoded on the device. */
function manifestOf(bundle: LiveBundle, urlOf: BundleUrl) {
  return bundle.files.map((file) => ({
    file_name: file.brotli === 1 ? `${file.path}.br` : file.path,
    file_hash: file.file_hash,
    download_url: urlOf({ location: 'blob', sha256: file.stored_sha256, external_url: null, file: true }),
  }));
}

/** Refusals that a newer native build from the store would lift. */
const NEEDS_STORE_UPDATE = new Set([
  'native_version_too_old',
  'disable_auto_update_to_major',
  'native_incompatible',
]);

/** One decision in the plugin's words (docs/protocol.md, "What Overair answers"). */
function updateAnswer(
  decision: UpdateDecision<LiveBundle>,
  info: { version_name: string; plugin_version: string },
  urlOf: BundleUrl,
) {
  switch (decision.outcome) {
    case 'update':
      return updatePayload(decision.bundle, urlOf, pluginSupportsManifest(info.plugin_version));
    case 'up_to_date':
      return { error: decision.error, message: decision.message, kind: 'up_to_date' };
    case 'blocked':
      return {
        error: decision.error,
        message: decision.message,
        kind: 'blocked',
        ...(decision.bundle && { version: decision.bundle.version, old: info.version_name }),
        // Makes the plugin fire breakingAvailable, so the app can ask for a store update.
        ...(NEEDS_STORE_UPDATE.has(decision.error) && { breaking: true }),
      };
    case 'failed':
      return { error: decision.error, message: decision.message, kind: 'failed' };
  }
}
