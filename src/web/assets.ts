import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** One file of the page, ready to send. */
export interface WebAsset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

/**
 * The page's folder: `web/` with its sources beside src/, or `dist/web/` beside the compiled code,
 * where `npm run build` has put the bundle already.
 */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/** The files the page is served from, by name. */
const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

function asset(type: string, body: Buffer): WebAsset {
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * Bundles `app.ts` and `app.css` of `sourceDir` with esbuild (about 100 ms) into `app.js` and
 * `app.css`, beside `index.html`. esbuild loads only here: a daemon whose page is built ahead, or
 * never opened, does without it.
 */
export async function bundleWebPage(sourceDir: string = WEB_DIR): Promise<Map<string, Buffer>> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [path.join(sourceDir, 'app.ts'), path.join(sourceDir, 'app.css')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    outdir: '/',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = new Map([['index.html', await readFile(path.join(sourceDir, 'index.html'))]]);
  for (const file of result.outputFiles) files.set(file.path.endsWith('.css') ? 'app.css' : 'app.js', Buffer.from(file.contents));
  return files;
}

/** The page built ahead (dist/web/), else bundled now from its sources (web/), so `tsx` and tests need no build step. */
async function webPageFiles(): Promise<Map<string, Buffer>> {
  if (!fs.existsSync(path.join(WEB_DIR, 'app.js'))) return bundleWebPage();
  return new Map(await Promise.all(Object.keys(TYPES).map(async (name) => [name, await readFile(path.join(WEB_DIR, name))] as const)));
}

/** `/`, `/app.js` and `/app.css`, ready to send. */
export async function buildWebAssets(): Promise<Map<string, WebAsset>> {
  const files = await webPageFiles();
  return new Map([...files].map(([name, body]) => [name === 'index.html' ? '/' : `/${name}`, asset(TYPES[name]!, body)]));
}
