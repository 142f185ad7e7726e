#!/usr/bin/env node
// The repository must stand on its own: a clone from a public host has nothing beside it. This
// fails (exit 1) when a tracked file points outside the repository: at the sibling `shared` folder
// of the machine the project was first written on, or at an absolute path of that machine.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const OUTSIDE = [
  { pattern: /\.\.\/shared\b/, why: 'a path to the sibling shared folder, which a clone does not have' },
  { pattern: /(^|[\s'"`(])\/work\//, why: 'an absolute path of the development machine' },
];
// This file names the patterns it looks for.
const SELF = 'scripts/check-standalone.mjs';

const files = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8' }).split('\0').filter(Boolean);
const problems = [];
for (const file of files) {
  if (file === SELF || /\.(png|jpe?g|zip|pem|ico|woff2?)$/.test(file)) continue;
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // deleted in the work tree but still tracked
  }
  text.split('\n').forEach((line, index) => {
    for (const { pattern, why } of OUTSIDE) {
      if (pattern.test(line)) problems.push(`${file}:${index + 1}: ${why}: ${line.trim().slice(0, 120)}`);
    }
  });
}
if (problems.length > 0) {
  console.error(`Files that reach outside the repository:\n${problems.join('\n')}`);
  process.exit(1);
}
