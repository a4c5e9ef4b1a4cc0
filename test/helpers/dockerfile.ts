import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const DOCKERFILE = fs.readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');
/** The run stage: what follows the last FROM. */
const RUN_STAGE = DOCKERFILE.slice(DOCKERFILE.lastIndexOf('\nFROM '));

/** The image's command (the exec form of its CMD). */
export function dockerCommand(): string[] {
  return JSON.parse(/^CMD (\[.*\])$/m.exec(RUN_STAGE)![1]!) as string[];
}

/** The environment the image's ENV lines set (`KEY=value` pairs without quotes or spaces). */
export function dockerEnvironment(): Record<string, string> {
  const pairs = [...RUN_STAGE.matchAll(/^ENV (.+)$/gm)].flatMap((line) => line[1]!.trim().split(/\s+/));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}
