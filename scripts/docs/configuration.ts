/**
 * Writes docs/configuration.md from the settings list (src/config-settings.ts): `npm run docs:config`.
 * src/config-settings.spec.ts fails when the committed page differs from what this makes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import { flagsOf } from '../../src/cli/serve-flags.js';
import {
  SETTINGS,
  SETTING_GROUPS,
  SETTING_KEYS,
  type Setting,
  type SettingGroup,
} from '../../src/config-settings.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const CONFIGURATION_PAGE = path.join(ROOT, 'docs/configuration.md');

/** Hand-written: who the page is for and how values are given. The tables below are generated. */
const PREFACE = `# Configuration

This page is for operators deploying Overair: every setting of \`overair serve\`, what it does and its
default. The defaults run a single server with SQLite and bundles on local disk; the settings below
move state to PostgreSQL and bundles to S3, put the server behind a proxy, and tune its limits.

**How to set a value.** Each setting is an environment variable (\`OVERAIR_PORT=8080\`) and, but for
the secrets marked _variable only_, an \`overair serve\` flag (\`--port 8080\`). A flag wins over the variable, the variable
over the default; an empty variable counts as unset. Sizes are read by the [bytes](https://www.npmjs.com/package/bytes)
package, 1024-based: \`kb\`, \`mb\` or \`gb\` (\`k\`, \`m\`, \`g\` too), \`1.5gb\`, or bytes. Durations are read by
the [ms](https://www.npmjs.com/package/ms) package in whole seconds: \`30s\`, \`5m\`, \`12h\`, \`7d\`, \`1.5h\`,
\`10 minutes\` (a bare number is seconds; in the retentions, days). Switches are \`true\` or \`false\` (a switch
flag alone means \`true\`).

\`\`\`sh
OVERAIR_DATABASE_URL=postgres://overair:PASSWORD@db:5432/overair \\
OVERAIR_ADMIN_TOKEN="$(cat /run/secrets/overair-admin-token)" \\
  overair serve --public-url https://updates.example.com --trust-proxy
\`\`\`

Every value is checked at start: a bad one stops the server with a message that names the variable.
Settings marked (secret) are never printed, not even in that message (only their length is), and are
masked wherever the configuration is logged; give them as environment variables, since flags show in
\`ps\` and the shell's history. \`overair serve --help\` lists the same flags.
`;

const GENERATED_NOTE =
  '<!-- Generated from src/config-settings.ts by `npm run docs:config`: edit the settings there, not this file. -->';

/** The page as it should be committed, formatted as `prettier --check` expects it. */
export async function renderConfigurationPage(): Promise<string> {
  const parts = [PREFACE, GENERATED_NOTE];
  for (const [group, { title, intro }] of Object.entries(SETTING_GROUPS) as [
    SettingGroup,
    { title: string; intro: string },
  ][]) {
    const entries = SETTING_KEYS.map((key): Setting => SETTINGS[key]).filter(
      (entry) => entry.group === group,
    );
    parts.push(`## ${title}`, wrap(intro), table(entries));
    const reasons = new Map<string, string[]>();
    for (const entry of entries) {
      if (entry.flag.kind !== 'env-only') continue;
      reasons.set(entry.flag.why, [...(reasons.get(entry.flag.why) ?? []), `\`${entry.env}\``]);
    }
    for (const [why, names] of reasons) parts.push(wrap(`No flag for ${names.join(' and ')}: ${why}.`));
  }
  const text = `${parts.join('\n\n')}\n`;
  const options = await prettier.resolveConfig(CONFIGURATION_PAGE);
  return prettier.format(text, { ...options, filepath: CONFIGURATION_PAGE });
}

function table(entries: Setting[]): string {
  const rows = entries.map((entry) => {
    const setting = `\`${entry.env}\`${entry.secret ? ' (secret)' : ''}`;
    const flags = flagsOf(entry);
    const flag = flags.length > 0 ? flags.map((name) => `\`${name}\``).join(', ') : '_variable only_';
    const shown = entry.default !== undefined ? `\`${entry.default}\`` : (entry.defaultText ?? '');
    return [setting, flag, shown, entry.doc];
  });
  const lines = [['Setting', 'Flag', 'Default', 'What it does'], ['---', '---', '---', '---'], ...rows];
  return lines
    .map((cells) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`)
    .join('\n');
}

/** A paragraph in lines of at most 104 characters, as the hand-written docs are. */
function wrap(paragraph: string, width = 104): string {
  const lines: string[] = [];
  let line = '';
  for (const word of paragraph.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await fs.writeFile(CONFIGURATION_PAGE, await renderConfigurationPage());
  console.log(`wrote ${path.relative(process.cwd(), CONFIGURATION_PAGE)}`);
}
