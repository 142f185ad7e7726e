import { constants, createDecipheriv, createHash, publicDecrypt } from 'node:crypto';

/**
 * What @capgo/capacitor-updater 8.x does with a downloaded encrypted bundle (CryptoCipher.java,
 * protocol-capgo.md §6.3), re-derived here with node:crypto and independent of src/crypto, so the
 * tests check Overair's output against the plugin's steps rather than against itself.
 * Returns the plain zip, or throws the failure the plugin would report.
 */
export function pluginDecryptAndVerify(
  downloaded: Buffer,
  answer: { session_key?: string; checksum: string },
  publicKeyPem: string,
): Buffer {
  if (!answer.session_key || !/^[^:]+:[^:]+$/.test(answer.session_key))
    throw new Error('session_key_required');
  const [ivText, keyText] = answer.session_key.split(':') as [string, string];
  const iv = Buffer.from(ivText, 'base64');
  if (iv.length !== 16) throw new Error('decrypt_fail: iv');
  const key = publicDecrypt(
    { key: publicKeyPem, padding: constants.RSA_PKCS1_PADDING },
    Buffer.from(keyText, 'base64'),
  );
  if (key.length !== 16) throw new Error('decrypt_fail: key');
  const decipher = createDecipheriv('aes-128-cbc', key, iv);
  const plain = Buffer.concat([decipher.update(downloaded), decipher.final()]);
  const sealed = /^[0-9a-fA-F]+$/.test(answer.checksum)
    ? Buffer.from(answer.checksum, 'hex')
    : Buffer.from(answer.checksum, 'base64');
  if (sealed.length !== 256) throw new Error('Bundle checksum is not encrypted');
  const expected = publicDecrypt(
    { key: publicKeyPem, padding: constants.RSA_PKCS1_PADDING },
    sealed,
  ).toString('hex');
  const actual = createHash('sha256').update(plain).digest('hex');
  if (expected !== actual) throw new Error('checksum_fail');
  return plain;
}
