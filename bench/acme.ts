/**
 * ACME apex + wildcard issuance (DNS-01) on one Pebble and BIND 9: through certmid's API against a
 * plain acme-client flow that publishes its records with nsupdate(1) and checks them with dig (no
 * certmid code on that side), rounds interleaved; and certbot and lego on the same servers when
 * they are installed.
 */
import { execFile, spawn } from 'node:child_process';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import acme from 'acme-client';
import type { CertmidClient } from '../src/client/client.js';
import { acmeToolsAvailable, digTxt, startBind, startPebble, type BindServer } from '../test/helpers/acme-harness.js';
import { SUBJECT } from './fill.js';
import { interleaved, ms, showSpread, spread, timed, type Row } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ACME_ROUNDS ?? 7);
const WARM_UP = 1;
/** How long either side waits for BIND to answer a challenge record. */
const PROPAGATION_TIMEOUT_S = 10;

/** Adds or deletes a TXT record with nsupdate, signed with the zone's TSIG key. */
function nsupdate(bind: BindServer, action: 'add' | 'delete', fqdn: string, value: string): Promise<void> {
  const script = [`server ${bind.host} ${bind.port}`, `zone ${bind.zone}`, `update ${action} ${fqdn}. ${action === 'add' ? '60 ' : ''}TXT "${value}"`, 'send', ''].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn('nsupdate', ['-y', `${bind.tsig.algorithm}:${bind.tsig.name}:${bind.tsig.secret}`], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nsupdate ${action} ${fqdn} failed: ${errors}`))));
    child.stdin.end(script);
  });
}

/** Polls BIND with dig until it answers `value` at `fqdn`. */
async function untilPublished(bind: BindServer, fqdn: string, value: string): Promise<void> {
  const deadline = Date.now() + PROPAGATION_TIMEOUT_S * 1000;
  while (!(await digTxt(bind, fqdn)).includes(value)) {
    if (Date.now() > deadline) throw new Error(`${fqdn} did not answer ${value} within ${PROPAGATION_TIMEOUT_S} s`);
    await sleep(100);
  }
}

/**
 * The issuance a user would write with acme-client alone: one order for every name, each pending
 * DNS-01 challenge published, checked and answered in parallel, the records removed, the order
 * finalized with `csrPem` and the chain downloaded. An authorization the CA already holds as valid
 * (proved in an earlier round) is left alone: its challenge cannot be answered again.
 */
async function issueDirectly(client: acme.Client, bind: BindServer, names: readonly string[], csrPem: string): Promise<string> {
  const order = await client.createOrder({ identifiers: names.map((value) => ({ type: 'dns' as const, value })) });
  const published: Array<{ fqdn: string; value: string }> = [];
  try {
    await Promise.all(
      (await client.getAuthorizations(order)).map(async (authz) => {
        if (authz.status === 'valid') return;
        const challenge = authz.challenges.find((candidate) => candidate.type === 'dns-01')!;
        if (challenge.status === 'valid') return;
        const record = { fqdn: `_acme-challenge.${authz.identifier.value}`, value: await client.getChallengeKeyAuthorization(challenge) };
        published.push(record);
        await nsupdate(bind, 'add', record.fqdn, record.value);
        await untilPublished(bind, record.fqdn, record.value);
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      }),
    );
  } finally {
    await Promise.all(published.map(({ fqdn, value }) => nsupdate(bind, 'delete', fqdn, value)));
  }
  const finalized = await client.finalizeOrder(order, csrPem);
  return client.getCertificate(finalized.status === 'valid' ? finalized : await client.waitForValidStatus(finalized));
}

/** Whether `command` is on the PATH. */
async function installed(command: string): Promise<boolean> {
  return promisify(execFile)('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

/** Prints the ACME section; returns its row of the table. */
export async function benchAcme(client: CertmidClient): Promise<Row[]> {
  // acmeToolsAvailable throws under CI=true when a tool is missing; here that is a skip too.
  if (!(await acmeToolsAvailable().catch(() => false)) || !(await installed('nsupdate'))) {
    console.log('   skipped: needs pebble, named, dig and nsupdate (apt-get install pebble bind9 bind9-dnsutils)');
    return [];
  }
  const bind = await startBind();
  const pebble = await startPebble({ dnsServer: bind.address });
  const agent = new https.Agent({ ca: pebble.caBundlePem, keepAlive: true });
  try {
    const names = [bind.zone, `*.${bind.zone}`];
    const authenticator = await client.call<{ id: number }>('acme.dns.authenticator.create', {
      name: 'bench-bind',
      attributes: { authenticator: 'rfc2136', nameserver: bind.host, port: bind.port, tsig_key_name: bind.tsig.name, tsig_algorithm: bind.tsig.algorithm, tsig_secret: bind.tsig.secret },
      propagation: { mode: 'check', timeout: PROPAGATION_TIMEOUT_S },
    });
    const csr = await client.callJob<{ id: number; CSR: string; san: string[] }>('certificate.create', [
      { ...SUBJECT, name: 'bench-acme-csr', create_type: 'CERTIFICATE_CREATE_CSR', key_type: 'EC', ec_curve: 'SECP256R1', common: bind.zone, san: names },
    ]);
    await client.call('acme.registration.create', { tos: true, acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem });
    let issued = 0;
    const viaApi = () =>
      timed(() =>
        client.callJob('certificate.create', [
          { name: `bench-acme-${++issued}`, create_type: 'CERTIFICATE_CREATE_ACME', csr_id: csr.id, tos: true, acme_directory_uri: pebble.directoryUrl, dns_mapping: Object.fromEntries(csr.san.map((san) => [san, authenticator.id])) },
        ]),
      );

    // acme-client's own HTTP adapter, trusting Pebble; polls as certmid does (250 ms doubling to 2 s) instead of a 5 s first pause.
    acme.axios.defaults.adapter = 'http';
    acme.axios.defaults.httpsAgent = agent;
    const account = new acme.Client({ directoryUrl: pebble.directoryUrl, accountKey: await acme.crypto.createPrivateKey(), backoffMin: 250, backoffMax: 2000, backoffAttempts: 20 });
    await account.createAccount({ termsOfServiceAgreed: true });
    const direct = () => timed(() => issueDirectly(account, bind, names, csr.CSR));

    const times = await interleaved(ROUNDS, WARM_UP, direct, viaApi);
    const [plain, api] = [spread(times.anchor), spread(times.certmid)];
    console.log(`   ${names.join(' + ')}, ${ROUNDS} rounds after ${WARM_UP} warm-up: acme-client + nsupdate ${showSpread(plain, 'ms')}, API ${showSpread(api, 'ms')}`);
    for (const tool of ['certbot', 'lego']) {
      if (!(await installed(tool))) console.log(`   ${tool}: not installed, skipped`);
    }
    return [{ figure: 'ACME apex + wildcard (DNS-01), median', anchor: `${ms(plain.median)} ms (acme-client + nsupdate)`, certmid: `${ms(api.median)} ms`, ratio: api.median / plain.median, goal: '–' }];
  } finally {
    agent.destroy();
    await pebble.stop();
    await bind.stop();
  }
}

