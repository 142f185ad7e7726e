/**
 * Writes docs/errors.md, the reference of every error code, from the registry in src/errors.ts:
 * `npm run docs:errors`. src/errors.spec.ts fails when the committed page differs from this output.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as prettier from 'prettier';
import { UPDATE_CHECK_ANSWERS, errors, type Audience } from '../../src/errors.js';

export const ERRORS_PAGE = path.resolve(import.meta.dirname, '../../docs/errors.md');

const PREFACE = `# Error reference

<!-- Generated from src/errors.ts by \`npm run docs:errors\`: edit the registry (or the preface in
scripts/docs/errors.ts), not this file. -->

For whoever reads Overair's error answers: API clients and CI jobs that call the admin API (or the
\`overair\` CLI, which prints the message), and people reading device logs, where the updater plugin
logs what the server answered.

Every error answer is JSON with a stable machine code and a message for humans:

\`\`\`json
{ "error": "app_not_found", "message": "No app \\"com.example.app\\" on this server; …" }
\`\`\`

Match on \`error\`, never on \`message\`: codes and their statuses are part of the API, messages may
be reworded. Some answers add fields:

- The update check (\`POST /updates\`) adds \`"kind": "failed"\` to its errors, which the plugin
  reads at any status. When it sends no bundle it answers HTTP 200 with a code too: see
  [Update-check answers](#update-check-answers).
- A 503 (\`database_unavailable\`, \`storage_unavailable\`) and a 429 carry a \`Retry-After\` header in
  seconds; the device 429 also has \`retryAfterSeconds\` in its body. Try again after that long.
- Channel get and list (\`PUT\` and \`GET /channel_self\`) answer their 403 and 404 errors with HTTP
  200, because Android drops the body of a non-2xx answer to those two calls.
- A batch sent to \`POST /stats\` answers 200 with \`results\`, one \`{status, index, error, message}\`
  per refused event.
- \`GET /readyz\` adds \`checks\`, the state of each dependency.

In the tables, \`{name}\` in a message stands for a value of the request (an app id, a version, a
limit); where an error has several messages, one is shown.
`;

const AREAS: { audience: Audience; title: string; intro: string }[] = [
  {
    audience: 'both',
    title: 'Any client',
    intro: 'Answered by the admin API and the device endpoints alike.',
  },
  {
    audience: 'admin',
    title: 'Admin API',
    intro: 'Answered under `/api/v1` (the CLI, the dashboard, CI jobs) and by the dashboard itself.',
  },
  {
    audience: 'device',
    title: 'Device endpoints',
    intro:
      'Answered to the updater plugins: the update check, stats, channel calls, downloads and the Capawesome routes.',
  },
];

/** A message template as written in the registry: each parameter shows as {name}. */
function template(message: (params: never) => string): string {
  const placeholders = new Proxy({}, { get: (_target, key) => `{${String(key)}}` });
  return message(placeholders as never);
}

/** Text for a table cell: no pipe breaks the table, no <word> is taken for HTML. */
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

export async function renderErrorsPage(): Promise<string> {
  const entries = Object.values(errors).sort((a, b) => a.code.localeCompare(b.code));
  const sections = AREAS.map(({ audience, title, intro }) => {
    const rows = entries
      .filter((entry) => entry.audience === audience)
      .map(
        (entry) =>
          `| \`${entry.code}\` | ${entry.status} | ${cell(template(entry.message))} | ${cell(entry.description)} |`,
      );
    return [
      `## ${title}`,
      intro,
      ['| Code | Status | Message | What it means, what to do |', '| --- | --- | --- | --- |', ...rows].join(
        '\n',
      ),
    ].join('\n\n');
  });
  const answers = [...UPDATE_CHECK_ANSWERS]
    .sort((a, b) => a.code.localeCompare(b.code))
    .map((answer) => `| \`${answer.code}\` | \`${answer.kind}\` | ${cell(answer.description)} |`);
  const answersSection = [
    '## Update-check answers',
    'Not errors: what `POST /updates` answers with HTTP 200 when it sends no bundle, as `{error, message, kind}`: ' +
      '`up_to_date` and `blocked` are normal outcomes, `failed` a problem to fix; `breaking: true` makes the plugin ' +
      'fire `breakingAvailable`. The Capawesome bundle route answers the same codes with HTTP 404. The codes are ' +
      "those of Capgo's backend, decided in src/domain/decision.ts and src/domain/policy.ts.",
    ['| Code | kind | Meaning |', '| --- | --- | --- |', ...answers].join('\n'),
  ].join('\n\n');
  const page = [PREFACE, ...sections, answersSection].join('\n');
  const options = await prettier.resolveConfig(ERRORS_PAGE);
  return prettier.format(page, { ...options, filepath: ERRORS_PAGE });
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  await writeFile(ERRORS_PAGE, await renderErrorsPage());
  console.log(`wrote ${path.relative(process.cwd(), ERRORS_PAGE)}`);
}
