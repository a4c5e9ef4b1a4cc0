/**
 * Preload (`node --import ./test/helpers/module-log.mjs …`) that records which modules a process
 * loads, so a test can see what the compiled daemon pulls in at start. ES modules are seen by a
 * resolve hook (module-log-hooks.mjs), CommonJS ones in `require.cache`; SIGUSR2 writes both, one
 * per line, to the file named by MODULE_LOG.
 */
import fs from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.MODULE_LOG;
if (!file) throw new Error('MODULE_LOG must name the file to write to');
const require = createRequire(import.meta.url);
register('./module-log-hooks.mjs', import.meta.url, { data: { file: `${file}.esm` } });

process.on('SIGUSR2', () => {
  const esm = fs.existsSync(`${file}.esm`) ? fs.readFileSync(`${file}.esm`, 'utf8') : '';
  const cjs = Object.keys(require.cache).map((name) => `file://${name}\n`).join('');
  // Written whole and then renamed, so a reader never sees half a list.
  fs.writeFileSync(`${file}.tmp`, esm + cjs);
  fs.renameSync(`${file}.tmp`, file);
});
