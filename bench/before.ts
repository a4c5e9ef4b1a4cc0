/**
 * Today's daemon against the daemon of BEFORE_COMMIT (the last with the hand-written DER code),
 * both compiled and started as their own Dockerfiles start them, each on a fresh SQLite database,
 * measured from outside over their WebSockets in one run, rounds interleaved: internal issuance,
 * imports, the full certificate.query list and get_instance. The X.509 section compares the two
 * codes in process; this one compares what a client sees, with everything else that changed since.
 * The older tree is extracted with `git archive` into the git-ignored `.bench-before/` and built
 * there against this repository's node_modules.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CertmidClient } from '../src/client/client.js';
import { dockerCommand } from '../test/helpers/dockerfile.js';
import { loggedIn, ROOT, startBenchDaemon, TODAY, type BenchDaemon, type DaemonProgram } from './daemon.js';
import { createAuthorities, pool, SUBJECT, type Authorities } from './fill.js';
import { generateKey, issue, KEY_FIELDS, localAuthority, type KeyKind } from './pki.js';
import { interleaved, ms, percentile, showSpread, spread, timed, type Row } from './stats.js';
import { BEFORE_COMMIT } from './x509.js';

const BEFORE_ROOT = path.join(ROOT, '.bench-before', `${BEFORE_COMMIT}-daemon`);
const IN_FLIGHT = 8;
const ROUNDS = 4;
const WARM_UP_ROUNDS = 1;
const CREATES: Array<{ kind: KeyKind; perRound: number }> = [
  { kind: 'EC P-256', perRound: 60 },
  { kind: 'RSA-2048', perRound: 20 },
];
const IMPORTS_PER_ROUND = 40;
const LIST_ROUNDS = 5;
const GETS_PER_ROUND = 100;
/** Serials of the imported certificates. */
const FIRST_SERIAL = 1_000;

/** BEFORE_COMMIT's tree, extracted and built once; the reason as text when git or the commit is not available. */
function beforeProgram(): DaemonProgram | string {
  if (!existsSync(path.join(BEFORE_ROOT, 'dist', 'src', 'main.js'))) {
    let archive: Buffer;
    try {
      archive = execFileSync('git', ['-C', ROOT, 'archive', '--format=tar', BEFORE_COMMIT], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
    } catch (error) {
      return `commit ${BEFORE_COMMIT} not available (${String((error as Error).message).split('\n')[0]})`;
    }
    rmSync(BEFORE_ROOT, { recursive: true, force: true });
    mkdirSync(BEFORE_ROOT, { recursive: true });
    execFileSync('tar', ['-x', '-C', BEFORE_ROOT], { input: archive });
    // The older tree's dependencies are a subset of today's (it declared the schema packages it did not use yet).
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(BEFORE_ROOT, 'node_modules'), 'dir');
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: BEFORE_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    writeFileSync(path.join(ROOT, '.bench-before', 'README'), `Extracted by the bench from commit ${BEFORE_COMMIT}; safe to delete.\n`);
  }
  return { root: BEFORE_ROOT, command: dockerCommand(readFileSync(path.join(BEFORE_ROOT, 'Dockerfile'), 'utf8')).slice(1) };
}

/** One daemon under comparison: its client, its CAs, and a counter for distinct names. */
interface Side {
  daemon: BenchDaemon;
  client: CertmidClient;
  authorities: Authorities;
  /** Certificates made and import rounds run so far: names stay distinct, and both sides import the same batches in turn. */
  made: number;
  importRounds: number;
}

async function startSide(program: DaemonProgram, tag: string): Promise<Side> {
  const daemon = await startBenchDaemon({}, program);
  const client = await loggedIn(daemon.url);
  return { daemon, client, authorities: await createAuthorities(client, tag), made: 0, importRounds: 0 };
}

async function stopSide(side: Side): Promise<void> {
  await side.client.close();
  await side.daemon.stop();
}

/** `count` internal certificate.create jobs of `kind`, IN_FLIGHT at a time; per second. */
async function createRate(side: Side, kind: KeyKind, count: number): Promise<number> {
  const elapsed = await pool(count, IN_FLIGHT, () => {
    const name = `cmp-${kind.replace(/\W+/g, '-')}-${++side.made}`;
    return side.client.callJob('certificate.create', [{ ...SUBJECT, ...KEY_FIELDS[kind], name, common: `${name}.example`, san: [`${name}.example`], lifetime: 397, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: side.authorities.primary.id }]);
  });
  return count / (elapsed / 1000);
}

/** Imports the side's next IMPORTS_PER_ROUND of `pems` (both sides import the same ones), IN_FLIGHT at a time; per second. */
async function importRate(side: Side, pems: ReadonlyArray<{ certificate: string; privatekey: string }>): Promise<number> {
  const first = side.importRounds++ * IMPORTS_PER_ROUND;
  const elapsed = await pool(IMPORTS_PER_ROUND, IN_FLIGHT, (i) => side.client.callJob('certificate.create', [{ name: `imported-${first + i}`, create_type: 'CERTIFICATE_CREATE_IMPORTED', ...pems[first + i]! }]));
  return IMPORTS_PER_ROUND / (elapsed / 1000);
}

/** A rate figure: `before` is the anchor; the ratio is in time (before's rate over today's). */
function rateRow(figure: string, rates: { anchor: number[]; certmid: number[] }, unit: string): Row {
  const [before, now] = [spread(rates.anchor), spread(rates.certmid)];
  const perSecond = (n: number) => n.toFixed(n < 10 ? 1 : 0);
  console.log(`   ${figure}: before ${showSpread(before, unit, perSecond)}, now ${showSpread(now, unit, perSecond)}`);
  return { figure, anchor: `${perSecond(before.median)}${unit} (${BEFORE_COMMIT})`, certmid: `${perSecond(now.median)}${unit}`, ratio: before.median / now.median, goal: '<= 1.0× time' };
}

/** A latency figure over both sides' samples. */
function latencyRow(figure: string, p: number, before: number[], now: number[]): Row {
  const [b, n] = [percentile(before, p), percentile(now, p)];
  return { figure, anchor: `${ms(b)} ms (${BEFORE_COMMIT})`, certmid: `${ms(n)} ms`, ratio: n / b, goal: '<= 1.0× time' };
}

async function sequentialTimes(count: number, work: (i: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push(await timed(() => work(i)));
  return times;
}

/** The section's rows: today's daemon against BEFORE_COMMIT's, through the API. */
export async function benchBefore(): Promise<Row[]> {
  const program = beforeProgram();
  if (typeof program === 'string') {
    console.log(`   ${program}: skipped`);
    return [];
  }
  const before = await startSide(program, 'before');
  const now = await startSide(TODAY, 'now');
  try {
    const rows: Row[] = [];
    for (const { kind, perRound } of CREATES) {
      const rates = await interleaved(ROUNDS, WARM_UP_ROUNDS, () => createRate(before, kind, perRound), () => createRate(now, kind, perRound));
      rows.push(rateRow(`API issuance ${kind}, ${IN_FLIGHT} in flight (creates/s)`, rates, '/s'));
    }

    // Certificates made here beforehand, signed by a CA of neither daemon: the rounds time the import alone.
    const outside = await localAuthority('EC P-256', 'Bench Outside CA');
    const pems = await Promise.all(Array.from({ length: (ROUNDS + WARM_UP_ROUNDS) * IMPORTS_PER_ROUND }, async (_, i) => issue(outside, await generateKey('EC P-256'), [`imported-${i}.example`], FIRST_SERIAL + i, 397)));
    const imports = await interleaved(ROUNDS, WARM_UP_ROUNDS, () => importRate(before, pems), () => importRate(now, pems));
    rows.push(rateRow(`API import of an EC certificate and key, ${IN_FLIGHT} in flight (imports/s)`, imports, '/s'));

    let entries = 0;
    const list = (side: Side) => timed(async () => (entries = (await side.client.call<unknown[]>('certificate.query', [])).length));
    const lists = await interleaved(LIST_ROUNDS, 1, () => list(before), () => list(now));
    const [beforeList, nowList] = [spread(lists.anchor), spread(lists.certmid)];
    console.log(`   certificate.query of ${entries} entries: before ${showSpread(beforeList, 'ms')}, now ${showSpread(nowList, 'ms')}`);
    rows.push({ figure: `certificate.query, full list of ${entries}`, anchor: `${ms(beforeList.median)} ms (${BEFORE_COMMIT})`, certmid: `${ms(nowList.median)} ms`, ratio: nowList.median / beforeList.median, goal: '<= 1.0× time' });

    // Both daemons made the same rows in the same order: the same ids name the same kind of entry.
    const ids = (await now.client.call<Array<{ id: number }>>('certificate.query', [], { select: ['id'] })).map((entry) => entry.id);
    const get = (side: Side) => sequentialTimes(GETS_PER_ROUND, (i) => side.client.call('certificate.get_instance', ids[(i * 7919) % ids.length]));
    const gets = await interleaved(ROUNDS, WARM_UP_ROUNDS, () => get(before), () => get(now));
    const [beforeGets, nowGets] = [gets.anchor.flat(), gets.certmid.flat()];
    console.log(`   get_instance, ${ROUNDS} rounds of ${GETS_PER_ROUND}: before p50 ${ms(percentile(beforeGets, 50))} p99 ${ms(percentile(beforeGets, 99))} ms, now p50 ${ms(percentile(nowGets, 50))} p99 ${ms(percentile(nowGets, 99))} ms`);
    rows.push(latencyRow('get_instance p50', 50, beforeGets, nowGets), latencyRow('get_instance p99', 99, beforeGets, nowGets));
    return rows;
  } finally {
    await stopSide(now);
    await stopSide(before);
  }
}
