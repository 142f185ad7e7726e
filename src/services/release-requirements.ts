import { keyIdOf, sealedWithProblem, verifyDigestSignature } from '../crypto/capgo.js';
import type { AppRow, BundleRow } from '../db/schema.js';

/**
 * What an app requires of every bundle it serves (docs/security.md, "Signed and encrypted only"):
 * a signature that verifies with its signing public key (the key Capawesome devices check), and
 * encryption for its public key (the key Capgo devices decrypt with). Checked on upload and
 * registration, when a bundle is made live, and when a requirement is turned on.
 */
export interface ReleaseRequirements {
  /** The signing public key (PEM) when signatures are required, else null. */
  signingKey: string | null;
  /** The encryption public key (PEM) when encryption is required, else null. */
  encryptionKey: string | null;
}

export function requirementsOf(
  app: Pick<
    AppRow,
    'require_signature' | 'require_encryption' | 'signing_public_key' | 'encryption_public_key'
  >,
): ReleaseRequirements {
  return {
    signingKey: app.require_signature === 1 ? app.signing_public_key : null,
    encryptionKey: app.require_encryption === 1 ? app.encryption_public_key : null,
  };
}

export const requiresNothing = (requirements: ReleaseRequirements) =>
  requirements.signingKey === null && requirements.encryptionKey === null;

/** The parts of a bundle the requirements look at. */
export type CheckedBundle = Pick<BundleRow, 'sha256' | 'signature' | 'session_key' | 'checksum' | 'key_id'>;

export type Unmet =
  | { requirement: 'signature'; problem: 'missing' | 'invalid' }
  | { requirement: 'encryption'; problem: 'missing' | 'wrong_key'; detail: string };

/** The signature requirement alone: null when met (or not required). */
export function unmetSignature(
  requirements: ReleaseRequirements,
  bundle: Pick<CheckedBundle, 'sha256' | 'signature'>,
): Unmet | null {
  const key = requirements.signingKey;
  if (key === null) return null;
  if (bundle.signature === null) return { requirement: 'signature', problem: 'missing' };
  if (!verifyDigestSignature(bundle.sha256, bundle.signature, key))
    return { requirement: 'signature', problem: 'invalid' };
  return null;
}

/** The encryption requirement alone: null when met (or not required). */
export function unmetEncryption(
  requirements: ReleaseRequirements,
  bundle: Pick<CheckedBundle, 'session_key' | 'checksum' | 'key_id'>,
): Unmet | null {
  const key = requirements.encryptionKey;
  if (key === null) return null;
  if (bundle.session_key === null)
    return { requirement: 'encryption', problem: 'missing', detail: 'it is not encrypted' };
  const expected = keyIdOf(key);
  if (bundle.key_id !== expected) {
    return {
      requirement: 'encryption',
      problem: 'wrong_key',
      detail:
        bundle.key_id === null
          ? `it has no key_id (expected ${expected})`
          : `its key_id is ${bundle.key_id}, not ${expected}`,
    };
  }
  const sealed = sealedWithProblem({ sessionKey: bundle.session_key, checksum: bundle.checksum }, key);
  if (sealed) return { requirement: 'encryption', problem: 'wrong_key', detail: sealed };
  return null;
}

/** Every requirement the bundle does not meet, in words ("no signature", ...); empty when it meets them all. */
export function unmetRequirements(requirements: ReleaseRequirements, bundle: CheckedBundle): string[] {
  return [unmetSignature(requirements, bundle), unmetEncryption(requirements, bundle)]
    .filter((unmet): unmet is Unmet => unmet !== null)
    .map(describeUnmet);
}

function describeUnmet(unmet: Unmet): string {
  if (unmet.requirement === 'signature')
    return unmet.problem === 'missing'
      ? 'no signature'
      : 'its signature does not verify with the signing public key';
  return unmet.problem === 'missing' ? 'not encrypted' : `not encrypted for the public key: ${unmet.detail}`;
}
