import { describe, expect, it } from 'vitest';
import { DownloadLinks } from './download.js';

const SECRET = 'a-download-secret-of-at-least-32-characters';
const WEEK = 7 * 86_400;
const maxAgeOf = (cacheControl: string) => Number(/max-age=(\d+)/.exec(cacheControl)![1]);

describe('DownloadLinks.redirectWindow (redirects to presigned URLs)', () => {
  it('public links: signs at the start of the hour for OVERAIR_DOWNLOAD_URL_TTL, caches the 302 to the end of it', () => {
    const now = Date.UTC(2026, 10, 23, 10, 20, 0);
    const links = new DownloadLinks(undefined, undefined, () => now, WEEK);
    const window = links.redirectWindow(undefined);
    expect(window.signedAt).toBe(Date.UTC(2026, 10, 23, 10, 0, 0));
    expect(window.expiresInSeconds).toBe(WEEK);
    expect(window.cacheControl).toBe('public, max-age=2400, must-revalidate');
    expect(window.objectCacheControl).toBeUndefined();
    // Whoever is served the cached 302 last still gets a URL with most of its life ahead.
    const servedUntil = now / 1000 + maxAgeOf(window.cacheControl);
    expect(window.signedAt / 1000 + window.expiresInSeconds - servedUntil).toBeGreaterThan(0.8 * WEEK);
  });

  it('caps the lifetime at the 7 days SigV4 allows, and shortens the step with a short one', () => {
    const now = Date.UTC(2026, 10, 23, 10, 20, 7);
    expect(
      new DownloadLinks(undefined, undefined, () => now, 30 * 86_400).redirectWindow(undefined),
    ).toMatchObject({
      expiresInSeconds: WEEK,
    });
    const short = new DownloadLinks(undefined, undefined, () => now, 600).redirectWindow(undefined);
    // A step of 60 s: signed at 10:20:00, the 302 cached 53 s.
    expect(short).toMatchObject({ signedAt: Date.UTC(2026, 10, 23, 10, 20, 0), expiresInSeconds: 600 });
    expect(short.cacheControl).toBe('public, max-age=53, must-revalidate');
  });

  it('gives the same window to every request of a step', () => {
    let now = Date.UTC(2026, 10, 23, 10, 0, 1);
    const links = new DownloadLinks(undefined, undefined, () => now, WEEK);
    const first = links.redirectWindow(undefined);
    now += 3598_000;
    const later = links.redirectWindow(undefined);
    expect([later.signedAt, later.expiresInSeconds]).toEqual([first.signedAt, first.expiresInSeconds]);
    now += 2000;
    expect(links.redirectWindow(undefined).signedAt).toBe(first.signedAt + 3600_000);
  });

  it('private links: the presigned URL never outlives the link, and nothing is cached but privately', () => {
    const now = Date.UTC(2026, 10, 23, 10, 20, 0);
    const links = new DownloadLinks(undefined, { secret: SECRET, ttlSeconds: 12 * 3600 }, () => now);
    const exp = String(now / 1000 + 90);
    const window = links.redirectWindow(exp);
    expect(window.signedAt / 1000 + window.expiresInSeconds).toBe(Number(exp));
    expect(window.cacheControl).toBe('private, max-age=90');
    expect(window.objectCacheControl).toBe(`private, max-age=${window.expiresInSeconds}`);
  });

  it('private links living longer than 7 days: the presigned URL is capped, a later request gets a fresh one', () => {
    const now = Date.UTC(2026, 10, 23, 10, 20, 0);
    const links = new DownloadLinks(undefined, { secret: SECRET, ttlSeconds: 366 * 86_400 }, () => now);
    const exp = String(now / 1000 + 300 * 86_400);
    const window = links.redirectWindow(exp);
    expect(window.expiresInSeconds).toBe(WEEK);
    expect(maxAgeOf(window.cacheControl)).toBeLessThanOrEqual(3600);
  });
});
