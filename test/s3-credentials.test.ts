/**
 * S3 storage without keys in Overair's settings: the AWS SDK's default credential chain finds them,
 * here in the AWS_* environment of the server's process or in a shared credentials file's profile,
 * as an instance role or a CI runner's would be. Real `overair serve` processes, the suite's radosgw.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createBucket, deleteBucket, listKeys } from './helpers/radosgw.js';
import { ADMIN_TOKEN } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const ROOT = path.resolve(import.meta.dirname, '..');

interface Served {
  url: string | null;
  output: string;
  stop(): Promise<void>;
}

/**
 * Starts `overair serve` with only `env` (no OVERAIR_* or AWS_* of this process), its home and AWS
 * files in `home` so that no profile of this machine is found, and no instance metadata to ask.
 * Resolves once it listens (url) or has exited (url null).
 */
function serve(home: string, env: Record<string, string>): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      AWS_CONFIG_FILE: path.join(home, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      OVERAIR_PORT: '0',
      OVERAIR_HOST: '127.0.0.1',
      OVERAIR_DATA_DIR: path.join(home, 'data'),
      OVERAIR_ADMIN_TOKEN: ADMIN_TOKEN,
      OVERAIR_LOG_LEVEL: 'info',
      OVERAIR_STORAGE: 's3',
      OVERAIR_S3_ENDPOINT: inject('s3').endpoint,
      OVERAIR_S3_REGION: inject('s3').region,
      ...env,
    },
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let output = '';
  return new Promise((resolve) => {
    const stop = async () => {
      child.kill('SIGTERM');
      await exited;
    };
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1];
      if (url) resolve({ url, output, stop });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    void exited.then(() => resolve({ url: null, output, stop }));
  });
}

describe('S3 storage with the AWS default credential chain', () => {
  let home: string;
  let bucket: string;
  let zip: Buffer;

  beforeAll(async () => {
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-s3-chain-'));
    bucket = await createBucket(inject('s3'));
    zip = await makeZip({ 'index.html': '<!doctype html><title>chain</title>' });
  });
  afterAll(async () => {
    await deleteBucket(inject('s3'), bucket);
    await fs.rm(home, { recursive: true, force: true });
  });

  async function uploadThrough(served: Served, app: string): Promise<void> {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const created = await fetch(`${served.url}/api/v1/apps`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ id: app }),
    });
    expect(created.status).toBe(201);
    const up = await fetch(`${served.url}/api/v1/apps/${app}/bundles/upload?version=1.0.0`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/zip' },
      body: new Uint8Array(zip),
    });
    expect(up.status, await up.clone().text()).toBe(201);
    const { sha256 } = (await up.json()) as { sha256: string };
    const keys = await listKeys(inject('s3'), bucket);
    expect(keys.some((key) => key.endsWith(sha256))).toBe(true);
  }

  it('takes the keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY', async () => {
    const s3 = inject('s3');
    const served = await serve(home, {
      OVERAIR_S3_BUCKET: bucket,
      OVERAIR_S3_PREFIX: 'env/',
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secretKey,
    });
    try {
      expect(served.url, served.output).not.toBeNull();
      await uploadThrough(served, 'com.example.chain.env');
      expect(served.output).not.toContain(s3.secretKey);
    } finally {
      await served.stop();
    }
  });

  it('takes them from a profile of the shared credentials file', async () => {
    const s3 = inject('s3');
    await fs.writeFile(
      path.join(home, 'aws-credentials'),
      `[overair-ci]\naws_access_key_id = ${s3.accessKey}\naws_secret_access_key = ${s3.secretKey}\n`,
      { mode: 0o600 },
    );
    const served = await serve(home, {
      OVERAIR_S3_BUCKET: bucket,
      OVERAIR_S3_PREFIX: 'profile/',
      AWS_PROFILE: 'overair-ci',
      OVERAIR_DATA_DIR: path.join(home, 'data-profile'),
    });
    try {
      expect(served.url, served.output).not.toBeNull();
      await uploadThrough(served, 'com.example.chain.profile');
    } finally {
      await served.stop();
      await fs.rm(path.join(home, 'aws-credentials'), { force: true });
    }
  });

  it('stops with a message when the chain finds no credentials', async () => {
    const served = await serve(home, {
      OVERAIR_S3_BUCKET: bucket,
      OVERAIR_DATA_DIR: path.join(home, 'data-none'),
    });
    await served.stop();
    expect(served.url).toBeNull();
    expect(served.output).toContain(`cannot use S3 bucket "${bucket}"`);
    expect(served.output).toMatch(/credentials/i);
  });
});
