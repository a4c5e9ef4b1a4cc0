/**
 * A differential corpus made by `openssl` alone: certificates (PEM and DER, single and with their
 * chain), CSRs, CRLs, private keys in every shape openssl writes, and PKCS#12 bundles, with options
 * drawn from a seeded pseudo-random generator so the same seed makes the same choices. Keys come from
 * a small pool generated once, since RSA generation dominates the time.
 *
 * By hand: `npx tsx test/corpus/generate.ts --seed 7 --out ./corpus` writes the files and
 * `manifest.json`, which says what each file is and how openssl made it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { opensslOk } from '../helpers/openssl.js';

/** mulberry32: small, fast and the same on every platform, which is all a corpus seed needs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Choices drawn from one seeded generator. */
export class Chooser {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  /** A non-empty subset, in the items' order. */
  subset<T>(items: readonly T[], probability = 0.4): T[] {
    const chosen = items.filter(() => this.chance(probability));
    return chosen.length ? chosen : [this.pick(items)];
  }
  hex(bytes: number): string {
    return Array.from({ length: bytes }, () => this.int(0, 255).toString(16).padStart(2, '0')).join('');
  }
  /** Letters and digits, starting with a letter (never taken for a command-line option). */
  word(length: number): string {
    const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
    const alphabet = `${letters}0123456789`;
    return this.pick([...letters]) + Array.from({ length: length - 1 }, () => this.pick([...alphabet])).join('');
  }
}

export type KeyAlgorithm = 'RSA-1024' | 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'P-256' | 'P-384' | 'P-521' | 'Ed25519';

/** How a private key file is written. */
export type KeyShape =
  | 'pkcs8'
  | 'pkcs8-der'
  | 'pkcs8-v2-aes256'
  | 'pkcs8-v2-aes256-der'
  | 'pkcs8-v1-sha1-3des'
  | 'traditional'
  | 'traditional-der'
  | 'traditional-aes256'
  | 'traditional-des3';

interface Base {
  /** File name inside the corpus directory. */
  file: string;
  format: 'PEM' | 'DER';
  /** What the file was made for, for messages. */
  label: string;
}

export interface CertificateItem extends Base {
  kind: 'certificate';
  isCa: boolean;
  /** The unencrypted PKCS#8 PEM of the certificate's key. */
  keyFile: string;
  /** How many certificates the file holds (leaf first, then its issuers). */
  count: number;
}

export interface CsrItem extends Base {
  kind: 'csr';
  keyFile: string;
}

export interface KeyItem extends Base {
  kind: 'key';
  shape: KeyShape;
  algorithm: KeyAlgorithm;
  passphrase: string | null;
  /** A PEM certificate for this key, so that the key can be imported with it. */
  certificateFile: string;
}

export interface Pkcs12Item extends Base {
  kind: 'pkcs12';
  passphrase: string;
  legacy: boolean;
  /** The leaf certificate and key it holds (PEM files), and how many certificates in all. */
  certificateFile: string;
  keyFile: string;
  count: number;
}

export interface CrlItem extends Base {
  kind: 'crl';
  issuerFile: string;
  revoked: Array<{ serial: string; reason: string }>;
}

export type CorpusItem = CertificateItem | CsrItem | KeyItem | Pkcs12Item | CrlItem;

export interface Corpus {
  seed: number;
  dir: string;
  items: CorpusItem[];
}

/** At most this many openssl processes at once: two cores, and each process is short. */
const PARALLEL = 4;

/** Runs at most `max` of the given works at once. */
export function limiter(max: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (work) => {
    while (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await work();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

const KEY_POOL: ReadonlyArray<[KeyAlgorithm, number]> = [
  ['RSA-1024', 1],
  ['RSA-2048', 3],
  ['RSA-3072', 1],
  ['RSA-4096', 1],
  ['P-256', 4],
  ['P-384', 3],
  ['P-521', 2],
  ['Ed25519', 3],
];

const GENPKEY_ARGS: Record<KeyAlgorithm, string[]> = {
  'RSA-1024': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
  'RSA-2048': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  'RSA-3072': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072'],
  'RSA-4096': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096'],
  'P-256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'P-384': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  'P-521': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  Ed25519: ['-algorithm', 'ED25519'],
};

interface PoolKey {
  algorithm: KeyAlgorithm;
  file: string;
}

/** Subject values: ASCII, Latin-1 (T61String under `nombstr`) and beyond (BMPString under `default`). */
const ASCII_VALUES = ['Example', 'Acme Ops', 'dev-team', 'Q(1)=x', "O'Brien", 'a/b path'];
const LATIN1_VALUES = ['Bücher', 'Ñandú SA', 'Société Générale', 'Øresund'];
const WIDE_VALUES = ['Ωmega', '日本語テスト', 'Zürich–Ost', 'Ελληνικά'];
const STRING_MASKS = ['default', 'pkix', 'nombstr', 'utf8only'] as const;
const DNS_NAMES = ['www.example.com', 'nas.example.test', 'xn--bcher-kva.example', 'xn--mnchen-3ya.de', '*.wild.example.org', 'a.b.c.example.net'];
const IP_ADDRESSES = ['192.0.2.7', '10.0.0.1', '2001:db8::1', '198.51.100.255', 'fe80::1:2'];
const EMAILS = ['ops@example.com', 'x.y+z@nas.example.test'];
const URIS = ['https://example.com/a?b=c', 'ldap://ldap.example/cn=x'];
const KEY_USAGES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];
const EXTENDED_USAGES = ['serverAuth', 'clientAuth', 'codeSigning', 'emailProtection', 'timeStamping', 'OCSPSigning', 'ipsecIKE', 'anyExtendedKeyUsage', '1.3.6.1.4.1.311.20.2.2'];
const DIGESTS = ['sha256', 'sha256', 'sha384', 'sha512', 'sha224', 'sha1'];
const CRL_REASONS = ['unspecified', 'keyCompromise', 'CACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'certificateHold'];

/** The escape `-subj` needs for `/`, `+` and `\` inside a value. */
const subjValue = (value: string): string => value.replace(/([\\/+])/g, '\\$1');

interface Subject {
  /** The `-subj` argument. */
  subj: string;
  mask: (typeof STRING_MASKS)[number];
  multivalue: boolean;
}

function drawSubject(rng: Chooser, common: string): Subject {
  const mask = rng.pick(STRING_MASKS);
  const pool = mask === 'nombstr' ? [...ASCII_VALUES, ...LATIN1_VALUES] : [...ASCII_VALUES, ...LATIN1_VALUES, ...WIDE_VALUES];
  const multivalue = rng.chance(0.2);
  const parts: string[] = [];
  const add = (type: string, value: string) => parts.push(`/${type}=${subjValue(value)}`);
  if (rng.chance(0.6)) add('C', rng.pick(['US', 'DE', 'FR', 'JP']));
  if (rng.chance(0.4)) add('ST', rng.pick(pool));
  if (rng.chance(0.4)) add('L', rng.pick(pool));
  if (rng.chance(0.7)) {
    const organization = `/O=${subjValue(rng.pick(pool))}`;
    parts.push(multivalue ? `${organization}+OU=${subjValue(rng.pick(pool))}` : organization);
  }
  if (rng.chance(0.4)) add('OU', rng.pick(pool));
  if (rng.chance(0.2)) add('OU', rng.pick(pool));
  if (rng.chance(0.15)) add('serialNumber', rng.word(8));
  if (rng.chance(0.1)) add('DC', 'example');
  add('CN', rng.chance(0.3) ? `${common} ${rng.pick(pool)}` : common);
  if (rng.chance(0.3)) add('emailAddress', rng.pick(EMAILS));
  // The order openssl writes is the order given, so shuffle a little to vary it.
  if (rng.chance(0.3)) parts.reverse();
  return { subj: parts.join(''), mask, multivalue };
}

interface ExtensionPlan {
  /** Lines of the `[ext]` section. */
  lines: string[];
  /** Extra sections the lines refer to. */
  sections: string[];
}

const critical = (rng: Chooser): string => (rng.chance(0.4) ? 'critical,' : '');

function drawSan(rng: Chooser): string {
  const names = [
    ...rng.subset(DNS_NAMES, 0.3).map((name) => `DNS:${name}`),
    ...(rng.chance(0.4) ? rng.subset(IP_ADDRESSES, 0.3).map((ip) => `IP:${ip}`) : []),
    ...(rng.chance(0.25) ? [`email:${rng.pick(EMAILS)}`] : []),
    ...(rng.chance(0.2) ? [`URI:${rng.pick(URIS)}`] : []),
  ];
  return names.join(',');
}

/** Extensions of a CA certificate (`isCa`) or a leaf, each present or not, critical or not. */
function drawExtensions(rng: Chooser, isCa: boolean, index: number): ExtensionPlan {
  const lines: string[] = [];
  const sections: string[] = [];
  if (isCa) {
    const pathlen = rng.chance(0.5) ? `,pathlen:${rng.int(0, 5)}` : '';
    lines.push(`basicConstraints=${rng.chance(0.8) ? 'critical,' : ''}CA:TRUE${pathlen}`);
    lines.push(`keyUsage=${critical(rng)}${['keyCertSign', 'cRLSign', ...(rng.chance(0.5) ? ['digitalSignature'] : [])].join(',')}`);
  } else {
    if (rng.chance(0.6)) lines.push(`basicConstraints=${critical(rng)}CA:FALSE`);
    if (rng.chance(0.7)) lines.push(`keyUsage=${critical(rng)}${rng.subset(KEY_USAGES.filter((usage) => usage !== 'keyCertSign' && usage !== 'cRLSign')).join(',')}`);
  }
  if (rng.chance(0.6)) lines.push(`extendedKeyUsage=${critical(rng)}${rng.subset(EXTENDED_USAGES, 0.3).join(',')}`);
  if (!isCa || rng.chance(0.3)) {
    const san = drawSan(rng);
    if (san) lines.push(`subjectAltName=${rng.chance(0.15) ? 'critical,' : ''}${san}`);
  }
  if (rng.chance(0.7)) lines.push('subjectKeyIdentifier=hash');
  if (rng.chance(0.6)) lines.push(`authorityKeyIdentifier=${rng.pick(['keyid', 'keyid:always', 'keyid,issuer'])}`);
  if (isCa && rng.chance(0.5)) {
    const constraints = [
      ...rng.subset(['permitted;DNS:.example.com', 'permitted;DNS:example.test', 'permitted;IP:192.168.0.0/255.255.0.0', 'permitted;email:.example.com'], 0.5),
      ...(rng.chance(0.5) ? rng.subset(['excluded;DNS:bad.example.com', 'excluded;IP:10.0.0.0/255.0.0.0', 'excluded;URI:.evil.example'], 0.5) : []),
    ];
    lines.push(`nameConstraints=critical,${constraints.join(',')}`);
  }
  if (rng.chance(0.4)) {
    if (rng.chance(0.5)) {
      lines.push(`certificatePolicies=${critical(rng)}${rng.subset(['2.23.140.1.2.1', '2.23.140.1.2.2', '1.3.6.1.4.1.44947.1.1.1', 'anyPolicy']).join(',')}`);
    } else {
      lines.push(`certificatePolicies=ia5org,2.23.140.1.2.1,@policy${index}`);
      sections.push(
        [
          `[policy${index}]`,
          'policyIdentifier = 1.3.6.1.4.1.99999.1',
          'CPS.1 = "https://cps.example.com/cps"',
          `userNotice.1 = @notice${index}`,
          `[notice${index}]`,
          `explicitText = "${rng.pick(['Test notice', 'Only for tests', 'Bücher notice'])}"`,
          ...(rng.chance(0.5) ? ['organization = "Example Org"', 'noticeNumbers = 1, 2'] : []),
        ].join('\n'),
      );
    }
  }
  if (rng.chance(0.4)) lines.push(`crlDistributionPoints=${rng.subset(['URI:http://crl.example.com/ca.crl', 'URI:http://crl2.example.net/b.crl']).join(',')}`);
  if (rng.chance(0.4)) lines.push(`authorityInfoAccess=${rng.subset(['OCSP;URI:http://ocsp.example.com', 'caIssuers;URI:http://ca.example.com/ca.crt']).join(',')}`);
  if (isCa && rng.chance(0.2)) lines.push('policyConstraints=critical,requireExplicitPolicy:1');
  if (isCa && rng.chance(0.15)) lines.push('inhibitAnyPolicy=critical,2');
  // A few in an order openssl would not choose, so order is part of the comparison.
  if (rng.chance(0.2)) lines.reverse();
  return { lines, sections };
}

/** Writes a corpus of at least `minimum` files into `dir` and returns its manifest. */
export async function generateCorpus(options: { seed: number; dir: string; minimum?: number }): Promise<Corpus> {
  const { seed, dir } = options;
  const minimum = options.minimum ?? 200;
  await mkdir(dir, { recursive: true });
  const rng = new Chooser(seed);
  const limit = limiter(PARALLEL);
  const run = (args: string[]) => limit(() => opensslOk(args));
  const at = (name: string) => path.join(dir, name);
  const items: CorpusItem[] = [];
  let counter = 0;
  const fresh = (stem: string) => `${String(++counter).padStart(3, '0')}-${stem}`;

  // The key pool, generated once and in parallel.
  const pool: PoolKey[] = [];
  for (const [algorithm, count] of KEY_POOL) for (let i = 0; i < count; i++) pool.push({ algorithm, file: fresh(`${algorithm.toLowerCase()}.key`) });
  await Promise.all(pool.map((key) => run(['genpkey', ...GENPKEY_ARGS[key.algorithm], '-out', at(key.file)])));
  // RSA-4096 signs slowly and its keys are few: most certificates draw from the others.
  const drawKey = (): PoolKey => {
    const key = rng.pick(pool);
    return key.algorithm === 'RSA-4096' && rng.chance(0.7) ? drawKey() : key;
  };

  const configFor = (subject: Subject, extensions: ExtensionPlan) =>
    [`[req]`, 'distinguished_name = dn', `string_mask = ${subject.mask}`, 'utf8 = yes', '[dn]', '[ext]', ...extensions.lines, ...extensions.sections].join('\n') + '\n';

  const digestArgs = (key: PoolKey, digest: string) => (key.algorithm === 'Ed25519' ? [] : [`-${digest}`]);

  /** A certificate for `key` issued by `issuer` (self-signed without one). Draws everything before awaiting. */
  const makeCertificate = async (label: string, key: PoolKey, issuer: { certificate: string; key: PoolKey } | null, isCa: boolean): Promise<string> => {
    const subject = drawSubject(rng, label);
    const index = ++counter;
    const extensions = drawExtensions(rng, isCa, index);
    const serial = `0x${rng.chance(0.2) ? '00' : ''}${rng.hex(rng.pick([1, 2, 8, 16, 19, 20]))}`;
    const days = rng.pick(['1', '30', '397', '3650', '36500']);
    const signer = issuer?.key ?? key;
    const digest = rng.pick(DIGESTS);
    const stem = `${String(index).padStart(3, '0')}-${label}`;
    const config = `${stem}.cnf`;
    await writeFile(at(config), configFor(subject, extensions));
    const common = ['-config', at(config), '-utf8', ...(subject.multivalue ? ['-multivalue-rdn'] : [])];
    const out = `${stem}.pem`;
    if (!issuer) {
      await run(['req', '-new', '-x509', ...common, '-key', at(key.file), '-subj', subject.subj, '-set_serial', serial, '-days', days, '-extensions', 'ext', ...digestArgs(signer, digest), '-out', at(out)]);
    } else {
      const csr = `${stem}.csr.tmp`;
      await run(['req', '-new', ...common, '-key', at(key.file), '-subj', subject.subj, '-out', at(csr)]);
      await run(['x509', '-req', '-in', at(csr), '-CA', at(issuer.certificate), '-CAkey', at(issuer.key.file), '-set_serial', serial, '-days', days, '-extfile', at(config), '-extensions', 'ext', ...digestArgs(signer, digest), '-out', at(out)]);
    }
    return out;
  };

  /** How a certificate goes into the corpus: DER, PEM with its issuers, or PEM alone; drawn before any await. */
  const drawForm = (hasChain: boolean): 'DER' | 'CHAIN' | 'PEM' => (rng.chance(0.35) ? 'DER' : hasChain && rng.chance(0.4) ? 'CHAIN' : 'PEM');

  const addCertificate = async (file: string, key: PoolKey, isCa: boolean, chain: string[], label: string, form: 'DER' | 'CHAIN' | 'PEM') => {
    if (form === 'DER') {
      const der = file.replace(/\.pem$/, '.der');
      await run(['x509', '-in', at(file), '-outform', 'DER', '-out', at(der)]);
      items.push({ kind: 'certificate', file: der, format: 'DER', label, isCa, keyFile: key.file, count: 1 });
    } else if (form === 'CHAIN') {
      const bundle = file.replace(/\.pem$/, '-chain.pem');
      const texts = await Promise.all([file, ...chain].map((name) => readFile(at(name), 'utf8')));
      await writeFile(at(bundle), texts.join(''));
      items.push({ kind: 'certificate', file: bundle, format: 'PEM', label, isCa, keyFile: key.file, count: texts.length });
    } else {
      items.push({ kind: 'certificate', file, format: 'PEM', label, isCa, keyFile: key.file, count: 1 });
    }
  };

  // Chains: a root, one to four intermediates, and leaves at the bottom.
  const leaves: Array<{ file: string; key: PoolKey; chain: string[] }> = [];
  const authorities: Array<{ file: string; key: PoolKey }> = [];
  const chains = 5;
  for (let c = 0; c < chains; c++) {
    const rootKey = drawKey();
    const root = await makeCertificate(`root${c}`, rootKey, null, true);
    authorities.push({ file: root, key: rootKey });
    await addCertificate(root, rootKey, true, [], `root${c}`, drawForm(false));
    let issuer = { certificate: root, key: rootKey };
    // The issuers of the next certificate, nearest first.
    let issuers: string[] = [root];
    const depth = rng.int(1, 4);
    for (let d = 0; d < depth; d++) {
      const key = drawKey();
      const intermediate = await makeCertificate(`ica${c}-${d}`, key, issuer, true);
      authorities.push({ file: intermediate, key });
      await addCertificate(intermediate, key, true, issuers, `ica${c}-${d}`, drawForm(true));
      issuers = [intermediate, ...issuers];
      issuer = { certificate: intermediate, key };
    }
    const chain = issuers;
    const made = Array.from({ length: rng.int(3, 6) }, (_, l) => {
      const key = drawKey();
      const label = `leaf${c}-${l}`;
      const certificate = makeCertificate(label, key, issuer, false);
      return { key, label, certificate, form: drawForm(true) };
    });
    for (const leaf of made) {
      const file = await leaf.certificate;
      leaves.push({ file, key: leaf.key, chain });
      await addCertificate(file, leaf.key, false, chain, leaf.label, leaf.form);
    }
  }
  // Self-signed ones, one for every pool key so that each key has a certificate to be imported with.
  const certificateOf = new Map<string, string>();
  for (const leaf of leaves) certificateOf.set(leaf.key.file, leaf.file);
  const selfSigned = pool.map((key, i) => ({ key, label: `self${i}`, certificate: makeCertificate(`self${i}`, key, null, rng.chance(0.2)), form: drawForm(false) }));
  for (const { key, label, certificate, form } of selfSigned) {
    const file = await certificate;
    certificateOf.set(key.file, file);
    // Imported as certificates: what makes a certificate a CA is judged on the chains' CAs.
    await addCertificate(file, key, false, [], label, form);
  }

  // Keys in every shape, each with a certificate of its own to be imported with.
  const keyShapes = (key: PoolKey): KeyShape[] =>
    key.algorithm === 'Ed25519'
      ? ['pkcs8', 'pkcs8-der', 'pkcs8-v2-aes256', 'pkcs8-v2-aes256-der', 'pkcs8-v1-sha1-3des']
      : ['pkcs8', 'pkcs8-der', 'pkcs8-v2-aes256', 'pkcs8-v2-aes256-der', 'pkcs8-v1-sha1-3des', 'traditional', 'traditional-der', 'traditional-aes256', 'traditional-des3'];
  const keyJobs: Array<Promise<void>> = [];
  for (const key of pool) {
    for (const shape of rng.subset(keyShapes(key), 0.45)) {
      const passphrase = /aes|des/.test(shape) ? `${rng.word(10)}${rng.chance(0.3) ? ' with space' : ''}` : null;
      const der = shape.endsWith('-der');
      const file = fresh(`${key.algorithm.toLowerCase()}-${shape}.${der ? 'der' : 'pem'}`);
      const traditionalTool = key.algorithm.startsWith('RSA') ? 'rsa' : 'ec';
      const pass = passphrase ? ['-passout', `pass:${passphrase}`] : [];
      const args: Record<KeyShape, string[]> = {
        pkcs8: ['pkey'],
        'pkcs8-der': ['pkey', '-outform', 'DER'],
        'pkcs8-v2-aes256': ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', ...pass],
        'pkcs8-v2-aes256-der': ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-outform', 'DER', ...pass],
        'pkcs8-v1-sha1-3des': ['pkcs8', '-topk8', '-v1', 'PBE-SHA1-3DES', ...pass],
        traditional: [traditionalTool, ...(traditionalTool === 'rsa' ? ['-traditional'] : [])],
        'traditional-der': [traditionalTool, '-outform', 'DER', ...(traditionalTool === 'rsa' ? ['-traditional'] : [])],
        'traditional-aes256': [traditionalTool, '-aes256', ...(traditionalTool === 'rsa' ? ['-traditional'] : []), ...pass],
        'traditional-des3': [traditionalTool, '-des3', ...(traditionalTool === 'rsa' ? ['-traditional'] : []), ...pass],
      };
      keyJobs.push(
        run([...args[shape], '-in', at(key.file), '-out', at(file)]).then(() => {
          items.push({ kind: 'key', file, format: der ? 'DER' : 'PEM', label: `${key.algorithm} ${shape}`, shape, algorithm: key.algorithm, passphrase, certificateFile: certificateOf.get(key.file)! });
        }),
      );
    }
  }
  await Promise.all(keyJobs);

  // CSRs with requested extensions.
  const csrJobs: Array<Promise<void>> = [];
  const csrCount = Math.max(20, Math.ceil((minimum - items.length) / 3));
  for (let i = 0; i < csrCount; i++) {
    const key = drawKey();
    const subject = drawSubject(rng, `csr${i}`);
    const index = ++counter;
    const extensions = drawExtensions(rng, rng.chance(0.15), index);
    // Requested extensions that name an issuer make no sense in a request, and openssl refuses them.
    extensions.lines = extensions.lines.filter((line) => !line.startsWith('authorityKeyIdentifier'));
    const digest = rng.pick(DIGESTS);
    const stem = `${String(index).padStart(3, '0')}-csr${i}`;
    csrJobs.push(
      (async () => {
        await writeFile(at(`${stem}.cnf`), configFor(subject, extensions).replace('[req]\n', '[req]\nreq_extensions = ext\n'));
        const multi = subject.multivalue ? ['-multivalue-rdn'] : [];
        await run(['req', '-new', '-config', at(`${stem}.cnf`), '-utf8', ...multi, '-key', at(key.file), '-subj', subject.subj, ...digestArgs(key, digest), '-out', at(`${stem}.csr`)]);
        items.push({ kind: 'csr', file: `${stem}.csr`, format: 'PEM', label: `csr${i}`, keyFile: key.file });
      })(),
    );
  }
  await Promise.all(csrJobs);

  // PKCS#12: legacy (RC2/3DES, SHA-1 MAC), 3DES without RC2, and modern (AES-256, PBKDF2, SHA-256 MAC).
  const bundleJobs: Array<Promise<void>> = [];
  const bundleCount = Math.max(24, Math.ceil((minimum - items.length) / 2));
  for (let i = 0; i < bundleCount; i++) {
    const leaf = rng.pick(leaves);
    const flavour = rng.pick(['legacy', 'modern', 'modern', 'sha1-3des'] as const);
    const chainCount = rng.int(0, leaf.chain.length);
    const passphrase = rng.chance(0.15) ? `${rng.word(6)} ${rng.word(6)}` : rng.word(rng.int(4, 24));
    const name = rng.chance(0.5) ? ['-name', rng.pick(['my cert', 'Bücher', 'nas'])] : [];
    const iterations = rng.chance(0.3) ? ['-iter', String(rng.pick([1, 1000, 4096]))] : [];
    const file = fresh(`bundle-${flavour}.p12`);
    const flavourArgs = {
      legacy: ['-legacy'],
      modern: ['-keypbe', 'AES-256-CBC', '-certpbe', 'AES-256-CBC', '-macalg', 'sha256'],
      'sha1-3des': ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'],
    }[flavour];
    bundleJobs.push(
      (async () => {
        const chainFile = `${file}.chain.tmp`;
        const chainTexts = await Promise.all(leaf.chain.slice(0, chainCount).map((name) => readFile(at(name), 'utf8')));
        await writeFile(at(chainFile), chainTexts.join(''));
        const certfile = chainCount ? ['-certfile', at(chainFile)] : [];
        await run(['pkcs12', '-export', '-in', at(leaf.file), '-inkey', at(leaf.key.file), ...certfile, ...name, ...iterations, ...flavourArgs, '-passout', `pass:${passphrase}`, '-out', at(file)]);
        items.push({ kind: 'pkcs12', file, format: 'DER', label: `${flavour} bundle`, passphrase, legacy: flavour === 'legacy', certificateFile: leaf.file, keyFile: leaf.key.file, count: 1 + chainCount });
      })(),
    );
  }
  await Promise.all(bundleJobs);

  // CRLs from `openssl ca -gencrl`, listing some serials with reasons.
  const crlJobs: Array<Promise<void>> = [];
  const crlCount = Math.max(8, minimum - items.length);
  for (let i = 0; i < crlCount; i++) {
    const authority = rng.pick(authorities.filter((ca) => ca.key.algorithm !== 'Ed25519'));
    const revoked = Array.from({ length: rng.int(0, 5) }, () => ({ serial: rng.hex(rng.pick([1, 8, 16])).toUpperCase().replace(/^0*(?=..)/, ''), reason: rng.pick(CRL_REASONS) }));
    const unique = revoked.filter((entry, n) => revoked.findIndex((other) => other.serial === entry.serial) === n);
    const asDer = rng.chance(0.4);
    const digest = rng.pick(DIGESTS.filter((d) => d !== 'sha1'));
    const withNumber = rng.chance(0.7);
    const stem = `${String(++counter).padStart(3, '0')}-crl${i}`;
    const crlNumber = rng.hex(2);
    crlJobs.push(
      (async () => {
        // openssl ca wants an even number of hex digits in its index.
        const even = (hex: string) => (hex.length % 2 ? `0${hex}` : hex);
        const index = unique.map((entry) => `R\t491231235959Z\t240101000000Z,${entry.reason}\t${even(entry.serial)}\tunknown\t/CN=revoked ${entry.serial}\n`).join('');
        await writeFile(at(`${stem}.index`), index);
        if (withNumber) await writeFile(at(`${stem}.number`), `${crlNumber}\n`);
        const config = [
          '[ca]', 'default_ca = own', '[own]', `database = ${at(`${stem}.index`)}`, ...(withNumber ? [`crlnumber = ${at(`${stem}.number`)}`] : []),
          `default_md = ${digest}`, 'default_crl_days = 30', 'crl_extensions = crl_ext', '[crl_ext]', 'authorityKeyIdentifier = keyid:always',
        ].join('\n');
        await writeFile(at(`${stem}.cnf`), `${config}\n`);
        const pem = `${stem}.crl.pem`;
        await run(['ca', '-gencrl', '-config', at(`${stem}.cnf`), '-cert', at(authority.file), '-keyfile', at(authority.key.file), '-out', at(pem)]);
        let file = pem;
        if (asDer) {
          file = `${stem}.crl`;
          await run(['crl', '-in', at(pem), '-outform', 'DER', '-out', at(file)]);
        }
        items.push({ kind: 'crl', file, format: asDer ? 'DER' : 'PEM', label: `crl${i}`, issuerFile: authority.file, revoked: unique.map((entry) => ({ serial: even(entry.serial), reason: entry.reason })) });
      })(),
    );
  }
  await Promise.all(crlJobs);

  // Parallel work finishes in any order; the manifest lists files by name so it is the same every time.
  items.sort((a, b) => a.file.localeCompare(b.file));
  const corpus: Corpus = { seed, dir, items };
  await writeFile(at('manifest.json'), `${JSON.stringify(corpus, null, 2)}\n`);
  return corpus;
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seed = Number(argument('--seed') ?? 1);
  const dir = path.resolve(argument('--out') ?? 'corpus');
  const started = Date.now();
  const corpus = await generateCorpus({ seed, dir });
  console.log(`${corpus.items.length} files in ${dir} (seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
