/**
 * What a live stream of one device shows (docs/devices.md#watching-a-device-live): its update checks
 * (what it sent, what it was answered and why), its downloads and its other device events.
 */

/** The device's own words in a check (its info object, as sent). */
interface CheckSent {
  platform: string;
  version_name: string;
  version_build: string;
  version_code: string;
  version_os: string;
  plugin_version: string;
  custom_id: string;
  default_channel: string;
  is_emulator: boolean;
  is_prod: boolean;
  key_id?: string;
}

/** What the device was answered, in the plugin's terms (docs/protocol.md). */
export interface CheckAnswerSummary {
  outcome: 'update' | 'up_to_date' | 'blocked' | 'failed';
  /** The bundle offered (update) or held back (blocked). */
  version?: string;
  channel?: string;
  /** The plugin's `error` code (up to date, blocked, failed). */
  error?: string;
  message?: string;
}

export type LiveEvent =
  | {
      kind: 'check';
      app_id: string;
      device_id: string;
      at: string;
      sent: CheckSent;
      answer: CheckAnswerSummary;
      /** Why: which channel and by which rule, and what the channel's rules made of it. */
      reason: string;
    }
  | {
      /** `download` for the download events (downloaded, failed), `event` for the others. */
      kind: 'download' | 'event';
      app_id: string;
      device_id: string;
      at: string;
      action: string;
      version_name: string;
      old_version_name: string;
      channel: string;
    };

/** NOTIFY payloads must stay below 8000 bytes; this leaves room for the envelope. */
export const MAX_EVENT_BYTES = 7000;
/** Longest text field kept when an event is trimmed to fit. */
const TRIMMED_FIELD = 200;

/**
 * The event as JSON of at most `maxBytes` UTF-8 bytes: long text fields cut to TRIMMED_FIELD
 * characters (marked `truncated`) when the whole does not fit, then the device's words dropped, then
 * all but who and when.
 * Device ids and app ids are short by validation; nothing else is unbounded.
 */
export function eventJson(event: LiveEvent, maxBytes = MAX_EVENT_BYTES): string {
  const text = JSON.stringify(event);
  if (utf8Length(text) <= maxBytes) return text;
  const cut = (value: unknown): unknown =>
    typeof value === 'string' && value.length > TRIMMED_FIELD ? `${value.slice(0, TRIMMED_FIELD)}…` : value;
  const trimmed: Record<string, unknown> = { truncated: true };
  for (const [key, value] of Object.entries(event)) {
    trimmed[key] =
      value !== null && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cut(v)]))
        : cut(value);
  }
  const shorter = JSON.stringify(trimmed);
  if (utf8Length(shorter) <= maxBytes) return shorter;
  delete trimmed.sent;
  const withoutSent = JSON.stringify(trimmed);
  if (utf8Length(withoutSent) <= maxBytes) return withoutSent;
  const { kind, app_id, device_id, at } = event;
  return JSON.stringify({ kind, app_id, device_id, at, truncated: true });
}

const encoder = new TextEncoder();
/** Bytes of a text in UTF-8 (only watched devices' events are measured). */
const utf8Length = (text: string): number => encoder.encode(text).length;
