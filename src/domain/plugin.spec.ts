import { describe, expect, it } from 'vitest';
import { currentBundleVersion, pluginKeepsChannelLocally, pluginSupportsManifest } from './plugin.js';

describe('currentBundleVersion', () => {
  it('reads "builtin" and empty names as the native version (plugins before 8.44)', () => {
    expect(currentBundleVersion('builtin', '1.2.0')).toBe('1.2.0');
    expect(currentBundleVersion('', '1.2.0')).toBe('1.2.0');
    expect(currentBundleVersion('1.2.1', '1.2.0')).toBe('1.2.1');
  });
});

describe('pluginSupportsManifest', () => {
  it.each([
    ['8.0.0', true],
    ['8.51.23', true],
    ['7.0.35', true],
    ['7.0.34', false],
    ['7.51.21', true],
    ['6.25.0', true],
    ['6.24.9', false],
    ['5.10.0', true],
    ['5.9.0', false],
    ['4.40.0', false],
    ['', false],
  ])('%s -> %s', (version, expected) => {
    expect(pluginSupportsManifest(version)).toBe(expected);
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
