// A crypto pool thread that derives PBKDF2 keys but never answers anything else: a task that never ends.
import { pbkdf2Sync } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

parentPort.on('message', ({ id, task }) => {
  if (task.op !== 'pbkdf2') return;
  const { password, salt, iterations, keylen, digest } = task;
  parentPort.postMessage({ id, ok: true, value: pbkdf2Sync(password, salt, iterations, keylen, digest) });
});
