#!/usr/bin/env node
/**
 * `npm run build`: compiles the daemon, the worker and the CLI to JavaScript in dist/, so they run
 * on plain `node` with no TypeScript compiler at run time.
 *
 * esbuild, not tsc: it is the compiler tsx and vitest already run these sources through (so the
 * output behaves as the tested code does), it takes about a second instead of tsc's half a minute
 * (cheap enough to run before every `npm start`), and it writes source maps. Type checking stays
 * with `npm run typecheck`. Each file is transpiled on its own, not bundled: dist/ mirrors the
 * source tree, so `import()`s stay lazy and paths relative to a module (the crypto worker, the page)
 * resolve the same way from dist/ as from the sources.
 *
 * Output files are replaced by renaming a complete new file over them, and only when their content
 * changed, so a build never disturbs a daemon, worker or CLI running from dist/ meanwhile.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = path.join(ROOT, 'dist');
/** Folders holding code the deployed processes run (tests and benchmarks stay out). */
const SOURCE_DIRS = ['src', 'plugins', 'jobs', 'migrations'];
/** Plain JavaScript a module loads by its path at run time: copied beside the compiled code. */
const COPIED = ['src/crypto/crypto-worker.mjs'];

/** Every .ts file under `dir` but tests and declarations, relative to the repository. */
function typescriptFiles(dir) {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return typescriptFiles(relative);
    return /(?<!\.test|\.d)\.ts$/.test(entry.name) ? [relative] : [];
  });
}

async function compile() {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: SOURCE_DIRS.flatMap(typescriptFiles),
    outdir: OUT,
    outbase: '.',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    sourcesContent: false,
    write: false,
    logLevel: 'warning',
  });
  return new Map(result.outputFiles.map((file) => [file.path, Buffer.from(file.contents)]));
}

/**
 * certclt as one self-contained file (`dist/certclt.mjs`): with it and Node.js, the CLI runs on any
 * machine and from any folder, with no checkout, no node_modules and no package registry. Its CommonJS
 * dependencies (ws) call `require`, which an ES module lacks: the banner provides it.
 */
async function bundleCli() {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/cli/certclt.ts'],
    outfile: path.join(OUT, 'certclt.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // ws loads these native helpers when present and works without them.
    external: ['bufferutil', 'utf-8-validate'],
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __certcltRequire } from 'node:module';\nconst require = __certcltRequire(import.meta.url);" },
    write: false,
    logLevel: 'warning',
  });
  return new Map(result.outputFiles.map((file) => [file.path, Buffer.from(file.contents)]));
}

/** The page's files, bundled by the compiled daemon's own code so the options live in one place. */
async function bundlePage() {
  const { bundleWebPage } = await import(pathToFileURL(path.join(OUT, 'src/web/assets.js')).href);
  const files = await bundleWebPage(path.join(ROOT, 'web'));
  return new Map([...files].map(([name, body]) => [path.join(OUT, 'web', name), body]));
}

/** Writes `body` to `file` unless it holds exactly that already; returns whether it wrote. */
function writeIfChanged(file, body) {
  if (fs.existsSync(file) && fs.readFileSync(file).equals(body)) return false;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, body);
  fs.renameSync(temporary, file);
  return true;
}

/** Files under dist/ that this build did not produce: left over from sources since removed. */
function staleFiles(produced, dir = OUT) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return staleFiles(produced, file);
    return produced.has(file) || file.endsWith('.tmp') ? [] : [file];
  });
}

const started = performance.now();
const outputs = await compile();
for (const [file, body] of await bundleCli()) outputs.set(file, body);
for (const copied of COPIED) outputs.set(path.join(OUT, copied), fs.readFileSync(path.join(ROOT, copied)));
let written = [...outputs].filter(([file, body]) => writeIfChanged(file, body)).length;
// The page bundle needs the compiled assets module, so it comes second.
for (const [file, body] of await bundlePage()) {
  outputs.set(file, body);
  if (writeIfChanged(file, body)) written++;
}
// The standalone CLI runs as `./certclt.mjs` too.
fs.chmodSync(path.join(OUT, 'certclt.mjs'), 0o755);
const stale = staleFiles(new Set(outputs.keys()));
for (const file of stale) fs.rmSync(file);
if (written + stale.length > 0) {
  process.stderr.write(`dist/: ${written} files written, ${stale.length} removed, in ${Math.round(performance.now() - started)} ms\n`);
}
