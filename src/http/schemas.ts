import { z } from 'zod';
import { SHA256_HEX } from '../crypto/hash.js';
import {
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  passwordProblem,
  usernameProblem,
} from '../domain/users.js';
import { versionNameProblem } from '../domain/version.js';

/** Identifiers end up in URLs, logs and queries: a conservative alphabet, no path separators. */
export const appId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'an app id is up to 128 letters, digits, ".", "_" or "-" (e.g. com.example.app)',
  );
export const channelName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a channel name is up to 64 letters, digits, ".", "_" or "-"');
export const deviceId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
    'a device id is up to 128 letters, digits, ".", "_", ":" or "-"',
  );
export const versionName = z
  .string()
  .superRefine((value, ctx) => {
    const problem = versionNameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      '1 to 128 letters, digits, ".", "_", "+" or "-" (semver fits), no "..", not "builtin" or "unknown".',
  });
export const sha256 = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(z.string().regex(SHA256_HEX, 'expected a sha256 as 64 hex characters'))
  .meta({ description: '64 hex characters.' });
export const nativeVersion = z
  .string()
  .regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/, 'expected a native version such as 2.1.0');
/** `bundle encrypt`'s ivSessionKey: base64(iv):base64(encrypted key). */
export const sessionKey = z
  .string()
  .regex(
    /^[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$/,
    'expected the ivSessionKey from `bundle encrypt` (base64:base64)',
  );
/** The encrypted checksum: hex (V3) or base64 (V2). */
export const encryptedChecksum = z
  .string()
  .regex(
    /^(?:[0-9a-fA-F]{64,1024}|[A-Za-z0-9+/]{32,1024}={0,2})$/,
    'expected the checksum printed by `bundle encrypt`',
  );
export const keyId = z
  .string()
  .regex(/^[A-Za-z0-9+/=]{1,64}$/, 'expected a key id (the start of the public key)');
export const notes = z.string().max(2000);
/** A dashboard user's name (src/domain/users.ts). */
export const username = z
  .string()
  .superRefine((value, ctx) => {
    const problem = usernameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: 'Letters, digits, ".", "_", "@" or "-", starting with a letter or digit.' });
/** A new password: 10 to 1024 characters. */
export const newPassword = z
  .string()
  .superRefine((value, ctx) => {
    const problem = passwordProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters.` });
/** A password to check: any length up to the maximum (a wrong one is a 401, not a 400). */
export const password = z.string().min(1).max(PASSWORD_MAX_LENGTH);
/** A base64 RSA signature (2048 to 4096-bit keys). */
export const signature = z
  .string()
  .regex(/^[A-Za-z0-9+/]{300,800}={0,2}$/, 'expected a base64 RSA-SHA256 signature');

const text = (max = 256) => z.string().max(max);
/** The plugin sends booleans; its channel-list call sends them as "true"/"false" query strings. */
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);

/**
 * The info object as the plugins send it (docs/protocol.md §1.1): every field there, the flags as
 * booleans. No defaults or transforms, so it compiles to a JSON Schema validator: the update check's
 * fast path (compiled-input.ts), which falls back to `deviceInfo` for anything else.
 */
export const deviceInfoAsSent = z.object({
  app_id: appId,
  device_id: deviceId,
  platform: text(32),
  version_name: text(),
  version_build: text(),
  version_code: text(),
  version_os: text(),
  plugin_version: text(64),
  custom_id: text(),
  defaultChannel: text(64),
  is_emulator: z.boolean(),
  is_prod: z.boolean(),
  key_id: text(64).optional(),
});

/**
 * The info object of every plugin request (docs/protocol.md §1): the same fields, of which only the
 * two ids are required, and the flags also as "true"/"false" (the channel list's query string).
 */
const sent = deviceInfoAsSent.shape;
export const deviceInfo = z.object({
  app_id: sent.app_id,
  device_id: sent.device_id,
  platform: sent.platform.default(''),
  version_name: sent.version_name.default(''),
  version_build: sent.version_build.default(''),
  version_code: sent.version_code.default(''),
  version_os: sent.version_os.default(''),
  plugin_version: sent.plugin_version.default(''),
  custom_id: sent.custom_id.default(''),
  defaultChannel: sent.defaultChannel.default(''),
  is_emulator: flag.default(false),
  is_prod: flag.default(true),
  key_id: sent.key_id,
});

export const statsEvent = deviceInfo.extend({
  action: z.string().min(1).max(64),
  // "<version>:<file>" for per-file delta failures, so longer than a version name.
  version_name: text(512).default(''),
  old_version_name: text().default(''),
});

export const pageLimit = z.coerce.number().int().min(1).max(500).default(50);
export const cursorId = z.coerce.number().int().positive().optional();
