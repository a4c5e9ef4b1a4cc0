/**
 * Stored certificates on one database: creates at 0 and at BENCH_CERTS stored certificates, the
 * full certificate.query list and get_instance by id, against raw reads of the same rows with
 * better-sqlite3 or pg (no ORM), rounds interleaved.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { WebSocket } from 'ws';
import type { CertmidClient } from '../src/client/client.js';
import { createTestDatabase } from '../test/helpers/services.js';
import { loggedIn, startBenchDaemon, type BenchDaemon } from './daemon.js';
import { createAuthorities, fill, pool, SUBJECT, type Authorities } from './fill.js';
import { KEY_FIELDS } from './pki.js';
import { interleaved, mib, ms, percentile, showSpread, spread, timed, type Row } from './stats.js';

export const STORED = Number(process.env.BENCH_CERTS ?? 10_000);
/** Of STORED, how many certificate.create makes (the rest are imported): internal issuance is the slower way in. */
const MADE = Math.min(STORED, Number(process.env.BENCH_MADE ?? 500));
const IN_FLIGHT = 8;
const CREATES_PER_ROUND = 40;
const CREATE_ROUNDS = 3;
const LIST_ROUNDS = 3;
const GET_ROUNDS = 5;
const GETS_PER_ROUND = 100;

/** The full list is large (each entry nests its CA entry, as TrueNAS's does): lift ws's 100 MiB cap. */
class LargeMessageWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { maxPayload: 2 ** 30 });
  }
}

/** Raw reads of the certificate table, as an application would write them without the ORM. */
interface RawReader {
  all(): Promise<unknown[]>;
  byId(id: number): Promise<unknown>;
  close(): Promise<void>;
}

function sqliteReader(daemon: BenchDaemon): RawReader {
  const db = new Database(path.join(daemon.dataDir, 'certmid.db'), { readonly: true });
  const all = db.prepare('SELECT * FROM certificate');
  const byId = db.prepare('SELECT * FROM certificate WHERE id = ?');
  return { all: async () => all.all(), byId: async (id) => byId.get(id), close: async () => void db.close() };
}

async function postgresReader(url: string): Promise<RawReader> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    all: async () => (await client.query('SELECT * FROM certificate')).rows,
    byId: async (id) => (await client.query({ name: 'certificate-by-id', text: 'SELECT * FROM certificate WHERE id = $1', values: [id] })).rows[0],
    close: () => client.end(),
  };
}

/** Peak resident memory of a process so far, in bytes. */
const peakRss = (pid: number) => Number(/^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** Certificates created per second, CREATE_ROUNDS rounds of CREATES_PER_ROUND with IN_FLIGHT in flight after a warm-up round. */
async function createRate(client: CertmidClient, authorities: Authorities, tag: string): Promise<number[]> {
  const rates: number[] = [];
  for (let round = -1; round < CREATE_ROUNDS; round++) {
    const elapsed = await pool(CREATES_PER_ROUND, IN_FLIGHT, (i) =>
      client.callJob('certificate.create', [
        { ...SUBJECT, ...KEY_FIELDS['EC P-256'], name: `${tag}-${round}-${i}`, common: `${tag}-${round}-${i}.example`, san: [`${tag}-${round}-${i}.example`], lifetime: 397, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: authorities.primary.id },
      ]),
    );
    if (round >= 0) rates.push(CREATES_PER_ROUND / (elapsed / 1000));
  }
  return rates;
}

/** Prints the section for one database; returns its rows of the table and how its rows were made. */
export async function benchDatabase(label: 'SQLite' | 'PostgreSQL'): Promise<{ rows: Row[]; made: string }> {
  const database = label === 'PostgreSQL' ? await createTestDatabase() : null;
  const daemon = await startBenchDaemon(database ? { DATABASE_URL: database.url } : {});
  const client = await loggedIn(daemon.url, LargeMessageWebSocket);
  const reader = database ? await postgresReader(database.url) : sqliteReader(daemon);
  try {
    const authorities = await createAuthorities(client, 'q');
    const atZero = spread(await createRate(client, authorities, 'zero'));
    const started = performance.now();
    const made = await fill(client, authorities, STORED - (CREATE_ROUNDS + 1) * CREATES_PER_ROUND, MADE, 'fill');
    console.log(`   ${label}: filled to ${STORED} in ${((performance.now() - started) / 1000).toFixed(0)} s: ${made}`);
    const atStored = spread(await createRate(client, authorities, 'full'));
    console.log(`   ${label}: creates (EC P-256, ${IN_FLIGHT} in flight) at 0: ${showSpread(atZero, '/s', (n) => n.toFixed(0))}; at ${STORED}: ${showSpread(atStored, '/s', (n) => n.toFixed(0))}`);

    let replyBytes = 0;
    let entries = 0;
    const list = await interleaved(
      LIST_ROUNDS,
      1,
      () => timed(() => reader.all()),
      () =>
        timed(async () => {
          entries = (await client.call<unknown[]>('certificate.query')).length;
        }),
    );
    // Measured apart: the client's own re-serialisation is not the daemon's time.
    replyBytes = Buffer.byteLength(JSON.stringify(await client.call<unknown[]>('certificate.query')));
    const [rawList, apiList] = [spread(list.anchor), spread(list.certmid)];
    console.log(`   ${label}: full list of ${entries}: raw ${showSpread(rawList, 'ms')}, certificate.query ${showSpread(apiList, 'ms')} (${mib(replyBytes)}, ${(replyBytes / entries / 1024).toFixed(1)} KiB an entry); daemon peak RSS ${mib(peakRss(daemon.pid))}`);

    const ids = (await client.call<Array<{ id: number }>>('certificate.query', [], { select: ['id'] })).map((entry) => entry.id);
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
      made: `${made}; plus the ${2 * (CREATE_ROUNDS + 1) * CREATES_PER_ROUND} certificates of the create rounds at 0 and at ${STORED}`,
      rows: [
        { figure: `${label}: creates/s at ${STORED} vs at 0`, anchor: `${atZero.median.toFixed(0)}/s at 0`, certmid: `${atStored.median.toFixed(0)}/s`, ratio: atStored.median / atZero.median, goal: '>= 0.90 (at 100,000)' },
        { figure: `${label}: certificate.query, ${entries} entries`, anchor: `${ms(rawList.median)} ms (raw ${label === 'SQLite' ? 'better-sqlite3' : 'pg'})`, certmid: `${ms(apiList.median)} ms`, ratio: apiList.median / rawList.median, goal: '<= 3×' },
        { figure: `${label}: get_instance p50`, anchor: `${ms(raw50)} ms (raw by id)`, certmid: `${ms(api50)} ms`, ratio: api50 / raw50, goal: '–' },
        { figure: `${label}: get_instance p99`, anchor: `${ms(raw99)} ms (raw by id)`, certmid: `${ms(api99)} ms`, ratio: api99 / raw99, goal: '<= 5 ms (at 100,000)' },
        { figure: `${label}: daemon peak RSS (full list)`, anchor: '–', certmid: mib(peakRss(daemon.pid)), ratio: null, goal: '< 300 MiB' },
      ],
    };
  } finally {
    await reader.close();
    await client.close();
    await daemon.stop();
    await database?.drop();
  }
}


/** GETS_PER_ROUND sequential calls of `work`, each timed. */
async function latencies(work: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < GETS_PER_ROUND; i++) times.push(await timed(work));
  return times;
}


