/**
 * `npm run bench` (after bench/upload.ts): the bytes a device downloads for an update, with delta
 * (manifest) updates and without.
 *
 * Builds a web release of 300 files deterministically (seeded): a Vite-like build of minified JS
 * chunks and CSS (1–60 KB of compressible text), images (5–100 KB of random bytes, as already
 * compressed images are) and index.html, zipped by yazl (deflate, as bundle zips usually are). Then
 * two successors: one that differs in exactly one JS file, one where 5% of the files change.
 *
 * A real Overair server runs in a child process (bench/server-under-test.ts). All three releases are
 * uploaded; for each scenario its release is made live and a device still running the first release
 * (holding all its files) asks for the update:
 *   - delta: plugin 8.x gets a manifest and applies it as the plugin does (test/helpers/plugin-delta.ts:
 *     files it holds with the same sha256 are reused, the others downloaded); counted are the update
 *     check's answer and every downloaded response body;
 *   - full: an old plugin (7.0.20) gets no manifest and downloads the zip from the answer's url;
 *     counted are that answer and the zip.
 * HTTP headers are left out of both. Goal: delta/full < 0.1 for the one-file change.
 *
 * Exits non-zero only on wrong results (an answer, a download or the installed tree that is not the
 * new release's), never because of the ratio.
 */
import { createHash } from 'node:crypto';
import yazl from 'yazl';
import { pluginApplyManifest, type ManifestEntry } from '../test/helpers/plugin-delta.js';
import {
  admin,
  deviceInfo,
  makeTempDir,
  printTable,
  runBench,
  startOverair,
  uploadReady,
} from './harness.js';

const APP_ID = 'com.example.delta-bench';
const FIRST_VERSION = '1.0.0';
const DELTA_PLUGIN = '8.51.23';
/** Before 7.0.35: knows only the full zip. */
const OLD_PLUGIN = '7.0.20';
const GOAL = 0.1;
const SEED = 0x0a1b2c3d;

// ---------------------------------------------------------------------------------------------
// Deterministic releases.

/** mulberry32: a small seeded PRNG, so every run builds byte-identical releases. */
function seeded(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    int,
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    /** Log-uniform between min and max: many small files and a few large ones, as bundlers split. */
    size: (min: number, max: number) => Math.round(min * (max / min) ** next()),
    bytes(count: number): Buffer {
      const out = Buffer.allocUnsafe(count);
      for (let i = 0; i < count; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
    /** Like a bundler's content hash in a file name. */
    hash: (length = 8) =>
      Array.from(
        { length },
        () => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'[int(0, 63)],
      ).join(''),
  };
}
type Rng = ReturnType<typeof seeded>;

const LOCALS = 'e t n r o i s a l c u d f p h m g v y b w x k _ $ A B C D E F I L M N O P R S T'.split(' ');
const PROPS = (
  'length push map filter reduce forEach then catch value props children createElement addEventListener ' +
  'removeEventListener querySelector setAttribute style className textContent keys assign defineProperty ' +
  'prototype call apply bind slice indexOf includes join split replace toString parse stringify resolve ' +
  'reject current state dispatch payload type default exports render mount unmount emit on off ref computed ' +
  'watch setup key id name data items loading error status message onClick onChange disabled visible'
).split(' ');
const CLASSES = 'Promise Map Set Error Date URL RegExp Proxy WeakMap Intl.NumberFormat AbortController'.split(
  ' ',
);
const WORDS = (
  'settings profile account loading cancel save delete confirm search results empty retry network offline ' +
  'online sync update available download install restart notification message inbox archive share copy ' +
  'link open close menu back next previous home dashboard orders payment checkout cart total price ' +
  'quantity address shipping invoice history help support logout login password email username'
).split(' ');
const CSS_PROPS = [
  'display:flex',
  'display:grid',
  'display:none',
  'position:relative',
  'position:absolute',
  'align-items:center',
  'justify-content:space-between',
  'overflow:hidden',
  'cursor:pointer',
  'font-weight:600',
  'text-align:center',
  'white-space:nowrap',
  'box-sizing:border-box',
];

function jsStatement(r: Rng, scope: string[]): string {
  const v = () => r.pick(scope);
  const p = () => r.pick(PROPS);
  const n = () => (r.chance(0.7) ? String(r.int(0, 99)) : String(r.int(100, 99999)));
  const s = () => `"${r.pick(WORDS)}${r.chance(0.4) ? ` ${r.pick(WORDS)}` : ''}"`;
  switch (r.int(0, 9)) {
    case 0:
      return `function ${v()}(${v()},${v()}){return ${v()}.${p()}(${v()})}`;
    case 1:
      return `const ${v()}=${v()}(${v()},${s()})`;
    case 2:
      return `if(${v()}.${p()}===${n()})${v()}.${p()}(${v()});else ${v()}=${n()}`;
    case 3:
      return `${v()}=new ${r.pick(CLASSES)}({${p()}:${v()},${p()}:${s()},${p()}:${r.chance(0.5) ? '!0' : '!1'}})`;
    case 4:
      return `for(let ${v()}=0;${v()}<${v()}.length;${v()}++)${v()}.push(${v()}[${v()}].${p()})`;
    case 5:
      return `${v()}.${p()}=async ${v()}=>{const ${v()}=await ${v()}(${v()});return ${v()}.${p()}??${n()}}`;
    case 6:
      return `${v()}("div",{className:"${r.pick(WORDS)}-${r.hash(5)}",${p()}:${v()}},${v()}("span",null,${s()}))`;
    case 7:
      return `const ${v()}=()=>import("./${r.pick(WORDS)}-${r.hash()}.js")`;
    case 8:
      return `${v()}.${p()}(${s()},(${v()},${v()})=>${v()}.${p()}(${v()}.${p()}|${n()}))`;
    default:
      return `var ${v()}={${p()}:${s()},${p()}:${n()},${p()}:[${n()},${n()},${n()}]}`;
  }
}

/** Minified-looking JS of about `bytes` bytes. */
function jsText(r: Rng, bytes: number): string {
  const scope = Array.from({ length: 12 }, () => r.pick(LOCALS) + (r.chance(0.5) ? r.pick(LOCALS) : ''));
  let out = `import{${scope.slice(0, 3).join(',')}}from"./index-${r.hash()}.js";`;
  while (out.length < bytes) out += jsStatement(r, scope) + (r.chance(0.05) ? ';\n' : ';');
  return out;
}

function cssRule(r: Rng): string {
  const decls = Array.from({ length: r.int(2, 6) }, () =>
    r.pick([
      () => r.pick(CSS_PROPS),
      () => `margin:${r.int(0, 32)}px ${r.int(0, 32)}px`,
      () => `padding:${r.int(0, 24)}px`,
      () => `color:#${r.int(0, 0xffffff).toString(16).padStart(6, '0')}`,
      () => `font-size:${(r.int(8, 32) / 10).toFixed(1)}rem`,
      () => `border-radius:${r.int(0, 16)}px`,
      () => `gap:${r.int(0, 24)}px`,
    ])(),
  );
  const rule = `.${r.pick(WORDS)}-${r.hash(5)}${r.chance(0.3) ? `:${r.pick(['hover', 'focus', 'active'])}` : ''}{${decls.join(';')}}`;
  return r.chance(0.05) ? `@media (min-width:${r.int(3, 12) * 100}px){${rule}}` : rule;
}

function cssText(r: Rng, bytes: number): string {
  let out = '';
  while (out.length < bytes) out += cssRule(r);
  return out;
}

type Tree = Map<string, Buffer>;

/** The first release: 200 JS files (entry + chunks), 45 CSS, 52 images, index.html and two others. */
function firstRelease(r: Rng): Tree {
  const files: Tree = new Map();
  const entry = `assets/index-${r.hash()}.js`;
  const css: string[] = [];
  const chunks: string[] = [];
  for (let i = 0; i < 199; i++) chunks.push(`assets/${r.pick(WORDS)}${i}-${r.hash()}.js`);
  for (let i = 0; i < 45; i++) css.push(`assets/${r.pick(WORDS)}${i}-${r.hash()}.css`);
  files.set(
    'index.html',
    Buffer.from(
      `<!doctype html><html lang="en"><head><meta charset="UTF-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
        `<title>App</title><link rel="manifest" href="/manifest.webmanifest">` +
        `<script type="module" crossorigin src="/${entry}"></script>` +
        chunks
          .slice(0, 6)
          .map((chunk) => `<link rel="modulepreload" crossorigin href="/${chunk}">`)
          .join('') +
        `<link rel="stylesheet" crossorigin href="/${css[0]}"></head><body><div id="app"></div></body></html>\n`,
    ),
  );
  files.set(
    'manifest.webmanifest',
    Buffer.from('{"name":"App","short_name":"App","start_url":"/","display":"standalone"}\n'),
  );
  files.set('robots.txt', Buffer.from('User-agent: *\nAllow: /\n'));
  files.set(
    entry,
    Buffer.from(
      `import{CapacitorUpdater as U}from"./capacitor-${r.hash()}.js";U.notifyAppReady();` + jsText(r, 48_000),
    ),
  );
  for (const chunk of chunks) files.set(chunk, Buffer.from(jsText(r, r.size(1024, 60 * 1024))));
  for (const sheet of css) files.set(sheet, Buffer.from(cssText(r, r.size(1024, 60 * 1024))));
  for (let i = 0; i < 52; i++) {
    // Compressed already (png, webp, jpg), which random bytes stand for.
    const name = `assets/${r.pick(WORDS)}-${i}-${r.hash()}.${r.pick(['png', 'webp', 'jpg'])}`;
    files.set(name, r.bytes(r.size(5 * 1024, 100 * 1024)));
  }
  return files;
}

/** The same file after an edit: a JS or CSS file gains and changes some code; an image is redrawn. */
function edited(r: Rng, name: string, bytes: Buffer): Buffer {
  if (name.endsWith('.js') || name.endsWith('.css')) {
    const text = bytes.toString();
    const cut = text.indexOf(name.endsWith('.js') ? ';' : '}', r.int(0, text.length - 1)) + 1 || text.length;
    const added = name.endsWith('.js') ? jsText(r, r.int(100, 600)) + ';' : cssText(r, r.int(100, 400));
    return Buffer.from(text.slice(0, cut) + added + text.slice(cut));
  }
  if (/\.(png|webp|jpg)$/.test(name)) return r.bytes(Math.max(1024, bytes.length + r.int(-2048, 2048)));
  return Buffer.concat([bytes, Buffer.from(`\n<!-- ${r.hash()} -->\n`)]);
}

/** `base` with the named files edited. */
function successor(r: Rng, base: Tree, changed: string[]): Tree {
  const next = new Map(base);
  for (const name of changed) next.set(name, edited(r, name, base.get(name)!));
  return next;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A bundle zip of the tree, deflated, with fixed timestamps so the bytes are the same every run. */
async function zipTree(tree: Tree): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const mtime = new Date('2025-01-01T00:00:00Z');
  for (const [name, bytes] of tree) zip.addBuffer(bytes, name, { mtime, compress: true });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// Requests.

async function upload(base: string, version: string, zip: Buffer): Promise<void> {
  // Its files ready, or devices would get the whole zip instead of a delta.
  await uploadReady(base, APP_ID, { version, sha256: sha256(zip) }, new Uint8Array(zip));
}

interface UpdateAnswer {
  version?: string;
  url?: string;
  checksum?: string;
  manifest?: ManifestEntry[];
}

/** The update check as a device on the first release makes it; `bytes` is the answer body's size. */
async function checkForUpdate(base: string, pluginVersion: string) {
  const response = await fetch(`${base}/updates`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      deviceInfo(APP_ID, {
        version_build: FIRST_VERSION,
        version_name: FIRST_VERSION,
        plugin_version: pluginVersion,
      }),
    ),
  });
  const raw = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) {
    throw new Error(`update check (plugin ${pluginVersion}): HTTP ${response.status} ${raw.toString()}`);
  }
  return { answer: JSON.parse(raw.toString()) as UpdateAnswer, bytes: raw.length };
}

// ---------------------------------------------------------------------------------------------

interface Scenario {
  name: string;
  version: string;
  tree: Tree;
  zip: Buffer;
  changed: string[];
  goal?: number;
}

interface Result {
  scenario: Scenario;
  full?: { zipBytes: number; answerBytes: number };
  delta?: { fileBytes: number; files: number; answerBytes: number; entries: number };
  problems: string[];
}

function sameTree(actual: Tree, expected: Tree, version: string): string | undefined {
  const missing = [...expected.keys()].filter((name) => !actual.has(name));
  const extra = [...actual.keys()].filter((name) => !expected.has(name));
  const differ = [...expected].filter(
    ([name, bytes]) => actual.has(name) && !actual.get(name)!.equals(bytes),
  );
  if (missing.length + extra.length + differ.length === 0) return undefined;
  const list = (names: string[]) => names.slice(0, 3).join(', ') + (names.length > 3 ? ', …' : '');
  return (
    `the installed tree is not release ${version}:` +
    (missing.length ? ` missing ${missing.length} (${list(missing)})` : '') +
    (extra.length ? ` extra ${extra.length} (${list(extra)})` : '') +
    (differ.length ? ` different ${differ.length} (${list(differ.map(([name]) => name))})` : '')
  );
}

async function measure(base: string, first: Tree, scenario: Scenario): Promise<Result> {
  const result: Result = { scenario, problems: [] };
  const fail = (message: string) => result.problems.push(message);
  await admin(base, 'PUT', `/apps/${APP_ID}/channels/production/bundle`, { version: scenario.version });

  // Full update: an old plugin, the zip from the answer's url.
  try {
    const { answer, bytes } = await checkForUpdate(base, OLD_PLUGIN);
    if (answer.version !== scenario.version) fail(`old plugin: offered ${answer.version}`);
    if (answer.manifest !== undefined) fail(`old plugin: the answer carries a manifest`);
    if (!answer.url) throw new Error('old plugin: the answer has no url');
    const response = await fetch(answer.url);
    const zip = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200) throw new Error(`zip download: HTTP ${response.status}`);
    if (!zip.equals(scenario.zip)) fail(`the downloaded zip (${zip.length} bytes) is not the uploaded one`);
    if (answer.checksum !== sha256(scenario.zip)) fail(`checksum ${answer.checksum} is not the zip's sha256`);
    result.full = { zipBytes: zip.length, answerBytes: bytes };
  } catch (error) {
    fail((error as Error).message);
  }

  // Delta update: plugin 8.x holding every file of the first release.
  try {
    const { answer, bytes } = await checkForUpdate(base, DELTA_PLUGIN);
    if (answer.version !== scenario.version) fail(`plugin ${DELTA_PLUGIN}: offered ${answer.version}`);
    if (!Array.isArray(answer.manifest)) throw new Error(`plugin ${DELTA_PLUGIN}: no manifest in the answer`);
    const applied = await pluginApplyManifest(answer.manifest, new Map(first));
    const problem = sameTree(applied.tree, scenario.tree, scenario.version);
    if (problem) fail(problem);
    const downloaded = [...applied.downloaded].sort();
    const changed = [...scenario.changed].sort();
    if (downloaded.join('\n') !== changed.join('\n')) {
      fail(
        `downloaded ${downloaded.length} files, ${changed.length} changed: ${downloaded.slice(0, 5).join(', ')}`,
      );
    }
    result.delta = {
      fileBytes: applied.bytes,
      files: applied.downloaded.length,
      answerBytes: bytes,
      entries: answer.manifest.length,
    };
  } catch (error) {
    fail((error as Error).message);
  }
  return result;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main(): Promise<number> {
  const started = performance.now();
  const r = seeded(SEED);
  const first = firstRelease(r);
  const jsNames = [...first.keys()].filter(
    (name) => name.endsWith('.js') && !name.startsWith('assets/index-'),
  );
  // One component chunk of 8 KB or more, as a small fix changes one file.
  const oneFile = r.pick(jsNames.filter((name) => first.get(name)!.length >= 8 * 1024));
  const fivePercent = [...first.keys()]
    .filter((name) => name !== 'index.html')
    .map((name) => ({ name, key: r.int(0, 2 ** 30) }))
    .sort((a, b) => a.key - b.key)
    .slice(0, Math.round(first.size * 0.05))
    .map(({ name }) => name);
  const firstZip = await zipTree(first);
  const scenarios: Scenario[] = [];
  for (const [name, version, changed, goal] of [
    ['one JS file changed', '1.0.1', [oneFile], GOAL],
    ['5% of the files changed', '1.1.0', fivePercent, undefined],
  ] as const) {
    const tree = successor(r, first, [...changed]);
    scenarios.push({ name, version, tree, zip: await zipTree(tree), changed: [...changed], goal });
  }
  const unpacked = [...first.values()].reduce((sum, bytes) => sum + bytes.length, 0);
  const count = (re: RegExp) => [...first.keys()].filter((name) => re.test(name)).length;
  console.log(
    `\noverair delta bench: node ${process.version}; release of ${first.size} files ` +
      `(${count(/\.js$/)} JS, ${count(/\.css$/)} CSS, ${count(/\.(png|webp|jpg)$/)} images, ` +
      `${count(/^[^/]+$/)} at the root), ${kib(unpacked)} unpacked, zip ${kib(firstZip.length)} (deflate)`,
  );

  const dataDir = await makeTempDir('overair-delta-bench-');
  const serverLog: string[] = [];
  const server = await startOverair(dataDir, 'warn', {
    label: 'the server',
    onLine: (line) => line.trim() !== '' && serverLog.push(line),
  });

  await admin(server.url, 'POST', '/apps', { id: APP_ID });
  await upload(server.url, FIRST_VERSION, firstZip);
  for (const scenario of scenarios) await upload(server.url, scenario.version, scenario.zip);

  const results: Result[] = [];
  for (const scenario of scenarios) results.push(await measure(server.url, first, scenario));

  const total = (result: Result) => ({
    full: result.full && result.full.zipBytes + result.full.answerBytes,
    delta: result.delta && result.delta.fileBytes + result.delta.answerBytes,
  });
  printTable([
    ['scenario', 'files', 'changed', 'full bytes', 'delta bytes', 'delta/full', 'goal', 'check'],
    ...results.map((result) => {
      const { full, delta } = total(result);
      const ratio = full !== undefined && delta !== undefined ? delta / full : undefined;
      return [
        result.scenario.name,
        String(result.scenario.tree.size),
        String(result.scenario.changed.length),
        full === undefined ? 'n/a' : String(full),
        delta === undefined ? 'n/a' : String(delta),
        ratio === undefined ? 'n/a' : ratio.toFixed(3),
        result.scenario.goal === undefined ? '-' : `< ${result.scenario.goal}`,
        result.problems.length === 0 ? 'ok' : 'FAILED',
      ];
    }),
  ]);
  console.log();
  for (const result of results) {
    const { full, delta } = result;
    console.log(
      `${result.scenario.name}: full = zip ${full?.zipBytes ?? 'n/a'} + answer ${full?.answerBytes ?? 'n/a'} ` +
        `(plugin ${OLD_PLUGIN}); delta = ${delta?.fileBytes ?? 'n/a'} (${delta?.files ?? 'n/a'} files) + ` +
        `answer ${delta?.answerBytes ?? 'n/a'} with ${delta?.entries ?? 'n/a'} manifest entries (plugin ${DELTA_PLUGIN})`,
    );
  }
  for (const result of results.filter((result) => result.scenario.goal !== undefined)) {
    const { full, delta } = total(result);
    const ratio = full !== undefined && delta !== undefined ? delta / full : undefined;
    const met = ratio !== undefined && ratio < result.scenario.goal!;
    console.log(
      `goal (${result.scenario.name}: delta/full < ${result.scenario.goal}): ` +
        `${met ? 'MET' : 'NOT MET'}${ratio === undefined ? '' : ` (${ratio.toFixed(3)})`}`,
    );
  }
  console.log(
    `(bytes are response bodies, headers left out; a device on ${FIRST_VERSION} holding all its files; ` +
      `took ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  if (serverLog.length > 0) {
    console.log(`server log: ${serverLog.length} warning/error lines`);
    for (const line of serverLog.slice(0, 3)) console.log(`  ${line.slice(0, 300)}`);
  }

  const failed = results.filter((result) => result.problems.length > 0);
  for (const result of failed) {
    console.error(`\nFAILED ${result.scenario.name}:\n  ${result.problems.join('\n  ')}`);
  }
  return failed.length > 0 ? 1 : 0;
}

await runBench('delta bench', 'the server', main);
