import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cli, makeProject } from './helpers/cli.js';
import { createBucket, deleteBucket, listKeys, s3Client, type S3Info } from './helpers/radosgw.js';
import { ADMIN_TOKEN, deviceInfo, startTestServer, type TestServer } from './helpers/server.js';

const APP = 'com.example.clis3';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Lets anyone read the bucket's objects, as a bucket that serves bundles to devices must. */
async function makePublic(s3: S3Info, bucket: string): Promise<void> {
  const client = s3Client(s3);
  try {
    await client.send(
      new PutBucketPolicyCommand({
        Bucket: bucket,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: '*',
              Action: ['s3:GetObject'],
              Resource: [`arn:aws:s3:::${bucket}/*`],
            },
          ],
        }),
      }),
    );
  } finally {
    client.destroy();
  }
}

describe('overair bundle upload --s3-bucket-name (straight to the publisher’s bucket)', () => {
  let server: TestServer;
  let s3: S3Info;
  let publicBucket: string;
  let privateBucket: string;
  let project: string;
  let env: Record<string, string>;
  /** The Capgo CLI's way of naming an endpoint: host, port, and --no-s3-ssl for plain http. */
  let s3Flags: string[];
  const run = (...args: string[]) => cli(args, { cwd: project, env });

  beforeAll(async () => {
    s3 = inject('s3');
    [publicBucket, privateBucket] = await Promise.all([createBucket(s3), createBucket(s3)]);
    await makePublic(s3, publicBucket);
    server = await startTestServer();
    project = await makeProject({ appId: APP, version: '1.2.0' });
    env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    const endpoint = new URL(s3.endpoint);
    s3Flags = ['--s3-endpoint', endpoint.hostname, '--s3-port', endpoint.port, '--no-s3-ssl'];
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    if (project) await fs.rm(project, { recursive: true, force: true });
    for (const bucket of [publicBucket, privateBucket]) if (bucket) await deleteBucket(s3, bucket);
  });

  it('zips, uploads to the bucket and registers the public URL; the server never holds the bytes', async () => {
    const result = await run(
      'bundle',
      'upload',
      '--s3-bucket-name',
      publicBucket,
      ...s3Flags,
      '--s3-apikey',
      s3.accessKey,
      '--s3-apisecret',
      s3.secretKey,
      '--channel',
      'production',
      '--json',
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { sha256: sha, url } = result.json;
    expect(result.json).toMatchObject({ version: '1.2.0', location: 'external' });
    expect(url).toBe(`${s3.endpoint}/${publicBucket}/${APP}/1.2.0/${sha}.zip`);
    expect(await listKeys(s3, publicBucket)).toEqual([`${APP}/1.2.0/${sha}.zip`]);
    expect(result.stdout + result.stderr).not.toContain(s3.secretKey);

    // Nothing reached the server's own store.
    expect(await server.services.store.size(sha)).toBeNull();

    const answer = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, version_name: '1.0.0' }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ version: '1.2.0', url, checksum: sha });
    const download = await fetch(answer.body.url);
    expect(download.status).toBe(200);
    expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(answer.body.checksum);
  });

  it('registers a presigned URL instead with --s3-presign, keys from the environment', async () => {
    const result = await cli(
      [
        'bundle',
        'upload',
        '--bundle',
        '1.2.1',
        '--s3-bucket-name',
        privateBucket,
        ...s3Flags,
        '--s3-presign',
        '1d',
        '--json',
      ],
      {
        cwd: project,
        env: { ...env, OVERAIR_S3_ACCESS_KEY: s3.accessKey, OVERAIR_S3_SECRET_KEY: s3.secretKey },
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const url = new URL(result.json.url);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('86400');
    const download = await fetch(url);
    expect(download.status).toBe(200);
    expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(result.json.sha256);
    expect(await server.services.store.size(result.json.sha256)).toBeNull();
  });

  it('refuses to register an object devices cannot read, and removes it again', async () => {
    const before = await listKeys(s3, privateBucket);
    const result = await run(
      'bundle',
      'upload',
      '--bundle',
      '1.2.2',
      '--s3-bucket-name',
      privateBucket,
      ...s3Flags,
      '--s3-apikey',
      s3.accessKey,
      '--s3-apisecret',
      s3.secretKey,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/devices could not download .* \(HTTP 403\)/);
    expect(result.stderr).not.toContain(s3.secretKey);
    expect(await listKeys(s3, privateBucket)).toEqual(before);
    expect((await server.api('GET', `/apps/${APP}/bundles/1.2.2`)).status).toBe(404);
  });

  it('checks its options and the version before uploading anything', async () => {
    const keys = ['--s3-apikey', s3.accessKey, '--s3-apisecret', s3.secretKey];
    for (const [args, message] of [
      [['--s3-port', '9000'], /need --s3-bucket-name/],
      [['--no-s3-ssl'], /need --s3-bucket-name/],
      [
        ['--s3-bucket-name', publicBucket, '--external', 'https://x.example/a.zip', ...keys],
        /either --external or --s3-bucket-name/,
      ],
      [['--s3-bucket-name', publicBucket, '--s3-apisecret', s3.secretKey], /--s3-apikey: required/],
      [['--s3-bucket-name', 'Bad!', ...keys], /--s3-bucket-name: a bucket name/],
      [['--s3-bucket-name', publicBucket, '--s3-presign', '30d', ...keys], /--s3-presign/],
      // 1.2.0 is there already: refused before its bytes go anywhere.
      [
        ['--s3-bucket-name', publicBucket, '--bundle', '1.2.0', ...s3Flags, ...keys],
        /already has a bundle 1.2.0/,
      ],
    ] as const) {
      const result = await run('bundle', 'upload', ...args);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr, args.join(' ')).toMatch(message);
    }
    expect(await listKeys(s3, publicBucket)).toHaveLength(1);
  });
});
