import type { Logger } from 'pino';
import { SecretBox, SecretKeyError } from '../crypto/secret-box.js';
import type { Repos } from '../db/index.js';
import { totpSecretPurpose, totpSecretWhere } from '../db/users.js';
import { WEBHOOK_SECRET_PURPOSE } from '../db/webhooks.js';
import { DOWNLOAD_SECRET_SETTING, type SecretSettings } from '../storage/download-secret.js';

/** The associated data of the sealed download-link key. */
const DOWNLOAD_SECRET_PURPOSE = 'download-secret';

/**
 * Run at start, before anything uses a stored secret. With OVERAIR_SECRET_KEY (`box`): every
 * stored secret sealed with another key stops the start (SecretKeyError), and plain ones are sealed
 * (each replaced only if still the value read, so instances starting together agree; running it
 * again seals nothing more). Without it: a sealed secret stops the start, since it cannot be used.
 * Resolves to the number of values sealed now.
 */
export async function prepareSecretsAtRest(
  repos: Repos,
  box: SecretBox | null,
  log: Logger,
): Promise<number> {
  const stored: { where: string; purpose: string; value: string; seal(sealed: string): Promise<void> }[] = [];
  for (const row of await repos.webhooks.storedSecrets()) {
    stored.push({
      where: `webhooks.secret of webhook ${row.id}`,
      purpose: WEBHOOK_SECRET_PURPOSE,
      value: row.secret,
      seal: (sealed) => repos.webhooks.replaceSecret(row.id, row.secret, sealed),
    });
  }
  for (const row of await repos.users.storedTotpSecrets()) {
    stored.push({
      where: totpSecretWhere(row.id),
      purpose: totpSecretPurpose(row.id),
      value: row.totp_secret,
      seal: (sealed) => repos.users.replaceTotpSecret(row.id, row.totp_secret, sealed),
    });
  }
  const download = await repos.settings.get(DOWNLOAD_SECRET_SETTING);
  if (download !== undefined) {
    stored.push({
      where: `settings.${DOWNLOAD_SECRET_SETTING}`,
      purpose: DOWNLOAD_SECRET_PURPOSE,
      value: download,
      seal: (sealed) => repos.settings.replace(DOWNLOAD_SECRET_SETTING, download, sealed),
    });
  }
  let sealedNow = 0;
  for (const entry of stored) {
    if (SecretBox.isSealed(entry.value)) {
      if (!box) {
        throw new SecretKeyError(
          `${entry.where} is encrypted, but OVERAIR_SECRET_KEY is not set: start with the key it was encrypted with`,
        );
      }
      box.open(entry.value, entry.purpose, entry.where);
    } else if (box) {
      await entry.seal(box.seal(entry.value, entry.purpose));
      sealedNow += 1;
    }
  }
  if (sealedNow > 0) log.info({ sealed: sealedNow }, 'encrypted the stored secrets with OVERAIR_SECRET_KEY');
  if (!box && stored.length > 0) {
    log.warn(
      { secrets: stored.length },
      'OVERAIR_SECRET_KEY is not set: webhook secrets, TOTP secrets and the download-link key are stored in the clear',
    );
  }
  return sealedNow;
}

/**
 * The settings as loadOrCreateDownloadSecret sees them: what it stores is sealed with `box`, what
 * it reads is opened, so it works with plain values throughout.
 */
export function sealedSecretSettings(settings: SecretSettings, box: SecretBox | null): SecretSettings {
  if (!box) return settings;
  return {
    async putIfAbsent(key, value) {
      const stored = await settings.putIfAbsent(key, box.seal(value, DOWNLOAD_SECRET_PURPOSE));
      return box.open(stored, DOWNLOAD_SECRET_PURPOSE, `settings.${key}`);
    },
  };
}
