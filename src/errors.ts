/**
 * An error meant for the client: it carries the HTTP status and a stable machine code, and its
 * message is safe to show. Anything else that reaches the error handler is a bug and becomes a 500
 * without details.
 */
export class OverairError extends Error {
  override name = 'OverairError';
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 408 | 409 | 413 | 415 | 422 | 429 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string) => new OverairError(400, code, message);
export const notFound = (code: string, message: string) => new OverairError(404, code, message);
export const conflict = (code: string, message: string) => new OverairError(409, code, message);

/** How long a client is asked to wait (Retry-After) before trying again during a database outage. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** The bundle store (S3) cannot be reached right now: a 503 the client may retry. */
export const storageUnavailable = () =>
  new OverairError(
    503,
    'storage_unavailable',
    'The bundle storage cannot be reached right now; try again shortly',
  );

/** The database cannot be reached right now (see db/unavailable.ts): a 503 the client may retry. */
export const databaseUnavailable = () =>
  new OverairError(
    503,
    'database_unavailable',
    'The database cannot be reached right now; try again shortly',
  );

/**
 * The client's request stream broke before its body was read: the client went away (its socket
 * reset or closed: ECONNRESET, "aborted") or the server cut it for sending nothing (see
 * http/body-timeouts.ts). Its cause is kept for the log, but whatever that cause's code, this is
 * never a database outage (db/unavailable.ts does not look inside it) nor a server fault.
 */
export class ClientAborted extends OverairError {
  override name = 'ClientAborted';
  constructor(cause: unknown) {
    super(400, 'client_aborted', 'The request body was not received in full: the client went away');
    this.cause = cause;
  }
}
