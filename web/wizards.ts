/** The Add Certificate, Add CSR and Add CA wizards, assembled from the shared steps. */
import { loadChoices, type Profile } from './choices.js';
import type { Connection } from './connection.js';
import { runJob } from './dialogs.js';
import type { Option } from './fields.js';
import { wizard } from './forms.js';
import type { ImportInput, ImportPreview } from './import-preview.js';
import { constraintsStep, identifierStep, importStep, optionsStep, subjectStep } from './steps.js';
import { spotlight } from './spotlight.js';
import type { Store } from './store.js';

const CERTIFICATE_TYPES: Option[] = [
  ['CERTIFICATE_CREATE_INTERNAL', 'Internal Certificate'],
  ['CERTIFICATE_CREATE_IMPORTED', 'Import Certificate'],
];
const CSR_TYPES: Option[] = [
  ['CERTIFICATE_CREATE_CSR', 'Certificate Signing Request'],
  ['CERTIFICATE_CREATE_IMPORTED_CSR', 'Import Certificate Signing Request'],
];
const CA_TYPES: Option[] = [
  ['CA_CREATE_INTERNAL', 'Internal CA'],
  ['CA_CREATE_INTERMEDIATE', 'Intermediate CA'],
  ['CA_CREATE_IMPORTED', 'Import CA'],
];

/** CAs that can sign: they hold a private key and are not revoked. */
function signers(store: Store): Option[] {
  return store.authorities.filter((ca) => ca.privatekey && !ca.revoked).map((ca): Option => [String(ca.id), ca.name]);
}

/** The server's reading of an import, before anything is saved. */
const previewer = (conn: Connection) => (input: ImportInput) => conn.call('certificate.import_preview', input) as Promise<ImportPreview>;

/** Certificate job with the progress dialog. */
const createJob = (conn: Connection, title: string) => (payload: Record<string, unknown>) => runJob(conn, title, 'certificate.create', [payload]);

export async function addCertificate(conn: Connection, store: Store, type?: 'import'): Promise<void> {
  const choices = await loadChoices(conn);
  const options = optionsStep({ choices, signedBy: signers(store), lifetime: 397, autoRenew: true });
  const subject = subjectStep({ choices });
  const constraints = constraintsStep({ choices, authorityKeyIdentifier: true });
  const csrs = store.certificates.filter((entry) => entry.cert_type_CSR && entry.privatekey).map((entry): Option => [String(entry.id), entry.name]);
  const imported = importStep({ title: 'Import Certificate', pem: { path: 'certificate', label: 'Certificate', hint: 'PEM, leaf first, then its chain.' }, keyRequired: true, csrs, preview: previewer(conn), bundles: true });
  const identifier = identifierStep({
    types: CERTIFICATE_TYPES,
    imports: ['CERTIFICATE_CREATE_IMPORTED'],
    profiles: choices.certificateProfiles,
    trustedStore: () => true,
    typeHint: 'Internal certificates are issued by a CA on this system; Import brings an existing certificate and its key.',
    onProfile: (profile) => (options.apply(profile), constraints.apply(profile.cert_extensions ?? {})),
  });
  if (type === 'import') identifier.type.set('CERTIFICATE_CREATE_IMPORTED');
  wizard({
    title: type === 'import' ? 'Import Certificate' : 'Add Certificate',
    steps: () => (identifier.type.value() === 'CERTIFICATE_CREATE_IMPORTED' ? [identifier, imported] : [identifier, options, subject, constraints]),
    save: createJob(conn, 'Creating Certificate'),
    done: 'Certificate has been created.',
  });
}

export async function addCsr(conn: Connection): Promise<void> {
  const choices = await loadChoices(conn);
  const options = optionsStep({ choices });
  const subject = subjectStep({ choices });
  const constraints = constraintsStep({ choices, authorityKeyIdentifier: false });
  const imported = importStep({ title: 'Import Certificate Signing Request', pem: { path: 'CSR', label: 'Signing Request', hint: 'The CSR in PEM.' }, keyRequired: true });
  const identifier = identifierStep({
    types: CSR_TYPES,
    imports: ['CERTIFICATE_CREATE_IMPORTED_CSR'],
    profiles: choices.csrProfiles,
    typeHint: 'A CSR asks a CA (an ACME server, or a CA here) to issue a certificate for a new key.',
    // CSR profiles carry a lifetime the CSR schema refuses; the options step has no lifetime field.
    onProfile: (profile: Profile) => (options.apply(profile), constraints.apply(profile.cert_extensions ?? {})),
  });
  wizard({
    title: 'Add CSR',
    steps: () => (identifier.type.value() === 'CERTIFICATE_CREATE_IMPORTED_CSR' ? [identifier, imported] : [identifier, options, subject, constraints]),
    save: createJob(conn, 'Creating CSR'),
    done: 'Certificate signing request created.',
  });
}

/** CAs need these: the wizard starts with them on (the server refuses a CA without them). */
const CA_EXTENSIONS = {
  BasicConstraints: { enabled: true, ca: true, extension_critical: true },
  KeyUsage: { enabled: true, key_cert_sign: true, crl_sign: true, extension_critical: true },
};

export async function addAuthority(conn: Connection, store: Store): Promise<void> {
  const choices = await loadChoices(conn);
  const options = optionsStep({
    choices,
    signedBy: signers(store),
    lifetime: 3650,
    lifetimeHint: 'Days the CA is valid. It must outlive the certificates it signs; ten years is common for a root.',
  });
  const subject = subjectStep({ choices });
  const constraints = constraintsStep({ choices, authorityKeyIdentifier: true, preset: CA_EXTENSIONS });
  const imported = importStep({ title: 'Import CA', pem: { path: 'certificate', label: 'Certificate', hint: 'The CA certificate in PEM.' }, keyRequired: false, preview: previewer(conn) });
  const identifier = identifierStep({
    types: CA_TYPES,
    imports: ['CA_CREATE_IMPORTED'],
    profiles: choices.caProfiles,
    trustedStore: (type) => type !== 'CA_CREATE_INTERMEDIATE',
    typeHint: 'Internal: a root CA for your network. Intermediate: signed by a CA here. Import: an existing CA.',
    onProfile: (profile) => (options.apply(profile), constraints.apply(profile.cert_extensions ?? {})),
  });
  identifier.type.onChange((type) => options.showSignedBy(type === 'CA_CREATE_INTERMEDIATE'));
  options.showSignedBy(false);
  wizard({
    title: 'Add Certificate Authority',
    steps: () => (identifier.type.value() === 'CA_CREATE_IMPORTED' ? [identifier, imported] : [identifier, options, subject, constraints]),
    save: (payload) => conn.call('certificateauthority.create', payload).then((created) => spotlight('certificateauthority', created)),
    done: 'Certificate authority created.',
  });
}
