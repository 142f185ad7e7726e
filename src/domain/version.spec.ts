import { describe, expect, it } from 'vitest';
import { meetsMinimumNativeVersion, versionNameProblem } from './version.js';

describe('versionNameProblem', () => {
  it.each(['1.0.0', '1.0.0-beta.1', '2.3.4+build.5', 'v1', '2024_01_01'])('accepts %s', (name) => {
    expect(versionNameProblem(name)).toBeUndefined();
  });

  it.each(['', '../1.0.0', '1.0/0', '1..0', '.1', '1.0.0-', 'a b', '1\n2', 'x'.repeat(129), 'C:\\x'])(
    'refuses %j',
    (name) => {
      expect(versionNameProblem(name)).toMatch(/version name/);
    },
  );

  it('refuses the names the plugin reserves', () => {
    expect(versionNameProblem('builtin')).toMatch(/reserved/);
    expect(versionNameProblem('Unknown')).toMatch(/reserved/);
  });
});

describe('meetsMinimumNativeVersion', () => {
  it('compares coerced semver', () => {
    expect(meetsMinimumNativeVersion('2', '2.0.0')).toBe(true);
    expect(meetsMinimumNativeVersion('2.1', '2.0.5')).toBe(true);
    expect(meetsMinimumNativeVersion('10.0.0', '9.9.9')).toBe(true);
    expect(meetsMinimumNativeVersion('1.9.9', '2.0.0')).toBe(false);
  });

  it('lets everything through without a minimum, and nothing unparsable through with one', () => {
    expect(meetsMinimumNativeVersion('anything', null)).toBe(true);
    expect(meetsMinimumNativeVersion('', '1.0.0')).toBe(false);
    expect(meetsMinimumNativeVersion('not-a-version', '1.0.0')).toBe(false);
  });

  it('treats a pre-release as below its release', () => {
    expect(meetsMinimumNativeVersion('2.0.0-beta.1', '2.0.0')).toBe(false);
  });
});
