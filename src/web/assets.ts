import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** One file of the page, ready to send. */
export interface WebAsset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

/** The page's sources; Docker images copy the whole repository, so they are there at run time. */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

function asset(type: string, body: Buffer): WebAsset {
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * Bundles `web/app.ts` and `web/app.css` with esbuild (about 100 ms) into `/app.js` and `/app.css`
 * beside `/` (`web/index.html`). Done in memory, so `npm start` needs no build step.
 */
export async function buildWebAssets(): Promise<Map<string, WebAsset>> {
  const result = await build({
    entryPoints: [`${WEB_DIR}app.ts`, `${WEB_DIR}app.css`],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    outdir: '/',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const html = await readFile(`${WEB_DIR}index.html`);
  const assets = new Map<string, WebAsset>([['/', asset('text/html; charset=utf-8', html)]]);
  for (const file of result.outputFiles) {
    const css = file.path.endsWith('.css');
    assets.set(css ? '/app.css' : '/app.js', asset(css ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8', Buffer.from(file.contents)));
  }
  return assets;
}
