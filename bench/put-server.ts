/**
 * The plain-PUT baseline of bench/publish.ts on fs: a bare node:http server that streams each
 * `PUT /NAME` body into PUT_DIR/NAME, fsyncs the file and answers 201. No hashing, no checks: only
 * what any durable upload to that disk costs, moving the bytes from a client through HTTP into a
 * file that a power cut cannot lose (Overair's fs store flushes the zip to the disk before its 201
 * too). Its URL goes back over the IPC channel, as the other servers' do.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

const dir = process.env.PUT_DIR;
if (!dir) throw new Error('PUT_DIR must name the folder to write to');

const server = http.createServer((request, response) => {
  const name = /^\/([A-Za-z0-9][A-Za-z0-9._-]*)$/.exec(request.url ?? '')?.[1];
  if (request.method !== 'PUT' || !name) {
    response.writeHead(404).end();
    return;
  }
  const file = path.join(dir, name);
  pipeline(request, createWriteStream(file))
    .then(async () => {
      const handle = await fs.open(file, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    })
    .then(
      () => response.writeHead(201).end(),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'listening', url: `http://127.0.0.1:${port}` });
});
process.on('disconnect', () => process.exit(0));
