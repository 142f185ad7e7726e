/**
 * The bare node:http baseline for bench/check.ts: reads the request body, answers a constant small
 * JSON reply (the size of Overair's up-to-date answer) to any POST. Port 0; the URL goes back over IPC.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { reportMetrics } from './server-metrics.js';

reportMetrics();

const REPLY = Buffer.from(
  JSON.stringify({
    error: 'no_new_version_available',
    message: 'No new version available',
    kind: 'up_to_date',
  }),
);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
      return;
    }
    Buffer.concat(chunks); // the body is read in full, as a real handler would
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': REPLY.length }).end(REPLY);
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'listening', url: `http://127.0.0.1:${port}`, port });
});
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 2000).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
