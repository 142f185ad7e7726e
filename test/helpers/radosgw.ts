import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/storage/s3-client.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** How tests reach the suite's S3 gateway (what test/global-setup.ts provides as `s3`). */
export interface S3Info {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: 'us-east-1';
}

export interface Radosgw extends S3Info {
  stop(): Promise<void>;
  /** Stops the gateway alone (the cluster and its objects stay), for outage tests. */
  stopGateway(): Promise<void>;
  /** Starts the gateway again on the same port; resolves once it answers. */
  startGateway(): Promise<void>;
}

/** The daemons, in the order they start; stopped in the reverse order. */
type Daemon = 'mon' | 'osd' | 'rgw';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/**
 * A one-node Ceph cluster with an S3 gateway on loopback (docs/test-servers.md): one monitor, one OSD that
 * keeps objects in memory, one radosgw, and a user with fresh keys. All state is in one temporary
 * folder, removed by stop(); about 10 s to start. Real S3 (SigV4, presigned URLs, multipart), unlike
 * fakes that accept any signature.
 */
export async function startRadosgw(): Promise<Radosgw> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-rgw-'));
  const children = new Map<Daemon, ChildProcess>();
  // Should the test process end without stop() (a crash), the daemons must not outlive it.
  const killAll = () => {
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killAll);

  const stop = async () => {
    process.off('exit', killAll);
    for (const name of ['rgw', 'osd', 'mon'] as const) {
      const child = children.get(name);
      if (child) await stopChild(child);
    }
    await fs.rm(dir, { recursive: true, force: true });
  };

  try {
    const [monV1, monV2, rgwPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const fsid = randomUUID();
    const conf = path.join(dir, 'ceph.conf');
    await fs.writeFile(conf, cephConf(dir, fsid, monV1, monV2, rgwPort));
    const monAddress = `[v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`;
    const ceph = (...args: string[]) => tool(dir, 'ceph', ['-c', conf, '--connect-timeout', '5', ...args]);

    // 1. The monitor.
    await tool(dir, 'ceph-authtool', [
      '--create-keyring',
      path.join(dir, 'keyring'),
      '--gen-key',
      '-n',
      'mon.',
      '--cap',
      'mon',
      'allow *',
    ]);
    await tool(dir, 'monmaptool', [
      '--create',
      '--addv',
      'a',
      monAddress,
      '--fsid',
      fsid,
      path.join(dir, 'monmap'),
    ]);
    await tool(dir, 'ceph-mon', [
      '-c',
      conf,
      '--mkfs',
      '-i',
      'a',
      '--monmap',
      path.join(dir, 'monmap'),
      '--keyring',
      path.join(dir, 'keyring'),
    ]);
    children.set('mon', daemon(dir, 'mon', 'ceph-mon', ['-c', conf, '-i', 'a', '-f']));
    await waitFor(dir, children, 'the Ceph monitor to answer', async () => {
      await ceph('-s');
      return true;
    });

    // 2. One OSD, objects in memory.
    const osdUuid = randomUUID();
    const osdId = (await ceph('osd', 'new', osdUuid)).trim();
    if (!/^\d+$/.test(osdId)) throw new Error(`ceph osd new answered ${JSON.stringify(osdId)}`);
    await fs.mkdir(path.join(dir, `osd.${osdId}`), { recursive: true });
    await tool(dir, 'ceph-osd', ['-c', conf, '-i', osdId, '--mkfs', '--osd-uuid', osdUuid]);
    children.set('osd', daemon(dir, 'osd', 'ceph-osd', ['-c', conf, '-i', osdId, '-f']));
    await waitFor(dir, children, 'the OSD to be up', async () => /\b1 up\b/.test(await ceph('osd', 'stat')));

    // 3. The gateway (its first start creates its pools).
    await fs.mkdir(path.join(dir, 'rgw.a'), { recursive: true });
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    const startGateway = async () => {
      children.set('rgw', daemon(dir, 'rgw', 'radosgw', ['-c', conf, '-n', 'client.rgw.a', '-f']));
      await waitFor(dir, children, `radosgw to answer on ${endpoint}`, async () => {
        try {
          await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
          return true;
        } catch {
          return false;
        }
      });
    };
    const stopGateway = async () => {
      const gateway = children.get('rgw');
      children.delete('rgw');
      if (gateway) await stopChild(gateway);
    };
    await startGateway();

    // 4. A user with fresh keys.
    const accessKey = randomBytes(10).toString('hex').toUpperCase();
    const secretKey = randomBytes(20).toString('base64url');
    await tool(dir, 'radosgw-admin', [
      '-c',
      conf,
      'user',
      'create',
      '--uid=test',
      '--display-name=test',
      `--access-key=${accessKey}`,
      `--secret-key=${secretKey}`,
    ]);
    return { endpoint, accessKey, secretKey, region: 'us-east-1', stop, stopGateway, startGateway };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

function cephConf(dir: string, fsid: string, monV1: number, monV2: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms bind ipv6 = false
# Without it radosgw never starts with auth none.
ms mon client mode = crc secure
public addr = 127.0.0.1
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
run dir = ${dir}
admin socket = ${dir}/$name.asok
log file = ${dir}/$name.log
pid file = ${dir}/$name.pid
keyring = ${dir}/keyring

[mon.a]
mon data = ${dir}/mon.a

[osd.0]
osd data = ${dir}/osd.0
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 460
osd max object namespace len = 64

[client.rgw.a]
# tcp_nodelay: without it each small GET waits ~47 ms for a delayed ACK.
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw data = ${dir}/rgw.a
rgw dns name = 127.0.0.1
`;
}

/** Runs a Ceph tool to completion; its output on success, its output in the error otherwise. */
async function tool(dir: string, command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { cwd: dir, timeout: 30_000 });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `${command} is not installed: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd`,
        { cause: error },
      );
    }
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`, {
      cause: error,
    });
  }
}

/** A daemon in the foreground (-f), its stdout and stderr in DIR/NAME.out next to its log. */
function daemon(dir: string, name: Daemon, command: string, args: string[]): ChildProcess {
  const out = openSync(path.join(dir, `${name}.out`), 'a');
  try {
    const child = spawn(command, args, { cwd: dir, stdio: ['ignore', out, out] });
    child.on('error', () => {}); // reported by waitFor through exitCode / the .out file
    return child;
  } finally {
    closeSync(out);
  }
}

/**
 * Polls `ready` until it says true. Gives up after START_TIMEOUT_MS, or at once when a daemon has
 * exited, with the tail of every log in the folder: what failed is in there.
 */
async function waitFor(
  dir: string,
  children: Map<Daemon, ChildProcess>,
  what: string,
  ready: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    const dead = [...children].find(([, child]) => child.exitCode !== null || child.signalCode !== null);
    if (dead) {
      throw new Error(
        `while waiting for ${what}, ceph ${dead[0]} exited (${dead[1].exitCode ?? dead[1].signalCode})\n${await logTails(dir)}`,
      );
    }
    try {
      if (await ready()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `timed out after ${START_TIMEOUT_MS / 1000} s waiting for ${what}` +
      `${last ? ` (last error: ${(last as Error).message})` : ''}\n${await logTails(dir)}`,
  );
}

async function logTails(dir: string, lines = 15): Promise<string> {
  const names = (await fs.readdir(dir).catch(() => [])).filter((name) => /\.(log|out)$/.test(name)).sort();
  const tails: string[] = [];
  for (const name of names) {
    const text = await fs.readFile(path.join(dir, name), 'utf8').catch(() => '');
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
    if (tail) tails.push(`--- ${name} (last ${lines} lines)\n${tail}`);
  }
  return tails.join('\n') || '(no ceph logs)';
}

/** SIGTERM, then SIGKILL if it has not exited after STOP_TIMEOUT_MS. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** An SDK client for the gateway, configured as the server configures its own. */
export function s3Client(info: S3Info): S3Client {
  return createS3Client({
    endpoint: info.endpoint,
    region: info.region,
    accessKeyId: info.accessKey,
    secretAccessKey: info.secretKey,
    forcePathStyle: true,
  });
}

let bucketCounter = 0;

/** A new, empty bucket (a fresh name unless given), so tests never see each other's objects. */
export async function createBucket(info: S3Info, name?: string): Promise<string> {
  const bucket = name ?? `test-${process.pid}-${Date.now().toString(36)}-${bucketCounter++}`;
  const client = s3Client(info);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

/** Every key in a bucket (for assertions that nothing was left behind). */
export async function listKeys(info: S3Info, bucket: string): Promise<string[]> {
  const client = s3Client(info);
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((object) => object.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  } finally {
    client.destroy();
  }
}

/** Multipart uploads started and neither completed nor aborted (parts left behind). */
export async function listIncompleteUploads(info: S3Info, bucket: string): Promise<string[]> {
  const client = s3Client(info);
  try {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (page.Uploads ?? []).map((upload) => upload.Key!);
  } finally {
    client.destroy();
  }
}

/** Empties the bucket (objects and unfinished multipart uploads), then deletes it. */
export async function deleteBucket(info: S3Info, bucket: string): Promise<void> {
  const client = s3Client(info);
  try {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const upload of uploads.Uploads ?? []) {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }),
      );
    }
    // One by one: test buckets hold a handful of objects, and DeleteObjects wants a Content-MD5 that
    // the SDK no longer sends by default.
    for (const key of await listKeys(info, bucket)) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}
