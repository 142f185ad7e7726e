import { createReadStream } from 'node:fs';
import { durationSeconds } from '../duration.js';
import { versionNameProblem } from '../domain/version.js';
import type { S3Connection } from '../storage/s3-client.js';
import {
  MAX_PRESIGN_SECONDS,
  s3BucketProblem,
  s3EndpointProblem,
  s3EndpointUrl,
  s3RegionProblem,
} from '../storage/s3-names.js';
import { CliError } from './io.js';

/**
 * `bundle upload --s3-bucket-name ...`: the CLI puts the zip in the publisher's own bucket and
 * registers its URL with the server as an external bundle, as the Capgo CLI's --s3-* options do. The
 * bytes go from CI to the bucket; the server never sees them.
 */

/** The --s3-* options of `bundle upload`, named as in the Capgo CLI. */
export interface S3UploadFlags {
  s3BucketName?: string;
  s3Region?: string;
  s3Endpoint?: string;
  s3Port?: string;
  s3Apikey?: string;
  s3Apisecret?: string;
  /** False with --no-s3-ssl (commander's default is true). */
  s3Ssl?: boolean;
  s3PublicUrl?: string;
  s3Presign?: string;
}

/** Where and how the zip goes, checked before anything is zipped or uploaded. */
export interface BucketTarget {
  bucket: string;
  connection: S3Connection;
  /** Base URL devices download from instead of the endpoint (a public bucket domain or a CDN). */
  publicUrl?: string;
  /** Register a presigned URL valid this long instead of a public one. */
  presignSeconds?: number;
}

/**
 * The bucket the flags name, or null when none of them is given. The keys may come from
 * OVERAIR_S3_ACCESS_KEY / OVERAIR_S3_SECRET_KEY instead of flags, which keeps them out of shell
 * history and CI logs, or from the AWS SDK's default credential chain when neither is given.
 */
export function bucketTarget(
  flags: S3UploadFlags & { external?: string },
  env: Record<string, string | undefined>,
): BucketTarget | null {
  const given = [
    flags.s3Region,
    flags.s3Endpoint,
    flags.s3Port,
    flags.s3Apikey,
    flags.s3Apisecret,
    flags.s3PublicUrl,
    flags.s3Presign,
  ].some((value) => value !== undefined);
  if (!flags.s3BucketName) {
    if (given || flags.s3Ssl === false) throw new CliError('the --s3-* options need --s3-bucket-name');
    return null;
  }
  if (flags.external) throw new CliError('give either --external or --s3-bucket-name, not both');
  const bucket = flags.s3BucketName;
  const region = flags.s3Region ?? 'us-east-1';
  const accessKeyId = flags.s3Apikey ?? env.OVERAIR_S3_ACCESS_KEY;
  const secretAccessKey = flags.s3Apisecret ?? env.OVERAIR_S3_SECRET_KEY;
  const problems = [
    ['--s3-bucket-name', s3BucketProblem(bucket)],
    ['--s3-region', s3RegionProblem(region)],
    ['--s3-endpoint', flags.s3Endpoint === undefined ? null : s3EndpointProblem(flags.s3Endpoint)],
    // Both keys or neither: without them the AWS SDK's default credential chain finds them (AWS_*
    // variables, a shared profile, web identity, the instance role), as a CI runner's role provides.
    [
      '--s3-apikey',
      accessKeyId || !secretAccessKey ? null : 'required with --s3-apisecret (or OVERAIR_S3_ACCESS_KEY)',
    ],
    [
      '--s3-apisecret',
      secretAccessKey || !accessKeyId ? null : 'required with --s3-apikey (or OVERAIR_S3_SECRET_KEY)',
    ],
  ].filter(([, problem]) => problem !== null);
  if (problems.length > 0)
    throw new CliError(problems.map(([flag, problem]) => `${flag}: ${problem}`).join('; '));
  let port: number | undefined;
  if (flags.s3Port !== undefined) {
    port = Number(flags.s3Port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new CliError('--s3-port: expected a port number');
    if (flags.s3Endpoint === undefined) throw new CliError('--s3-port: only used with --s3-endpoint');
  }
  if (flags.s3PublicUrl !== undefined && flags.s3Presign !== undefined) {
    throw new CliError('give either --s3-public-url or --s3-presign, not both');
  }
  if (flags.s3PublicUrl !== undefined && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(flags.s3PublicUrl)) {
    throw new CliError('--s3-public-url: expected an http(s) URL such as https://bundles.example.com');
  }
  return {
    bucket,
    connection: {
      endpoint: s3EndpointUrl(flags.s3Endpoint, port, flags.s3Ssl !== false),
      region,
      accessKeyId: accessKeyId || undefined,
      secretAccessKey: secretAccessKey || undefined,
      forcePathStyle: true,
    },
    publicUrl: flags.s3PublicUrl?.replace(/\/+$/, ''),
    presignSeconds: flags.s3Presign === undefined ? undefined : presignSeconds(flags.s3Presign),
  };
}

function presignSeconds(text: string): number {
  const seconds = durationSeconds(text.trim(), 1);
  if (!(Number.isInteger(seconds) && seconds >= 1 && seconds <= MAX_PRESIGN_SECONDS)) {
    throw new CliError('--s3-presign: expected a duration from 1s to 7d (the most S3 signs for), e.g. 7d');
  }
  return seconds;
}

/**
 * The object's key: `APP/VERSION/SHA256.zip`. The checksum in it means a key never holds two
 * different zips, so uploading can never change the bytes behind a URL a bundle was registered with.
 */
export function bundleKey(appId: string, version: string, sha256: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(appId)) throw new CliError(`invalid app id "${appId}"`);
  const problem = versionNameProblem(version);
  if (problem) throw new CliError(`invalid bundle version "${version}": ${problem}`);
  return `${appId}/${version}/${sha256}.zip`;
}

export interface UploadedObject {
  key: string;
  /** The URL devices are given. */
  url: string;
  /** Throws unless the URL answers as devices will fetch it (anonymously). */
  checkReadable(): Promise<void>;
  /** Removes the object again if this upload created it (never one that was already there). */
  removeIfCreated(): Promise<void>;
  /** Releases the client's connections. */
  close(): void;
}

/** Streams the file into the bucket (multipart when large, memory flat) and makes its URL. */
export async function uploadToBucket(
  target: BucketTarget,
  file: { path: string; key: string; size: number; onProgress?: (sent: number) => void },
): Promise<UploadedObject> {
  // Loaded only here: the AWS SDK is large, and every other command starts without it.
  const [
    { GetObjectCommand, HeadObjectCommand, DeleteObjectCommand },
    { Upload },
    { getSignedUrl },
    { createS3Client, describeS3Error, isNotFound },
  ] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/lib-storage'),
    import('@aws-sdk/s3-request-presigner'),
    import('../storage/s3-client.js'),
  ]);
  const client = createS3Client(target.connection);
  const where = `s3://${target.bucket}/${file.key}`;
  const fail = (what: string, error: unknown): never => {
    const at = target.connection.endpoint ? ` at ${target.connection.endpoint}` : '';
    throw new CliError(`${what} ${where}${at}: ${describeS3Error(error)}`);
  };
  let created = false;
  try {
    const existing = await client
      .send(new HeadObjectCommand({ Bucket: target.bucket, Key: file.key }))
      .then((head) => head.ContentLength ?? 0)
      .catch((error: unknown) => (isNotFound(error) ? null : fail('cannot reach', error)));
    // The key holds its checksum: the same size there means the same zip, uploaded before.
    if (existing !== file.size) {
      const body = createReadStream(file.path);
      try {
        const upload = new Upload({
          client,
          params: {
            Bucket: target.bucket,
            Key: file.key,
            Body: body,
            ContentLength: file.size,
            ContentType: 'application/zip',
            CacheControl: 'public, max-age=31536000, immutable',
          },
          partSize: 8 * 1024 * 1024,
          queueSize: 4,
          leavePartsOnError: false,
        });
        upload.on('httpUploadProgress', (progress) => file.onProgress?.(progress.loaded ?? 0));
        await upload.done();
        created = true;
      } catch (error) {
        fail('cannot upload to', error);
      } finally {
        body.destroy();
      }
    }
    const signed = new URL(
      await getSignedUrl(client, new GetObjectCommand({ Bucket: target.bucket, Key: file.key }), {
        expiresIn: target.presignSeconds ?? 60,
      }),
    );
    let url: string;
    if (target.presignSeconds !== undefined) url = signed.toString();
    else if (target.publicUrl)
      url = `${target.publicUrl}/${file.key.split('/').map(encodeURIComponent).join('/')}`;
    else {
      // The object's plain URL, as the SDK addresses it (path or virtual-host style, AWS's regional
      // host): a presigned URL without its signature.
      signed.search = '';
      url = signed.toString();
    }
    return {
      key: file.key,
      url,
      async checkReadable() {
        let status: number;
        try {
          const response = await fetch(url, { headers: { range: 'bytes=0-0' } });
          status = response.status;
          await response.body?.cancel();
        } catch (error) {
          throw new CliError(`devices could not download ${url}: ${(error as Error).message}`);
        }
        if (status !== 200 && status !== 206) {
          throw new CliError(
            `devices could not download ${url} (HTTP ${status}): make the bucket's objects publicly readable ` +
              `(a bucket policy allowing s3:GetObject), give --s3-public-url for a public domain or CDN, ` +
              `or --s3-presign 7d for an expiring link; --no-verify skips this check`,
          );
        }
      },
      async removeIfCreated() {
        if (!created) return;
        await client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: file.key })).catch(() => {});
      },
      close: () => client.destroy(),
    };
  } catch (error) {
    if (created)
      await client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: file.key })).catch(() => {});
    client.destroy();
    throw error;
  }
}
