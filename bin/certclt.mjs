#!/usr/bin/env node
// The package bin: the compiled CLI (dist/, written by `npm run build`), or the TypeScript source
// through tsx in a checkout that has not been built.
import fs from 'node:fs';

const compiled = new URL('../dist/src/cli/certclt.js', import.meta.url);
if (fs.existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/certclt.ts');
}
