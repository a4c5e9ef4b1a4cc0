/** A row writer of bench/fill.ts, in a process of its own: it is given its task over IPC and exits when done. */
import { writeTask, type WriterTask } from './fill.js';

process.once('message', (task) => {
  writeTask(task as WriterTask).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
