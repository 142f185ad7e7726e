import { describe, expect, it } from 'vitest';
import { currentBundleVersion, pluginKeepsChannelLocally } from './plugin.js';

describe('currentBundleVersion', () => {
  it('reads "builtin" and empty names as the native version (plugins before 8.44)', () => {
    expect(currentBundleVersion('builtin', '1.2.0')).toBe('1.2.0');
    expect(currentBundleVersion('', '1.2.0')).toBe('1.2.0');
    expect(currentBundleVersion('1.2.1', '1.2.0')).toBe('1.2.1');
  });
});

describe('pluginKeepsChannelLocally', () => {
  it.each([
    ['8.0.0', true],
    ['8.51.23', true],
    ['7.34.0', true],
    ['7.33.9', false],
    ['6.34.1', true],
    ['5.10.0', false],
    ['4.99.0', false],
    ['', false],
  ])('%s -> %s', (version, expected) => {
    expect(pluginKeepsChannelLocally(version)).toBe(expected);
  });
});
