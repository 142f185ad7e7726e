import { describe, expect, it } from 'vitest';
import { CHECK_OUTCOMES, OUTCOME, outcomeOfStatus, PLUGIN_MAJORS, pluginMajorIndex } from './labels.js';

describe('metric labels', () => {
  it('read the major number of a plugin version, "other" past 15, "unknown" for anything else', () => {
    const major = (version: string) => PLUGIN_MAJORS[pluginMajorIndex(version)];
    expect(major('8.51.23')).toBe('8');
    expect(major('7')).toBe('7');
    expect(major('0.1.0')).toBe('0');
    expect(major('15.0.0')).toBe('15');
    expect(major('16.0.0')).toBe('other');
    expect(major('99999999.1')).toBe('other');
    for (const bad of ['', 'v8.0.0', '.1', '8a.0', 'x', '８.0.0', '8-beta'])
      expect(major(bad), bad).toBe('unknown');
  });

  it('name an error answer by its status', () => {
    const named = (status: number) => CHECK_OUTCOMES[outcomeOfStatus(status)];
    expect([400, 404, 413, 429, 500, 503].map(named)).toEqual([
      'invalid',
      'invalid',
      'invalid',
      'rate_limited',
      'error',
      'error',
    ]);
    for (const [name, index] of Object.entries(OUTCOME)) expect(CHECK_OUTCOMES[index]).toBe(name);
  });
});
