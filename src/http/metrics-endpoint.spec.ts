import { describe, expect, it } from 'vitest';
import { bearerMatches } from './metrics-endpoint.js';

describe('the metrics token', () => {
  const token = 'metrics-token-0123456789abcdef';

  it('is accepted as a bearer token only, exactly', () => {
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`bearer  ${token} `, token)).toBe(true);
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      token,
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer ${token.slice(1)}`,
      `Bearer ${token.toUpperCase()}`,
      `Bearer ${token} ${token}`,
    ])
      expect(bearerMatches(header, token), String(header)).toBe(false);
  });
});
