/**
 * The error registry (src/errors.ts) is the one source of every error code: its codes are unique,
 * nothing in src/ builds an error or names a code past it, and docs/errors.md is what it generates.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UPDATE_CHECK_ANSWERS, errors } from './errors.js';
import { ERRORS_PAGE, renderErrorsPage } from '../scripts/docs/errors.js';

const SRC = import.meta.dirname;
const REGISTRY = path.join(SRC, 'errors.ts');
/** Files that may name a registry code as a literal, and why. */
const ALLOWED = new Map([
  // A pure function of the domain: it says which of two codes a URL problem is; services/webhooks.ts
  // builds the error through the registry.
  [path.join(SRC, 'domain/webhook-targets.ts'), 'TargetProblem.code'],
  // The CLI's own check of a folder before zipping it (`overair bundle zip`), no HTTP answer.
  [path.join(SRC, 'bundle/zip-folder.ts'), 'CodeCheckProblem.code'],
]);

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

const entries = Object.values(errors);

describe('the error registry', () => {
  it('gives each code once, in snake_case, with a short message and description', () => {
    const codes = [...entries.map((entry) => entry.code), ...UPDATE_CHECK_ANSWERS.map((a) => a.code)];
    const repeated = codes.filter((code, index) => codes.indexOf(code) !== index);
    expect(repeated, 'codes defined twice').toEqual([]);
    for (const entry of entries) {
      expect(entry.code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(entry.description.length, entry.code).toBeLessThanOrEqual(200);
    }
  });

  it('is the only place in src/ that builds an OverairError or names an error code', async () => {
    const codes = new Set(entries.map((entry) => entry.code));
    const found: string[] = [];
    for (const file of await sourceFiles(SRC)) {
      if (file === REGISTRY) continue;
      const text = await readFile(file, 'utf8');
      const where = path.relative(SRC, file);
      if (text.includes('new OverairError(')) found.push(`${where}: new OverairError(`);
      if (ALLOWED.has(file)) continue;
      for (const [, literal] of text.matchAll(/'([a-z]+(?:_[a-z]+)*)'/g)) {
        if (codes.has(literal!)) found.push(`${where}: '${literal}' (use errors.… from src/errors.ts)`);
      }
    }
    expect(found).toEqual([]);
  });

  it('lists every update-check answer that src/domain decides', async () => {
    const listed = new Set(UPDATE_CHECK_ANSWERS.map((answer) => answer.code));
    const notCodes = new Set(['self_assigned', 'up_to_date', 'under_native']);
    const decided = new Set<string>();
    for (const file of ['domain/decision.ts', 'domain/policy.ts']) {
      const text = await readFile(path.join(SRC, file), 'utf8');
      for (const [, literal] of text.matchAll(/'([a-z]+(?:_[a-z]+)+)'/g)) {
        if (!notCodes.has(literal!)) decided.add(literal!);
      }
      if (text.includes('`disabled_platform_${')) decided.add('disabled_platform_<platform>');
    }
    expect([...decided].filter((code) => !listed.has(code))).toEqual([]);
    expect([...listed].filter((code) => !decided.has(code))).toEqual([]);
  });

  it('matches docs/errors.md', async () => {
    const committed = await readFile(ERRORS_PAGE, 'utf8');
    expect(
      committed === (await renderErrorsPage()),
      'docs/errors.md is out of date: run npm run docs:errors',
    ).toBe(true);
  });
});
