/**
 * Whether an error means "this transaction lost a race with another one and was rolled back":
 * PostgreSQL's 40P01 deadlock_detected and 40001 serialization_failure. Run again, it can succeed;
 * nothing of it was kept. (SQLite has one writer: it never reports either.)
 */
const CONFLICT_CODES = new Set(['40P01', '40001']);

export function isWriteConflict(error: unknown): boolean {
  for (let cause = error, depth = 0; typeof cause === 'object' && cause !== null && depth < 5; depth++) {
    const { code } = cause as { code?: unknown };
    if (typeof code === 'string' && CONFLICT_CODES.has(code)) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}
