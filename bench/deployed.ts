/**
 * The footprint section of `npm run bench` (also runs alone: `npx tsx bench/deployed.ts`): the daemon as it is
 * deployed (the Dockerfile's command and environment: the compiled dist/src/main.js) in a fresh data
 * directory, timed from spawn to its first `core.ping` answer (connect, log in, ping), then given a
 * few more logins and measured for resident memory once idle; the same on a restart in that
 * directory (no migrations, no first-start key), without the image's malloc setting, and with the
 * sources run through tsx (how `npm start` ran before the build step); and a plain `node` HTTP
 * server, the floor any Node process starts from.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { build, COMPILED, IMAGE_ENV, loggedIn, PASSWORD, rss, spawnAnnouncing } from './daemon.js';
import { mib, type Row } from './stats.js';

/** Past the crypto pool's 10 s idle time, so the thread that made the first-start key has stopped. */
const IDLE_MS = 15_000;
/** Restarts timed for a median start time: one start is at the mercy of whatever else the machine does. */
const STARTS = 5;
/** Logins after the first pong, four at a time: each runs scrypt (16 MB) on one of libuv's threads. */
const LOGINS = 8;
/** The footprint goal of issue 14, in MB (10^6 bytes). */
const IDLE_RSS_GOAL_MB = 120;
const SOURCE = ['--import', 'tsx', 'src/main.ts'];
const PLAIN_HTTP = [
  '-e',
  "const s = require('http').createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: `http://127.0.0.1:${s.address().port}/` })))",
];

interface Figures {
  /** From spawn to the first answer, in ms. */
  firstAnswer: number;
  /** Resident memory after IDLE_MS without requests, in bytes. */
  idleRss: number;
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

/** The daemon's first answer: a connection, a password login and core.ping. */
async function firstPong(url: string): Promise<void> {
  const client = await loggedIn(url);
  try {
    if ((await client.call('core.ping')) !== 'pong') throw new Error('core.ping did not answer pong');
  } finally {
    await client.close();
  }
}

/** LOGINS logins on fresh connections, four at a time. */
async function logins(url: string): Promise<void> {
  for (let round = 0; round < LOGINS / 4; round++) await Promise.all(Array.from({ length: 4 }, () => loggedIn(url).then((client) => client.close())));
}

/** Starts `node args`, times it to its first answer, runs `use`, idles it, reads its RSS and stops it. */
async function measure(args: string[], env: Record<string, string>, firstAnswer: (url: string) => Promise<unknown>, use: (url: string) => Promise<void>): Promise<Figures> {
  const started = performance.now();
  const { child, url, stop } = await spawnAnnouncing(args, env);
  try {
    await firstAnswer(url);
    const figures = { firstAnswer: performance.now() - started, idleRss: 0 };
    await use(url);
    await sleep(IDLE_MS);
    figures.idleRss = rss(child.pid!);
    return figures;
  } finally {
    await stop();
  }
}

/** The median time from spawn to the first pong over STARTS starts in one data directory. */
async function medianStart(args: string[], env: Record<string, string>): Promise<number> {
  const times: number[] = [];
  for (let run = 0; run < STARTS; run++) {
    const started = performance.now();
    const { url, stop } = await spawnAnnouncing(args, env);
    try {
      await firstPong(url);
      times.push(performance.now() - started);
    } finally {
      await stop();
    }
  }
  return times.sort((a, b) => a - b)[Math.floor(STARTS / 2)]!;
}

/** A daemon in `dataDir` on a free loopback port. */
const daemonEnv = (dataDir: string) => ({ DATA_DIR: dataDir, PORT: '0', ADMIN_PASSWORD: PASSWORD, LOG_LEVEL: 'info' });

/** Prints the footprint section; returns its rows of the table. */
export async function benchDeployedDaemon(): Promise<Row[]> {
  build();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-bench-deployed-'));
  const freshDir = () => fs.mkdtempSync(path.join(scratch, 'data-'));
  try {
    const plain = await measure(PLAIN_HTTP, {}, (url) => fetch(url).then((response) => response.text()), async () => undefined);
    const deployedDir = freshDir();
    const deployed = await measure(COMPILED, { ...IMAGE_ENV, ...daemonEnv(deployedDir) }, firstPong, logins);
    const restarted = await measure(COMPILED, { ...IMAGE_ENV, ...daemonEnv(deployedDir) }, firstPong, logins);
    const stockMalloc = await measure(COMPILED, daemonEnv(freshDir()), firstPong, logins);
    const sourceDir = freshDir();
    const source = await measure(SOURCE, daemonEnv(sourceDir), firstPong, logins);
    const starts = { deployed: await medianStart(COMPILED, { ...IMAGE_ENV, ...daemonEnv(deployedDir) }), source: await medianStart(SOURCE, daemonEnv(sourceDir)) };
    const line = (label: string, figures: Figures, answer = 'first pong') =>
      console.log(`   ${label.padEnd(44)} ${answer} ${fmt(figures.firstAnswer).padStart(7)}, idle RSS ${mib(figures.idleRss)}`);
    console.log(`   (first answer timed from spawn; then ${LOGINS} logins, and RSS read after ${IDLE_MS / 1000} s idle)`);
    line('plain node HTTP server (no logins)', plain, 'first answer');
    line('as deployed, fresh data directory', deployed);
    line('as deployed, restarted on that data', restarted);
    line("compiled, without the image's malloc setting", stockMalloc);
    line('sources through tsx (npm start before)', source);
    console.log(`   restarts, median of ${STARTS} to the first pong: as deployed ${fmt(starts.deployed)}, sources through tsx ${fmt(starts.source)}`);
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    console.log(
      `   deployed/tsx: restart = ${ratio(starts.deployed, starts.source)}, RSS = ${ratio(deployed.idleRss, source.idleRss)}; ` +
        `deployed/plain node: RSS = ${ratio(deployed.idleRss, plain.idleRss)} (restarted ${ratio(restarted.idleRss, plain.idleRss)})`,
    );
    return [
      { figure: 'idle RSS, compiled daemon on SQLite', anchor: `${mib(plain.idleRss)} (plain node HTTP)`, certmid: mib(deployed.idleRss), ratio: deployed.idleRss / plain.idleRss, goal: `<= ${IDLE_RSS_GOAL_MB} MB (${mib(IDLE_RSS_GOAL_MB * 1e6)})` },
      { figure: `restart to first pong (median of ${STARTS})`, anchor: `${fmt(starts.source)} (sources through tsx)`, certmid: fmt(starts.deployed), ratio: starts.deployed / starts.source, goal: '–' },
    ];
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log('the daemon as deployed: start to first pong, idle memory');
  await benchDeployedDaemon();
}
