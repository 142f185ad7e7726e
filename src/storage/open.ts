import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-store.js';
import { s3EndpointUrl } from './s3-names.js';

/**
 * The bundle store the configuration asks for, ready to use: the local folder (the default), or an
 * S3-compatible bucket, checked to answer before the server starts listening so that a wrong
 * endpoint, bucket or key stops it with a message rather than failing the first upload.
 */
export async function openBlobStore(config: Config, log: Logger): Promise<BlobStore> {
  if (config.storage === 'fs') {
    const store = new FsBlobStore(config.blobDir);
    await store.init();
    if (store.flushMethod === 'none')
      log.error(
        { blobDir: config.blobDir },
        'no way to flush the disk here (no `sync` command): a power cut may lose bundles uploaded just before it',
      );
    return store;
  }
  // Loaded only when used: the AWS SDK is large, and most installations keep bundles on disk.
  const [{ createS3Client, describeS3Error }, { S3BlobStore }] = await Promise.all([
    import('./s3-client.js'),
    import('./s3-store.js'),
  ]);
  // loadConfig guarantees the bucket with storage=s3, and both keys or neither (the SDK's chain).
  const bucket = config.s3Bucket!;
  const endpoint = s3EndpointUrl(config.s3Endpoint, config.s3Port, config.s3Ssl);
  const connection = {
    endpoint,
    region: config.s3Region,
    accessKeyId: config.s3AccessKey,
    secretAccessKey: config.s3SecretKey,
    forcePathStyle: config.s3ForcePathStyle,
  };
  const client = createS3Client(connection);
  const store = new S3BlobStore(client, {
    bucket,
    prefix: config.s3Prefix,
    // Staged uploads wait here for validation; the data folder is where large local files may go.
    tmpDir: path.join(config.dataDir, '.tmp-s3'),
    connection,
  });
  try {
    await store.init();
    await store.ping().catch((error: unknown) => {
      // Where it went and what came back; never the keys.
      throw new Error(
        `cannot use S3 bucket "${bucket}" at ${endpoint ?? `AWS (${config.s3Region})`}: ${describeS3Error(error)}`,
        { cause: error },
      );
    });
  } catch (error) {
    client.destroy();
    throw error;
  }
  // Downloads redirect from the public URL to the bucket: Android's HttpURLConnection (the Capgo
  // plugin's full-zip download) does not follow a redirect that switches between http and https.
  const bucketProtocol = endpoint ? new URL(endpoint).protocol : 'https:';
  if (config.publicUrl && new URL(config.publicUrl).protocol !== bucketProtocol) {
    log.warn(
      { publicUrl: config.publicUrl, endpoint: endpoint ?? 'AWS' },
      'downloads redirect between http and https, which Android devices do not follow: use https for both',
    );
  }
  return store;
}
