#!/usr/bin/env node
// The docs a newcomer navigates: every page in docs/ is linked from the README, and every relative
// link in the README, CONTRIBUTING.md and docs/ points at a file that exists and, with a #fragment,
// at a heading that exists (GitHub's anchors); the generated roles table of docs/security.md is current.
// Exit 1 with the list of problems otherwise.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const pages = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync('docs')
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
const anchorOf = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');

const textOf = (page) => readFileSync(page, 'utf8');
const withoutCode = (text) => text.replace(/```[\s\S]*?```/g, '');
const anchors = new Map(
  pages.map((page) => [
    page,
    new Set([...withoutCode(textOf(page)).matchAll(/^#+ (.*)$/gm)].map((match) => anchorOf(match[1]))),
  ]),
);

const problems = [];
const readmeLinks = new Set();
for (const page of pages) {
  for (const [, link] of withoutCode(textOf(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^(https?:|mailto:)/.test(link)) continue;
    const [file, fragment] = link.split('#');
    const target = file ? path.normalize(path.join(path.dirname(page), file)) : page;
    if (page === 'README.md') readmeLinks.add(target);
    if (!existsSync(target)) problems.push(`${page}: ${link}: no such file`);
    else if (fragment && anchors.has(target) && !anchors.get(target).has(fragment))
      problems.push(`${page}: ${link}: no such heading in ${target}`);
  }
}
for (const page of pages) {
  if (page.startsWith('docs/') && !readmeLinks.has(page)) problems.push(`README.md does not link ${page}`);
}
// The roles table of docs/security.md is generated from the route table: it must be the current one.
const roles = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/docs/roles.ts', '--check'], {
  encoding: 'utf8',
});
if (roles.status !== 0) problems.push((roles.stderr || roles.stdout).trim());
if (problems.length > 0) {
  console.error(`Documentation links:\n${problems.join('\n')}`);
  process.exit(1);
}
