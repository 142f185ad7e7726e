import ms from 'ms';

const BARE_NUMBER = /^\d+$/;

/**
 * Seconds from what the `ms` package reads (30s, 5m, 12h, 7d, 1.5h, 2 days), or from a bare number in
 * `bareUnit` seconds (ms would take it as milliseconds, never what a setting or a flag means); NaN
 * for anything else. The one reader of durations: settings (config-settings.ts) and CLI flags. Kept
 * apart from the settings so that a CLI command can read a duration without loading zod.
 */
export function durationSeconds(text: string, bareUnit: number): number {
  if (BARE_NUMBER.test(text)) return Number(text) * bareUnit;
  // ms throws on an empty text and on one over 100 characters, and answers undefined to the rest of
  // what it cannot read: all "not a duration" here.
  const millis =
    text === '' || text.length > 100 ? undefined : (ms(text as ms.StringValue) as number | undefined);
  return typeof millis === 'number' && Number.isFinite(millis) ? millis / 1000 : Number.NaN;
}
