/**
 * Stored certificates on one database: creates at BENCH_CERTS stored certificates against creates
 * on a second daemon with an empty database, the certificate.query list and get_instance by id
 * against raw reads of the same rows with better-sqlite3 or pg (no ORM), rounds interleaved.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { WebSocket } from 'ws';
import type { CertmidClient } from '../src/client/client.js';
import { createTestDatabase } from '../test/helpers/services.js';
import { loggedIn, startBenchDaemon, type BenchDaemon } from './daemon.js';
import { addRevoked, createAuthorities, fill, pool, SUBJECT, type Authorities } from './fill.js';
import { KEY_FIELDS } from './pki.js';
import { interleaved, mib, ms, percentile, showSpread, spread, timed, type Row, type Spread } from './stats.js';

export const STORED = Number(process.env.BENCH_CERTS ?? 10_000);
/** Of STORED, how many certificate.create makes (the rest are imported or written): internal issuance is the slower way in. */
const MADE = Math.min(STORED, Number(process.env.BENCH_MADE ?? 500));
/** Above this many stored, the list figure is of its first LIST_PAGE entries (`limit`): the whole list would not fit one reply. */
const LIST_WHOLE_UP_TO = Number(process.env.BENCH_LIST_MAX ?? 20_000);
const LIST_PAGE = 10_000;
const IN_FLIGHT = 8;
const CREATES_PER_ROUND = 40;
/** Rounds run on both daemons before any is recorded: the filled one has served thousands of calls, the empty one none. */
const CREATE_WARM_UP = 8;
const CREATE_ROUNDS = 5;
const LIST_ROUNDS = 3;
const GET_ROUNDS = 5;
const GETS_PER_ROUND = 100;

/** When the last message any bench connection received was whole (its last byte in), before the client decodes it. */
let lastReceivedAt = 0;

/**
 * The full list is large (each entry nests its CA entry, as TrueNAS's does): lift ws's 100 MiB cap.
 * Notes when each message has fully arrived: a listener added here runs before the client's, which
 * then decodes the text (the client's own work, not the daemon's).
 */
class LargeMessageWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { maxPayload: 2 ** 30 });
    this.on('message', () => {
      lastReceivedAt = performance.now();
    });
  }
}

/** Raw reads of the certificate table, as an application would write them without the ORM. */
interface RawReader {
  /** Every row, or the first `limit`. */
  all(limit?: number): Promise<unknown[]>;
  byId(id: number): Promise<unknown>;
  ids(): Promise<number[]>;
  close(): Promise<void>;
}

function sqliteReader(daemon: BenchDaemon): RawReader {
  const db = new Database(path.join(daemon.dataDir, 'certmid.db'), { readonly: true });
  const all = db.prepare('SELECT * FROM certificate');
  const first = db.prepare('SELECT * FROM certificate LIMIT ?');
  const byId = db.prepare('SELECT * FROM certificate WHERE id = ?');
  const ids = db.prepare('SELECT id FROM certificate').pluck();
  return {
    all: async (limit) => (limit === undefined ? all.all() : first.all(limit)),
    byId: async (id) => byId.get(id),
    ids: async () => ids.all() as number[],
    close: async () => void db.close(),
  };
}

async function postgresReader(url: string): Promise<RawReader> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    all: async (limit) => (await (limit === undefined ? client.query('SELECT * FROM certificate') : client.query('SELECT * FROM certificate LIMIT $1', [limit]))).rows,
    byId: async (id) => (await client.query({ name: 'certificate-by-id', text: 'SELECT * FROM certificate WHERE id = $1', values: [id] })).rows[0],
    ids: async () => (await client.query<{ id: number }>('SELECT id FROM certificate')).rows.map((row) => row.id),
    close: () => client.end(),
  };
}

/** Peak resident memory of a process so far, in bytes. */
const peakRss = (pid: number) => Number(/^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** A daemon taking creates: its client and CAs, and how many rounds it has run (for distinct names). */
interface CreateTarget {
  client: CertmidClient;
  authorities: Authorities;
  tag: string;
  rounds: number;
}

/** Certificates created per second in one round of CREATES_PER_ROUND with IN_FLIGHT in flight. */
async function createRound(target: CreateTarget): Promise<number> {
  const round = target.rounds++;
  const elapsed = await pool(CREATES_PER_ROUND, IN_FLIGHT, (i) => {
    const name = `${target.tag}-${round}-${i}`;
    return target.client.callJob('certificate.create', [
      { ...SUBJECT, ...KEY_FIELDS['EC P-256'], name, common: `${name}.example`, san: [`${name}.example`], lifetime: 397, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: target.authorities.primary.id },
    ]);
  });
  return CREATES_PER_ROUND / (elapsed / 1000);
}

/** A daemon on a fresh database of its own (SQLite in its data directory, or a new PostgreSQL database), logged in. */
async function startOn(label: 'SQLite' | 'PostgreSQL'): Promise<{ daemon: BenchDaemon; client: CertmidClient; database: Awaited<ReturnType<typeof createTestDatabase>> | null; stop(): Promise<void> }> {
  const database = label === 'PostgreSQL' ? await createTestDatabase() : null;
  const daemon = await startBenchDaemon(database ? { DATABASE_URL: database.url } : {});
  const client = await loggedIn(daemon.url, LargeMessageWebSocket);
  return {
    daemon,
    client,
    database,
    async stop() {
      await client.close();
      await daemon.stop();
      await database?.drop();
    },
  };
}

/** Prints the section for one database; returns its rows of the table and how its rows were made. */
export async function benchDatabase(label: 'SQLite' | 'PostgreSQL'): Promise<{ rows: Row[]; made: string }> {
  const filled = await startOn(label);
  const { daemon, client, database } = filled;
  const reader = database ? await postgresReader(database.url) : sqliteReader(daemon);
  try {
    const authorities = await createAuthorities(client, 'q');
    const started = performance.now();
    const made = await fill(client, authorities, { dataDir: daemon.dataDir, databaseUrl: database?.url ?? null }, STORED, MADE, 'fill');
    const fillSeconds = (performance.now() - started) / 1000;
    console.log(`   ${label}: filled to ${STORED} in ${fillSeconds.toFixed(0)} s (${(STORED / fillSeconds).toFixed(0)}/s): ${made}`);
    const { atZero, atStored } = await createRates(label, { client, authorities, tag: 'full', rounds: 0 });
    console.log(
      `   ${label}: creates (EC P-256, ${IN_FLIGHT} in flight, ${CREATE_ROUNDS} rounds of ${CREATES_PER_ROUND} after ${CREATE_WARM_UP} warm-up rounds, interleaved with a daemon on an empty database) at 0: ${showSpread(atZero, '/s', (n) => n.toFixed(0))}; at ${STORED}: ${showSpread(atStored, '/s', (n) => n.toFixed(0))}`,
    );

    const whole = STORED <= LIST_WHOLE_UP_TO;
    const limit = whole ? undefined : LIST_PAGE;
    const listCall = () => client.call<unknown[]>('certificate.query', [], limit === undefined ? {} : { limit });
    // The peak so far, from filling and creating: what the list adds shows against it.
    const peakBeforeList = peakRss(daemon.pid);
    let entries = 0;
    const decoding: number[] = [];
    const list = await interleaved(
      LIST_ROUNDS,
      1,
      () => timed(() => reader.all(limit)),
      // From the call to the reply's last byte received: the client's decoding of 250 MB of JSON afterwards is not the daemon's time.
      async () => {
        const started = performance.now();
        entries = (await listCall()).length;
        decoding.push(performance.now() - lastReceivedAt);
        return lastReceivedAt - started;
      },
    );
    // Measured apart: the client's own re-serialisation is not the daemon's time.
    const replyBytes = Buffer.byteLength(JSON.stringify(await listCall()));
    const [rawList, apiList] = [spread(list.anchor), spread(list.certmid)];
    const listed = whole ? `full list of ${entries}` : `first ${entries} of ${STORED} (limit ${LIST_PAGE}; the whole list is not measured above ${LIST_WHOLE_UP_TO})`;
    console.log(`   ${label}: ${listed}: raw ${showSpread(rawList, 'ms')}, certificate.query to its last byte ${showSpread(apiList, 'ms')}, then decoded by the client in ${showSpread(spread(decoding.slice(-LIST_ROUNDS)), 'ms')} (${mib(replyBytes)}, ${(replyBytes / entries / 1024).toFixed(1)} KiB an entry); daemon peak RSS ${mib(peakRss(daemon.pid))} (${mib(peakBeforeList)} before the list)`);

    const ids = await reader.ids();
    let next = 0;
    const sample = () => ids[(next++ * 7919) % ids.length]!;
    const gets = await interleaved(
      GET_ROUNDS,
      1,
      () => latencies(() => reader.byId(sample())),
      () => latencies(() => client.call('certificate.get_instance', sample())),
    );
    const [rawGets, apiGets] = [gets.anchor.flat(), gets.certmid.flat()];
    const [raw50, raw99, api50, api99] = [percentile(rawGets, 50), percentile(rawGets, 99), percentile(apiGets, 50), percentile(apiGets, 99)];
    console.log(`   ${label}: get by id, ${GET_ROUNDS} rounds of ${GETS_PER_ROUND}: raw p50 ${ms(raw50)} p99 ${ms(raw99)} ms, get_instance p50 ${ms(api50)} p99 ${ms(api99)} ms`);
    return {
      made: `${made}; filled in ${fillSeconds.toFixed(0)} s; plus ${(CREATE_WARM_UP + CREATE_ROUNDS) * CREATES_PER_ROUND} certificates of the create rounds at ${STORED}`,
      rows: [
        { figure: `${label}: creates/s at ${STORED} vs at 0`, anchor: `${atZero.median.toFixed(0)}/s at 0`, certmid: `${atStored.median.toFixed(0)}/s`, ratio: atStored.median / atZero.median, goal: '>= 0.90 (at 100,000)' },
        { figure: `${label}: certificate.query, ${whole ? '' : 'first '}${entries} entries`, anchor: `${ms(rawList.median)} ms (raw ${label === 'SQLite' ? 'better-sqlite3' : 'pg'})`, certmid: `${ms(apiList.median)} ms`, ratio: apiList.median / rawList.median, goal: '<= 3×' },
        { figure: `${label}: get_instance p50`, anchor: `${ms(raw50)} ms (raw by id)`, certmid: `${ms(api50)} ms`, ratio: api50 / raw50, goal: '–' },
        { figure: `${label}: get_instance p99`, anchor: `${ms(raw99)} ms (raw by id)`, certmid: `${ms(api99)} ms`, ratio: api99 / raw99, goal: '<= 5 ms (at 100,000)' },
        { figure: `${label}: daemon peak RSS (${whole ? 'full list' : `lists of ${LIST_PAGE}`})`, anchor: '–', certmid: mib(peakRss(daemon.pid)), ratio: null, goal: '< 300 MiB' },
      ],
    };
  } finally {
    await reader.close();
    await filled.stop();
  }
}

/**
 * Creates at 0 and at STORED, measured alike: a second daemon on an empty database (but for as
 * many revoked certificates) takes the same warm-up, and rounds alternate between the two, so
 * neither is measured cold nor on a quieter machine.
 */
async function createRates(label: 'SQLite' | 'PostgreSQL', full: CreateTarget): Promise<{ atZero: Spread; atStored: Spread }> {
  const empty = await startOn(label);
  try {
    const zero: CreateTarget = { client: empty.client, authorities: await createAuthorities(empty.client, 'q'), tag: 'zero', rounds: 0 };
    // The same revoked certificates as the filled one: they are part of every reply nesting their CA.
    await addRevoked(zero.client, zero.authorities, 'zero');
    const rates = await interleaved(CREATE_ROUNDS, CREATE_WARM_UP, () => createRound(zero), () => createRound(full));
    return { atZero: spread(rates.anchor), atStored: spread(rates.certmid) };
  } finally {
    await empty.stop();
  }
}


/** GETS_PER_ROUND sequential calls of `work`, each timed. */
async function latencies(work: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < GETS_PER_ROUND; i++) times.push(await timed(work));
  return times;
}


