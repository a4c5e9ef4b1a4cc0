/**
 * Fan-out: SUBSCRIBERS WebSocket sessions subscribed to certificate.query on the daemon, and as many
 * on a bare `ws` server that broadcasts the same frame. A round starts a change from one more
 * connection (a certificate renamed through the API; for the bare server, a message asking it to
 * broadcast) and times every subscriber's receipt: from that start (what a watcher sees: for
 * certmid the update job, its write and the event come first), and from the round's first receipt
 * (the fan-out's own spread, the figure compared with the bare broadcast).
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { loggedIn, spawnAnnouncing, startBenchDaemon } from './daemon.js';
import { SUBJECT } from './fill.js';
import { percentile, ms, type Row } from './stats.js';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const ROUNDS = 15;
const WARM_UP = 3;
/** Opening connections this many at a time keeps the listen backlog from overflowing. */
const CONNECT_BATCH = 50;
const GOAL = 1.5;

/** The bare server: broadcasts whatever follows `broadcast:` to every other client, as a text frame sent as the same bytes. */
const BARE_SERVER = `
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => console.log(JSON.stringify({ url: 'ws://127.0.0.1:' + wss.address().port + '/' })));
wss.on('connection', (ws) => ws.on('message', (data) => {
  const text = data.toString();
  if (!text.startsWith('broadcast:')) return;
  const frame = Buffer.from(text.slice('broadcast:'.length));
  for (const client of wss.clients) if (client !== ws && client.readyState === 1) client.send(frame, { binary: false });
}));
`;

interface Delays {
  fromStart: number[];
  fromFirst: number[];
}

/** Subscribers that note when each frame arrives; `round` collects one round's receipt times. */
class Subscribers {
  readonly sockets: WebSocket[] = [];
  private arrivals: number[] = [];
  private expected = 0;
  private done: () => void = () => undefined;
  /** The last frame received, to hand the bare server the very bytes the daemon sent. */
  lastFrame = '';

  async open(url: string, count: number, setUp: (ws: WebSocket) => Promise<void>): Promise<void> {
    for (let first = 0; first < count; first += CONNECT_BATCH) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(CONNECT_BATCH, count - first) }, async () => {
          const ws = new WebSocket(url);
          await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
          await setUp(ws);
          ws.on('message', (data) => this.arrived(data.toString()));
          return ws;
        }),
      );
      this.sockets.push(...batch);
    }
  }

  private arrived(text: string): void {
    this.arrivals.push(performance.now());
    this.lastFrame = text;
    if (this.arrivals.length === this.expected) this.done();
  }

  /** Runs `trigger`; resolves with each subscriber's delay from its start, and from the first receipt, in ms. */
  async round(trigger: () => Promise<unknown>): Promise<Delays> {
    this.arrivals = [];
    this.expected = this.sockets.length;
    const all = new Promise<void>((resolve) => (this.done = resolve));
    const started = performance.now();
    await Promise.all([trigger(), all]);
    const first = Math.min(...this.arrivals);
    return { fromStart: this.arrivals.map((at) => at - started), fromFirst: this.arrivals.map((at) => at - first) };
  }

  close(): void {
    for (const ws of this.sockets) ws.close();
  }
}

/** Sends one JSON-RPC request on a raw socket and waits for its reply. */
function request(ws: WebSocket, id: number, method: string, params: unknown[]): Promise<{ result?: unknown; error?: unknown }> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer) => {
      const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (reply.id !== id) return;
      ws.off('message', onMessage);
      resolve(reply);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  });
}

/** Prints the fan-out section; returns its rows of the table. */
export async function benchFanout(): Promise<Row[]> {
  const limits = String(SUBSCRIBERS + 100);
  const daemon = await startBenchDaemon({ CONNECTIONS_PER_ADDRESS: limits, ANONYMOUS_CONNECTIONS_PER_ADDRESS: limits });
  const bare = await spawnAnnouncing(['-e', BARE_SERVER], {});
  const admin = await loggedIn(daemon.url);
  const watchers = { certmid: new Subscribers(), bare: new Subscribers() };
  try {
    // A reusable token: a token login costs a hash lookup, where a password login costs a scrypt.
    const token = await admin.call<string>('auth.generate_token', 3600, {}, false, false);
    const certificate = await admin.callJob<{ id: number }>('certificate.create', [
      { ...SUBJECT, name: 'fanout', create_type: 'CERTIFICATE_CREATE_INTERNAL', key_type: 'EC', ec_curve: 'SECP256R1', common: 'fanout.example', san: ['fanout.example'], lifetime: 90, ...(await fanoutCa(admin)) },
    ]);
    await watchers.certmid.open(daemon.url, SUBSCRIBERS, async (ws) => {
      const login = await request(ws, 1, 'auth.login_ex', [{ mechanism: 'TOKEN_PLAIN', token }]);
      if ((login.result as { response_type?: string } | undefined)?.response_type !== 'SUCCESS') throw new Error(`token login failed: ${JSON.stringify(login)}`);
      await request(ws, 2, 'core.subscribe', ['certificate.query']);
    });
    await watchers.bare.open(bare.url, SUBSCRIBERS, async () => undefined);
    const trigger = new WebSocket(bare.url);
    await new Promise((resolve) => trigger.once('open', resolve));

    let renames = 0;
    const viaApi = () => watchers.certmid.round(() => admin.callJob('certificate.update', [certificate.id, { name: `fanout-${++renames}` }]));
    await viaApi();
    const frame = watchers.certmid.lastFrame;
    const viaBare = () => watchers.bare.round(async () => trigger.send(`broadcast:${frame}`));
    const times = { certmid: { fromStart: [] as number[], fromFirst: [] as number[] }, bare: { fromStart: [] as number[], fromFirst: [] as number[] } };
    const record = (side: keyof typeof times, delays: Delays) => {
      times[side].fromStart.push(...delays.fromStart);
      times[side].fromFirst.push(...delays.fromFirst);
    };
    for (let round = 0; round < WARM_UP + ROUNDS; round++) {
      const bareFirst = round % 2 === 0;
      const first = await (bareFirst ? viaBare() : viaApi());
      const second = await (bareFirst ? viaApi() : viaBare());
      if (round < WARM_UP) continue;
      record(bareFirst ? 'bare' : 'certmid', first);
      record(bareFirst ? 'certmid' : 'bare', second);
    }
    trigger.close();
    const p = (values: number[], rank: number) => percentile(values, rank);
    const [c50, c99, b50, b99] = [p(times.certmid.fromFirst, 50), p(times.certmid.fromFirst, 99), p(times.bare.fromFirst, 50), p(times.bare.fromFirst, 99)];
    console.log(`   ${SUBSCRIBERS} subscribers, ${ROUNDS} rounds after ${WARM_UP} warm-up, frame ${Buffer.byteLength(frame)} bytes: ${frame}`);
    console.log(`   from the round's first receipt: certmid p50 ${ms(c50)} ms p99 ${ms(c99)} ms; bare ws p50 ${ms(b50)} ms p99 ${ms(b99)} ms`);
    console.log(
      `   from the change's start: certmid (certificate.update, its job and write included) p50 ${ms(p(times.certmid.fromStart, 50))} ms p99 ${ms(p(times.certmid.fromStart, 99))} ms; ` +
        `bare ws p50 ${ms(p(times.bare.fromStart, 50))} ms p99 ${ms(p(times.bare.fromStart, 99))} ms`,
    );
    return [
      { figure: `fan-out to ${SUBSCRIBERS} subscribers, p50 after 1st receipt`, anchor: `${ms(b50)} ms (bare ws broadcast)`, certmid: `${ms(c50)} ms`, ratio: c50 / b50, goal: `<= ${GOAL}×` },
      { figure: `fan-out to ${SUBSCRIBERS} subscribers, p99 after 1st receipt`, anchor: `${ms(b99)} ms (bare ws broadcast)`, certmid: `${ms(c99)} ms`, ratio: c99 / b99, goal: `<= ${GOAL}×` },
      { figure: 'event frame size', anchor: 'TrueNAS: id only', certmid: `${Buffer.byteLength(frame)} B`, ratio: null, goal: 'no larger than TrueNAS' },
    ];
  } finally {
    watchers.certmid.close();
    watchers.bare.close();
    await admin.close();
    await bare.stop();
    await daemon.stop();
  }
}

/** `signedby` of a small CA made for the fan-out's certificate. */
async function fanoutCa(admin: Awaited<ReturnType<typeof loggedIn>>): Promise<{ signedby: number }> {
  const ca = await admin.call<{ id: number }>('certificateauthority.create', {
    ...SUBJECT,
    name: 'fanout-ca',
    create_type: 'CA_CREATE_INTERNAL',
    key_type: 'EC',
    ec_curve: 'SECP256R1',
    common: 'Fanout CA',
    san: ['fanout-ca.example'],
    lifetime: 365,
  });
  return { signedby: ca.id };
}
