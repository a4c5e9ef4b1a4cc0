/** What the row buttons do: view, export, edit, delete, revoke, sign a CSR. */
import type { Connection } from './connection.js';
import { h, saveBlob } from './dom.js';
import { button, confirm, inform, modal, runJob, toast } from './dialogs.js';
import { describe } from './errors.js';
import { checkbox, input, NAME_RULE, select, showWhen, type Option } from './fields.js';
import { loadRevocationReasons } from './choices.js';
import { dateTime, extensionLabel, TRUSTED_STORE_HINT, hexSerial, issuerName, plainDn, serialText, keyText, reasonLabel, renewalPolicy, renewalStatus, renewalText, sanText, usedByText, type CertEntry, type PreviousVersion } from './format.js';
import { deploySection } from './deploy.js';
import { formPanel } from './forms.js';
import { spotlight } from './spotlight.js';
import type { Authenticator } from './store.js';

type CertKind = 'certificate' | 'certificateauthority';

const noun = (kind: CertKind, entry: CertEntry) => (kind === 'certificateauthority' ? 'Certificate Authority' : entry.cert_type_CSR ? 'CSR' : 'Certificate');

/** Finds an entry to open from another one's details (what a CA signed). */
export type EntryLookup = (kind: CertKind, id: number) => CertEntry | undefined;

/** A CA's certificates and intermediate CAs, each opening its own details. */
function signedSection(entry: CertEntry, options: ViewOptions): HTMLElement | null {
  const { lookup } = options;
  const signed = entry.signed_entries ?? [];
  if (signed.length === 0) return null;
  return h(
    'section',
    { class: 'signed', 'aria-label': 'Signed by this CA' },
    h('h3', null, 'Signed by this CA'),
    h(
      'ul',
      null,
      signed.map((member) => {
        const kind: CertKind = member.type === 'CA' ? 'certificateauthority' : 'certificate';
        const target = lookup?.(kind, member.id);
        const label = `${member.name} (${member.type === 'CA' ? 'CA' : 'certificate'})`;
        return h('li', null, target ? button(label, () => viewEntry(target, kind, options)) : label);
      }),
    ),
  );
}

/** The versions renewals replaced, and what still holds each (the uses that tell a serial). */
function previousVersionsSection(entry: CertEntry): HTMLElement | null {
  const versions = entry.previous_versions ?? [];
  if (versions.length === 0) return null;
  const holders = (serial: PreviousVersion['serial']) => {
    const hex = hexSerial(serial);
    const names = (entry.used_by ?? []).filter((use) => use.serial && use.serial === hex).map((use) => use.name);
    return names.length ? `Still in use by ${names.join(', ')}` : 'Awaiting its replacement everywhere';
  };
  return h(
    'section',
    { class: 'previous-versions', 'aria-label': 'Previous versions' },
    h('h3', null, 'Previous versions'),
    h(
      'table',
      null,
      h('thead', null, h('tr', null, ['Serial', 'Valid from', 'Valid until', 'Replaced', 'Status'].map((title) => h('th', null, title)))),
      h(
        'tbody',
        null,
        versions.map((version) =>
          h(
            'tr',
            null,
            h('td', null, String(version.serial ?? '—')),
            h('td', null, dateTime(version.from)),
            h('td', null, dateTime(version.until)),
            h('td', null, dateTime(version.replaced_at)),
            h('td', null, version.superseded ? `Superseded ${dateTime(version.superseded_at)}` : holders(version.serial)),
          ),
        ),
      ),
    ),
  );
}

/** A certificate's renewal in its details: the rule, where it stands, and the last failure with its attempts and next try. */
function renewalRows(entry: CertEntry): Array<[string, string | number | null]> {
  const status = renewalStatus(entry);
  const failed = Boolean(entry.renewal_error);
  return [
    ['Renewal', renewalPolicy(entry)],
    ['Renewal status', status && !failed ? status.text : null],
    ['Last renewal error', entry.renewal_error ?? null],
    ['Failed renewal attempts', failed ? (entry.renewal_attempts ?? null) : null],
    ['Next renewal attempt', failed && entry.renewal_next_attempt ? dateTime(entry.renewal_next_attempt) : null],
  ];
}

/** What the details dialog may reach beyond the entry. */
export interface ViewOptions {
  /** The connection, for a certificate's deploy targets. */
  conn?: Connection;
  /** Lets a CA's signed entries open their own details. */
  lookup?: EntryLookup;
}

/** The details of a certificate, CSR or CA, with its PEM to copy; a certificate's with its deploy targets. */
export function viewEntry(entry: CertEntry, kind: CertKind, options: ViewOptions = {}): void {
  const { conn, lookup } = options;
  const surface = modal(entry.name, { subtitle: noun(kind, entry) });
  surface.dialog.classList.add('wide');
  const pem = entry.certificate ?? entry.CSR ?? '';
  const rows: Array<[string, string | number | null | undefined]> = [
    ['Common Name', entry.common],
    ['Subject Alternative Names', sanText(entry.san)],
    ['Distinguished Name', plainDn(entry.DN)],
    ['Issuer', issuerName(entry)],
    ['Issuer DN', entry.issuer_dn],
    ['Valid from', entry.not_before ? dateTime(entry.not_before) : null],
    ['Valid until', entry.not_after ? dateTime(entry.not_after) : null],
    ['Key', keyText(entry)],
    ['Digest Algorithm', entry.digest_algorithm],
    ['Serial', serialText(entry.serial)],
    ...(entry.revoked
      ? ([
          ['Revoked', entry.revoked_date ? dateTime(entry.revoked_date instanceof Date ? entry.revoked_date : entry.revoked_date.$date) : 'Yes'],
          ['Revocation Reason', entry.revoked_reason ? reasonLabel(entry.revoked_reason) : 'Not given'],
        ] as Array<[string, string]>)
      : []),
    ['SHA-256 Fingerprint', entry.fingerprint_sha256],
    ['Used by', usedByText(entry)],
    ...(kind === 'certificate' ? renewalRows(entry) : []),
    ...(kind === 'certificateauthority' ? [['Signed Certificates', entry.signed_certificates] as [string, number | undefined]] : []),
    // "CrlDistributionPoints" reads "CRL Distribution Points".
    ...Object.entries(entry.extensions ?? {}).filter(([name]) => name !== 'SubjectAltName').map(([name, value]): [string, string] => [extensionLabel(name), value]),
  ];
  const text = h('textarea', { class: 'mono', readOnly: true, rows: 10, 'aria-label': entry.cert_type_CSR ? 'CSR (PEM)' : 'Certificate (PEM)' }, pem);
  surface.body.append(
    h('dl', { class: 'details' }, rows.filter(([, value]) => value !== null && value !== undefined && value !== '').map(([label, value]) => [h('dt', null, label), h('dd', null, String(value))])),
    ...[signedSection(entry, options), previousVersionsSection(entry)].filter((section) => section !== null),
    text,
  );
  if (conn && kind === 'certificate' && entry.certificate && !entry.cert_type_CSR && conn.can('CERTIFICATE_READ')) {
    const targets = deploySection(conn, entry);
    surface.body.append(targets.el);
    void surface.closed.then(targets.stop);
  }
  surface.footer.append(
    button('Copy PEM', () => void navigator.clipboard.writeText(pem).then(() => toast('Copied to the clipboard.'), () => (text.select(), toast('Press Ctrl+C to copy.')))),
    h('span', { class: 'spacer' }),
    button('Close', () => surface.close(), 'primary'),
  );
}

interface Exported {
  encoding: 'utf-8' | 'base64';
  filename: string;
  data: string;
}

/** Saves bytes the way a download does. */
function save(file: Exported): void {
  const bytes = file.encoding === 'base64' ? Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0)) : new TextEncoder().encode(file.data);
  saveBlob(new Blob([bytes], { type: 'application/octet-stream' }), file.filename);
}

/** Export in a chosen format (`<ns>.export`), with or without the key, then download. */
export function exportEntry(conn: Connection, entry: CertEntry, kind: CertKind): void {
  const isCsr = entry.cert_type_CSR;
  const formats: Option[] = isCsr
    ? [['PEM', 'PEM (.csr)']]
    : [
        ['PEM', 'PEM (.crt)'],
        ['FULLCHAIN', 'Full chain PEM'],
        ['DER', 'DER (.der)'],
        ['PKCS12', 'PKCS #12 (.p12) with password'],
      ];
  const format = select({ path: 'format', label: 'Format', options: formats, value: 'PEM' });
  const withKey = checkbox({ path: 'include_key', label: 'Include the private key', hint: 'Keep the file safe: anyone holding the key can impersonate the certificate.' });
  const password = input({ path: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password', hint: 'Protects the PKCS #12 file.' });
  const writeRole = kind === 'certificateauthority' ? 'CERTIFICATE_AUTHORITY_WRITE' : 'CERTIFICATE_WRITE';
  showWhen(withKey, () => Boolean(entry.privatekey) && format.value() !== 'DER' && conn.can(writeRole), format);
  showWhen(password, () => format.value() === 'PKCS12', format);
  formPanel({
    title: `Download ${entry.name}`,
    subtitle: noun(kind, entry),
    fields: [format, withKey, password],
    content: [format.el, withKey.el, password.el],
    submitLabel: 'Download',
    done: 'Download started.',
    submit: async () => {
      const request = {
        format: format.value(),
        include_key: !withKey.el.hidden && withKey.value(),
        ...(format.value() === 'PKCS12' ? { password: password.value() } : {}),
      };
      save(await conn.call<Exported>(`${kind}.export`, entry.id, request));
    },
  });
}

/**
 * Rename, trusted store, and renewal: renew days for ACME certificates, and for those signed by a
 * CA here the automatic renewal opt-in and key rule, with the last renewal's status (`certificate.update` is a job).
 */
export function editCertificate(conn: Connection, entry: CertEntry): void {
  const signedHere = entry.auto_renew !== undefined;
  const name = input({ path: 'name', label: 'Name', required: true, validate: NAME_RULE, value: entry.name });
  const trusted = checkbox({ path: 'add_to_trusted_store', label: 'Add To Trusted Store', value: entry.add_to_trusted_store, hint: TRUSTED_STORE_HINT });
  const autoRenew = checkbox({ path: 'auto_renew', label: 'Renew Automatically', value: entry.auto_renew ?? false, hint: 'The same CA signs it again before it expires: same names and extensions, same lifetime.' });
  const renewDays = input({ path: 'renew_days', label: 'Renew Certificate Days Before Expiry', type: 'number', min: 1, max: 30, value: String(entry.renew_days ?? 10), required: true });
  const rotateKey = checkbox({ path: 'rotate_key', label: 'New Key At Each Renewal', value: entry.rotate_key ?? true, hint: 'Off: the renewed certificate keeps the current key.' });
  trusted.el.hidden = entry.cert_type_CSR || entry.revoked;
  autoRenew.el.hidden = !signedHere || entry.revoked;
  rotateKey.el.hidden = !signedHere || entry.revoked;
  showWhen(renewDays, () => Boolean(entry.acme) || (signedHere && !entry.revoked && autoRenew.value()), autoRenew);
  const status = renewalText(entry);
  const renewal = !entry.cert_type_CSR && status ? h('p', { class: entry.renewal_error ? 'hint error-text' : 'hint', 'aria-label': 'Renewal status' }, status) : null;
  // Revocation is part of what certificate.update changes; it asks for a reason and confirmation first.
  const revoke = entry.can_be_revoked && !entry.cert_type_CSR ? button('Revoke…', () => (surface.close(), void revokeCertificate(conn, entry)), 'danger') : null;
  const surface = formPanel({
    title: entry.cert_type_CSR ? 'Edit CSR' : 'Edit Certificate',
    subtitle: entry.name,
    fields: [name, trusted, autoRenew, renewDays, rotateKey],
    content: [name.el, trusted.el, autoRenew.el, renewDays.el, rotateKey.el, renewal],
    extraButtons: revoke,
    submitLabel: 'Save',
    done: 'Saved.',
    submit: () =>
      conn.callJob('certificate.update', [
        entry.id,
        {
          name: name.value(),
          ...(trusted.el.hidden ? {} : { add_to_trusted_store: trusted.value() }),
          ...(autoRenew.el.hidden ? {} : { auto_renew: autoRenew.value(), rotate_key: rotateKey.value() }),
          ...(renewDays.el.hidden ? {} : { renew_days: Number(renewDays.value()) }),
        },
      ]),
  });
}

export function editAuthority(conn: Connection, entry: CertEntry): void {
  const name = input({ path: 'name', label: 'Name', required: true, validate: NAME_RULE, value: entry.name });
  const trusted = checkbox({ path: 'add_to_trusted_store', label: 'Add To Trusted Store', value: entry.add_to_trusted_store, hint: TRUSTED_STORE_HINT });
  trusted.el.hidden = entry.revoked;
  const revoke = entry.can_be_revoked ? button('Revoke…', () => (surface.close(), void revokeAuthority(conn, entry)), 'danger') : null;
  const surface = formPanel({
    title: 'Edit Certificate Authority',
    subtitle: entry.name,
    fields: [name, trusted],
    content: [name.el, trusted.el],
    extraButtons: revoke,
    submitLabel: 'Save',
    done: 'Saved.',
    submit: () => conn.call('certificateauthority.update', entry.id, { name: name.value(), ...(trusted.el.hidden ? {} : { add_to_trusted_store: trusted.value() }) }),
  });
}

export async function deleteCertificate(conn: Connection, entry: CertEntry): Promise<void> {
  // Named up front: the server refuses it anyway (TrueNAS's check_cert_deps).
  if ((entry.used_by ?? []).length > 0) {
    return inform('Certificate In Use', `"${entry.name}" is used by ${usedByText(entry)}. Choose another certificate there before deleting it.`);
  }
  const answer = await confirm({
    title: entry.cert_type_CSR ? 'Delete CSR' : 'Delete Certificate',
    message: `Are you sure you want to delete "${entry.name}"?`,
    action: 'Delete',
    danger: true,
    checkbox: 'Force',
    extra: entry.acme ? h('p', { class: 'hint' }, 'Force deletes it even if revoking it at the ACME server fails.') : null,
  });
  if (!answer) return;
  await runJob(conn, 'Deleting…', 'certificate.delete', [entry.id, answer.checked]).then(
    () => toast(`${entry.cert_type_CSR ? 'CSR' : 'Certificate'} "${entry.name}" deleted.`),
    () => undefined, // shown in the job dialog
  );
}

/**
 * The Reason select of a revoke confirmation: "Unspecified" (no reason sent) and the reasons the
 * server's schema of `method` lists, filled in once they arrive.
 */
function reasonField(conn: Connection, method: string) {
  const field = select({ path: 'revoked_reason', label: 'Reason', options: [], placeholder: 'Unspecified', hint: 'Shown in the certificate revocation list (CRL).' });
  loadRevocationReasons(conn, method).then(
    (reasons) => field.setOptions(reasons.map((reason): Option => [reason, reasonLabel(reason)])),
    () => undefined, // Only "Unspecified" then; the revocation itself still works.
  );
  return field;
}

/** `{revoked: true}` and the chosen reason, if any. */
const revocation = (reason: { value(): string }) => ({ revoked: true, ...(reason.value() ? { revoked_reason: reason.value() } : {}) });

export async function revokeCertificate(conn: Connection, entry: CertEntry): Promise<void> {
  const reason = reasonField(conn, 'certificate.update');
  const answer = await confirm({
    title: 'Revoke Certificate',
    message: `Revoke the certificate "${entry.name}"? This is a one way action and cannot be reversed: it is listed in its CA's revocation list (CRL) from now on.`,
    action: 'Revoke',
    danger: true,
    extra: reason.el,
  });
  if (!answer) return;
  await runJob(conn, 'Revoking Certificate', 'certificate.update', [entry.id, revocation(reason)]).then(
    () => toast(`Certificate "${entry.name}" revoked.`),
    () => undefined,
  );
}

/** A call (not a job) whose failure is shown in a dialog. */
async function callOrInform(title: string, work: () => Promise<unknown>, done: string): Promise<void> {
  try {
    await work();
    toast(done);
  } catch (error) {
    await inform(title, describe(error));
  }
}

export async function revokeAuthority(conn: Connection, entry: CertEntry): Promise<void> {
  const reason = reasonField(conn, 'certificateauthority.update');
  const answer = await confirm({
    title: 'Revoke Certificate Authority',
    message: `Revoke the certificate authority "${entry.name}"? This revokes everything below it too. This is a one way action and cannot be reversed.`,
    action: 'Revoke',
    danger: true,
    extra: reason.el,
  });
  if (answer) await callOrInform('Cannot revoke', () => conn.call('certificateauthority.update', entry.id, revocation(reason)), `Certificate authority "${entry.name}" revoked.`);
}

export async function deleteAuthority(conn: Connection, entry: CertEntry): Promise<void> {
  const signed = entry.signed_entries ?? [];
  if (signed.length > 0 || (entry.signed_certificates ?? 0) > 0) {
    // TrueNAS's words, then which ones.
    const names = signed.map((member) => `${member.name} (${member.type === 'CA' ? 'CA' : 'certificate'})`).join(', ');
    const text = 'This Certificate Authority is being used to sign one or more certificates. It can be deleted only after deleting these certificates.';
    return inform('Error', names ? `${text} Signed by it: ${names}.` : text);
  }
  const answer = await confirm({ title: 'Delete Certificate Authority', message: `Are you sure you want to delete the "${entry.name}" certificate authority?`, action: 'Delete', danger: true });
  if (answer) await callOrInform('Cannot delete', () => conn.call('certificateauthority.delete', entry.id), `Certificate authority "${entry.name}" deleted.`);
}

export async function deleteAuthenticator(conn: Connection, entry: Authenticator): Promise<void> {
  const answer = await confirm({ title: 'Delete DNS Authenticator', message: `Are you sure you want to delete the "${entry.name}" DNS Authenticator?`, action: 'Delete', danger: true });
  if (answer) await callOrInform('Cannot delete', () => conn.call('acme.dns.authenticator.delete', entry.id), `DNS authenticator "${entry.name}" deleted.`);
}

/** Sign CSR: a CA issues a certificate for a CSR on this system (`certificateauthority.ca_sign_csr`). */
export function signCsr(conn: Connection, ca: CertEntry, csrs: readonly CertEntry[]): void {
  const csr = select({
    path: 'csr_cert_id',
    label: 'CSR',
    options: csrs.map((entry): Option => [String(entry.id), entry.name]),
    placeholder: csrs.length ? 'Choose a CSR' : 'No CSRs on this system',
    // With one CSR there is nothing to choose.
    value: csrs.length === 1 ? String(csrs[0]!.id) : undefined,
    required: true,
    hint: 'The certificate signing request to sign with this certificate authority.',
  });
  const name = input({ path: 'name', label: 'Identifier', required: true, validate: NAME_RULE, hint: 'Name of the new certificate.' });
  formPanel({
    title: 'Sign CSR',
    subtitle: `with ${ca.name}`,
    fields: [csr, name],
    content: [csr.el, name.el],
    submitLabel: 'Sign',
    done: 'Certificate request signed.',
    submit: () => conn.call('certificateauthority.ca_sign_csr', { ca_id: ca.id, csr_cert_id: Number(csr.value()), name: name.value() }).then((signed) => spotlight('certificate', signed)),
  });
}
