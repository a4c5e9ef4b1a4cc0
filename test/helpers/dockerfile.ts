import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const DOCKERFILE = fs.readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');

/** The run stage of a Dockerfile's text: what follows the last FROM. */
const runStage = (dockerfile: string): string => dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

/** The image's command (the exec form of its CMD); of this repository's Dockerfile unless another's text is given. */
export function dockerCommand(dockerfile = DOCKERFILE): string[] {
  return JSON.parse(/^CMD (\[.*\])$/m.exec(runStage(dockerfile))![1]!) as string[];
}

/** The environment the image's ENV lines set (`KEY=value` pairs without quotes or spaces). */
export function dockerEnvironment(): Record<string, string> {
  const pairs = [...runStage(DOCKERFILE).matchAll(/^ENV (.+)$/gm)].flatMap((line) => line[1]!.trim().split(/\s+/));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}
