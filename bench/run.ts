/**
 * `npm run bench [-- SECTION…]` (or BENCH_SECTIONS="query fanout"): certmid against the same work
 * done directly, in one table of figure, anchor, certmid, ratio and goal (issue 14's goals). The
 * daemon runs compiled in its own process, as deployed, and is measured from outside; anchors and
 * certmid alternate round by round after a warm-up, and figures are medians with their range.
 *
 *  issuance   internal certificate.create against key generation and signing in this process
 *  query      per database (SQLite, PostgreSQL): creates at 0 and at BENCH_CERTS stored
 *             certificates (default 10,000), the full certificate.query list and get_instance,
 *             against raw better-sqlite3 / pg reads of the same rows
 *  fanout     one change delivered to BENCH_SUBSCRIBERS sessions (default 1,000) against a bare ws broadcast
 *  acme       apex + wildcard DNS-01 issuance on Pebble and BIND against acme-client with nsupdate
 *  footprint  the deployed daemon's start and idle RSS against a plain node HTTP server
 *  x509       parsing and issuing in process (src/crypto on the ASN.1 schema library) against the hand-written DER code it replaced
 *  before     today's daemon against the daemon of that code's last commit, through the API: issuance, imports, list, get
 *  login      password logins while 4 RSA-8192 keys generate, against an idle daemon (not in the default run: minutes of key generation)
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { CertmidClient } from '../src/client/client.js';
import { benchAcme } from './acme.js';
import { benchBefore } from './before.js';
import { build, loggedIn, startBenchDaemon } from './daemon.js';
import { benchDeployedDaemon } from './deployed.js';
import { benchFanout } from './fanout.js';
import { benchX509 } from './x509.js';
import { createAuthorities, pool, SUBJECT } from './fill.js';
import { generateKey, issue, KEY_FIELDS, type KeyKind } from './pki.js';
import { benchDatabase } from './query.js';
import { interleaved, ms, percentile, printTable, showSpread, spread, timed, type Row } from './stats.js';
import { postgresAvailable } from '../test/helpers/services.js';

const SECTIONS = ['issuance', 'query', 'fanout', 'acme', 'footprint', 'x509', 'before', 'login'] as const;
type Section = (typeof SECTIONS)[number];
const DEFAULT_SECTIONS: Section[] = ['issuance', 'query', 'fanout', 'acme', 'footprint', 'x509', 'before'];
const IN_FLIGHT = 8;
const ISSUANCE: Array<{ kind: KeyKind; perRound: number; goal: number }> = [
  { kind: 'EC P-256', perRound: 60, goal: 1.5 },
  { kind: 'RSA-2048', perRound: 20, goal: 1.05 },
];
const ISSUANCE_ROUNDS = 4;
const IDLE_LOGINS = 40;
const BIG_KEYS = 4;
/** A login starts every 250 ms whether or not the previous one answered, so a stalled daemon shows as many slow logins. */
const LOGIN_INTERVAL_MS = 250;

function chosenSections(): Section[] {
  const asked = [...process.argv.slice(2), ...(process.env.BENCH_SECTIONS ?? '').split(/[\s,]+/)].filter(Boolean);
  const unknown = asked.filter((name) => !SECTIONS.includes(name as Section));
  if (unknown.length > 0) throw new Error(`unknown section ${unknown.join(', ')}; sections: ${SECTIONS.join(', ')}`);
  return asked.length > 0 ? (asked as Section[]) : DEFAULT_SECTIONS;
}

/** Internal issuance through the API against generation and signing here, interleaved rounds, in certificates a second. */
async function benchIssuance(client: CertmidClient): Promise<Row[]> {
  const authorities = await createAuthorities(client, 'issuance');
  const rows: Row[] = [];
  for (const { kind, perRound, goal } of ISSUANCE) {
    let serial = 1_000_000;
    let named = 0;
    const direct = () => timed(() => pool(perRound, IN_FLIGHT, async (i) => issue(authorities.primary, await generateKey(kind), [`direct-${i}.example`], ++serial, 397)));
    const api = () =>
      timed(() =>
        pool(perRound, IN_FLIGHT, () => {
          const name = `api-${kind.replace(/\W+/g, '-')}-${++named}`;
          return client.callJob('certificate.create', [{ ...SUBJECT, ...KEY_FIELDS[kind], name, common: `${name}.example`, san: [`${name}.example`], lifetime: 397, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: authorities.primary.id }]);
        }),
      );
    const times = await interleaved(ISSUANCE_ROUNDS, 1, direct, api);
    const rate = (elapsed: number) => perRound / (elapsed / 1000);
    const [anchor, certmid] = [spread(times.anchor.map(rate)), spread(times.certmid.map(rate))];
    const perSecond = (n: number) => n.toFixed(0);
    console.log(`   ${kind}, ${ISSUANCE_ROUNDS} rounds of ${perRound} after a warm-up, ${IN_FLIGHT} in flight: in process ${showSpread(anchor, '/s', perSecond)}, API ${showSpread(certmid, '/s', perSecond)}`);
    rows.push({ figure: `issuance ${kind} (creates/s)`, anchor: `${perSecond(anchor.median)}/s (in process)`, certmid: `${perSecond(certmid.median)}/s`, ratio: anchor.median / certmid.median, goal: `<= ${goal}× time` });
  }
  return rows;
}

/** One password login on a fresh connection, timed from the call to its answer. */
async function timedLogin(url: string): Promise<number> {
  const session = await CertmidClient.connect(url, { WebSocket });
  try {
    return await timed(() => session.login('admin', 'bench-password'));
  } finally {
    await session.close();
  }
}

/** Starts a timed login every LOGIN_INTERVAL_MS until `stop` says so; resolves with their times. */
async function loginsUntil(url: string, stop: () => boolean): Promise<number[]> {
  const logins: Array<Promise<number>> = [];
  while (!stop()) {
    logins.push(timedLogin(url));
    await sleep(LOGIN_INTERVAL_MS);
  }
  return Promise.all(logins);
}

/** Logins on an idle daemon, then for as long as 4 RSA-8192 certificate.create jobs run. */
async function benchLoginUnderKeyGeneration(client: CertmidClient, url: string): Promise<Row[]> {
  const { primary } = await createAuthorities(client, 'login');
  let started = 0;
  const idle = await loginsUntil(url, () => started++ === IDLE_LOGINS);
  let generating = true;
  const keys = Promise.all(
    Array.from({ length: BIG_KEYS }, (_, i) =>
      client.callJob('certificate.create', [{ ...SUBJECT, lifetime: 397, key_type: 'RSA', key_length: 8192, name: `big-key-${i}`, common: `big-${i}`, san: [`big-${i}.example`], create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: primary.id }]),
    ),
  ).finally(() => (generating = false));
  const loaded = await loginsUntil(url, () => !generating);
  await keys;
  const [idle50, loaded50, loaded99] = [percentile(idle, 50), percentile(loaded, 50), percentile(loaded, 99)];
  console.log(`   idle: ${idle.length} logins p50 ${ms(idle50)} ms; while ${BIG_KEYS} RSA-8192 keys generate: ${loaded.length} logins p50 ${ms(loaded50)} ms, p99 ${ms(loaded99)} ms`);
  return [{ figure: `login p50 while ${BIG_KEYS} RSA-8192 keys generate`, anchor: `${ms(idle50)} ms (idle daemon)`, certmid: `${ms(loaded50)} ms`, ratio: loaded50 / idle50, goal: '–' }];
}

/** Runs `section` on a fresh SQLite daemon with a logged-in client. */
async function withDaemon(section: (client: CertmidClient, url: string) => Promise<Row[]>): Promise<Row[]> {
  const daemon = await startBenchDaemon();
  const client = await loggedIn(daemon.url);
  try {
    return await section(client, daemon.url);
  } finally {
    await client.close();
    await daemon.stop();
  }
}

const sections = chosenSections();
console.log(`certmid benchmark (Node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}), sections: ${sections.join(' ')}\n`);
build();
const rows: Row[] = [];
const notes: string[] = [];
for (const section of sections) {
  console.log(section);
  if (section === 'issuance') rows.push(...(await withDaemon(benchIssuance)));
  if (section === 'query') {
    for (const label of ['SQLite', 'PostgreSQL'] as const) {
      if (label === 'PostgreSQL' && !(await postgresAvailable())) {
        console.log('   PostgreSQL: not reachable, skipped');
        continue;
      }
      const result = await benchDatabase(label);
      rows.push(...result.rows);
      notes.push(`${label} rows: ${result.made}.`);
    }
  }
  if (section === 'fanout') rows.push(...(await benchFanout()));
  if (section === 'acme') rows.push(...(await withDaemon(benchAcme)));
  if (section === 'footprint') rows.push(...(await benchDeployedDaemon()));
  if (section === 'x509') rows.push(...(await benchX509()));
  if (section === 'before') rows.push(...(await benchBefore()));
  if (section === 'login') rows.push(...(await withDaemon(benchLoginUnderKeyGeneration)));
  console.log();
}
printSummary(rows, notes);

function printSummary(table: Row[], footnotes: string[]): void {
  console.log('Ratios are certmid/anchor in time (or the figure the goal names); medians of interleaved rounds.');
  printTable(table);
  for (const note of footnotes) console.log(note);
}
