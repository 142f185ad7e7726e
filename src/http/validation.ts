import { z } from 'zod';
import { errors } from '../errors.js';

/**
 * Validates input with a zod schema; the message names each offending field. `fromText`: the JSON
 * text `value` was parsed from, when there is one: a NUL can only come from a `\u0000` escape in it,
 * so a text without one spares the walk through the value (the update check's hot path).
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where = 'body',
  fromText?: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    const nul = fromText !== undefined && !fromText.includes('\\u0000') ? null : pathOfNul(parsed.data);
    if (nul !== null)
      throw errors.invalidRequest({
        problem: `${nul.length ? nul.join('.') : where}: must not contain NUL characters`,
      });
    return parsed.data;
  }
  const problems = parsed.error.issues.slice(0, 5).map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : where;
    return `${field}: ${issue.message}`;
  });
  throw errors.invalidRequest({ problem: problems.join('; ') });
}

/**
 * The path of the first string holding a NUL character, or null. No client has a use for one, and
 * PostgreSQL refuses it in text (stored or compared), which would turn a bad request into a 500 or
 * lose a batch of device events written behind with it.
 */
function pathOfNul(value: unknown, path: string[] = []): string[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    const found = pathOfNul(item, [...path, key]);
    if (found !== null) return found;
  }
  return null;
}
