// A crypto pool thread that stops on its first task, as a crashed one would.
import { parentPort } from 'node:worker_threads';

parentPort.once('message', () => process.exit(3));
