import type http from 'node:http';

/** How often idle keep-alive connections are closed while draining. */
const SWEEP_MS = 100;

/**
 * Stops the server gracefully: no new connections from now on, idle keep-alive connections closed
 * at once, requests in flight allowed to finish for up to `timeoutMs`, after which the connections
 * left are cut. A request that arrives meanwhile on a kept-alive connection is still answered, with
 * `Connection: close`; a connection that goes idle after its answer is closed within SWEEP_MS.
 * Resolves once every connection is closed: 'drained', or 'forced' when the timeout cut some.
 */
export async function drainHttpServer(server: http.Server, timeoutMs: number): Promise<'drained' | 'forced'> {
  // First, before any await: the listening socket is closed when this call returns.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // First among the request listeners, so that it runs before any handler writes the headers.
  const closeAfterAnswer = (_request: http.IncomingMessage, response: http.ServerResponse) =>
    response.setHeader('connection', 'close');
  server.prependListener('request', closeAfterAnswer);
  server.closeIdleConnections();
  // A connection whose answer began before the drain goes idle when it ends; Node only closes idle
  // connections once, when close() is called, so keep sweeping.
  const sweep = setInterval(() => server.closeIdleConnections(), SWEEP_MS);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'forced'>((resolve) => {
    timer = setTimeout(() => resolve('forced'), timeoutMs);
  });
  try {
    const outcome = await Promise.race([closed.then(() => 'drained' as const), timedOut]);
    if (outcome === 'forced') {
      server.closeAllConnections();
      await closed;
    }
    return outcome;
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
    server.off('request', closeAfterAnswer);
  }
}
