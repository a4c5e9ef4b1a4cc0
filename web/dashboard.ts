/**
 * The Certificates dashboard: four cards (Certificates, CSRs, Certificate Authorities, ACME DNS
 * Authenticators) with their columns, row actions and empty states, redrawn on every store change.
 */
import { acmeCertificateForm, authenticatorForm } from './acme.js';
import {
  deleteAuthenticator,
  deleteAuthority,
  deleteCertificate,
  editAuthority,
  editCertificate,
  exportEntry,
  revokeAuthority,
  revokeCertificate,
  signCsr,
  viewEntry,
} from './actions.js';
import type { Connection } from './connection.js';
import { h, icon, iconButton, type Child, type IconName } from './dom.js';
import { inform } from './dialogs.js';
import { describe } from './errors.js';
import { day, expiry, issuerName, keyText, sanText, type CertEntry } from './format.js';
import type { Authenticator, ListState, Namespace, Store } from './store.js';
import { addAuthority, addCertificate, addCsr } from './wizards.js';

interface Column<T> {
  title: string;
  cell: (row: T) => Child;
}

interface Action {
  icon: IconName;
  label: string;
  run: () => unknown;
}

interface Card<T extends { id: number; name: string }> {
  key: string;
  title: string;
  /** One row, for the Add button's name: "Add Certificate Authority". */
  singular: string;
  namespace: Namespace;
  rows: () => T[];
  columns: Column<T>[];
  actions: (row: T) => Action[];
  add: Array<{ label: string; run: () => unknown }>;
  empty: { title: string; text: string };
}

/** A two-line cell: the main value and a muted second line. */
const lines = (first: Child, second?: Child) => h('div', { class: 'cell' }, h('div', { class: 'first' }, first), second ? h('div', { class: 'second' }, second) : null);

/** How long it has left, then "from … until …" (each half kept whole, so a narrow cell wraps between them). */
function validity(entry: CertEntry): Child {
  const { text, tone } = expiry(entry);
  const date = (label: string, value: string | null | undefined) => (value ? h('span', { class: 'date' }, `${label} ${day(value)}`) : null);
  return lines(h('span', { class: `pill ${tone}` }, text), entry.not_after ? [date('from', entry.not_before), ' ', date('until', entry.not_after)] : null);
}

/** The common name, and the alternative names when they say more than it. */
function subject(entry: CertEntry): Child {
  const names = sanText(entry.san);
  return entry.common ? lines(entry.common, names !== entry.common ? names : null) : lines(names || '—');
}

/** The ACME server an ACME certificate came from (TrueNAS calls its issuer "external"). */
function acmeHost(entry: CertEntry): string {
  const directory = (entry.acme as { directory?: string } | null)?.directory ?? '';
  return URL.canParse(directory) ? new URL(directory).host : 'external';
}

/** Opens a form, reporting a failure to prepare it (choices not loaded, connection gone). */
const opening = (open: () => Promise<void> | void) => async () => {
  try {
    await open();
  } catch (error) {
    await inform('Cannot open the form', describe(error));
  }
};

/** A card's table, or its loading, error or empty state. */
function content<T extends { id: number; name: string }>(card: Card<T>, state: ListState, rows: T[], flash: ReadonlySet<number>, store: Store): Child {
  if (state.status === 'loading') return h('p', { class: 'empty' }, 'Loading…');
  if (state.status === 'error') {
    return h(
      'div',
      { class: 'empty' },
      h('p', { class: 'empty-title' }, 'Cannot retrieve the list'),
      h('p', null, state.message),
      h('button', { type: 'button', class: 'button secondary small', onclick: () => void store.reload(card.namespace) }, 'Try again'),
    );
  }
  if (rows.length === 0) return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, card.empty.title), h('p', null, card.empty.text));
  return h(
    'table',
    null,
    h(
      'thead',
      null,
      h('tr', null, card.columns.map((column) => h('th', { scope: 'col' }, column.title)), h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions'))),
    ),
    h(
      'tbody',
      null,
      rows.map((row) =>
        h(
          'tr',
          { 'data-id': row.id, 'data-name': row.name, class: flash.has(row.id) ? 'flash' : null },
          card.columns.map((column) => h('td', { 'data-label': column.title }, column.cell(row))),
          h('td', { class: 'actions' }, card.actions(row).map((action) => iconButton(action.icon, action.label, () => void action.run(), { 'data-key': `${card.key}:${row.id}:${action.icon}` }))),
        ),
      ),
    ),
  );
}

/**
 * Focuses the button with `key` ("card:row id:action" or "card:Add"), or when its row is gone the
 * same action of the next row (the previous one at the end), else the card's heading.
 */
function refocus(root: HTMLElement, key: string): void {
  const found = root.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`);
  if (found) return found.focus();
  const [cardKey = '', id, action] = key.split(':');
  const selector = `[data-card="${CSS.escape(cardKey)}"]`;
  const slot = root.matches(selector) ? root : root.querySelector<HTMLElement>(selector);
  if (!slot) return;
  const rows = [...slot.querySelectorAll<HTMLElement>('tbody tr')];
  const row = rows.find((tr) => Number(tr.dataset.id) > Number(id)) ?? rows.at(-1);
  const target = row?.querySelector<HTMLElement>(`[data-key$=":${action}"]`) ?? row?.querySelector<HTMLElement>('button') ?? slot.querySelector<HTMLElement>('h2');
  target?.focus();
}

/** Whether keyboard focus has nowhere to be: on the body, or on a button a redraw removed. */
const focusLost = () => !document.activeElement || document.activeElement === document.body || !document.activeElement.isConnected;

/** A card's section, and how to redraw it (highlighting the rows in `flash`). */
function mount<T extends { id: number; name: string }>(card: Card<T>, store: Store) {
  const slot = h('section', { class: 'card', 'aria-labelledby': `${card.key}-title`, 'data-card': card.key });
  const render = (flash: ReadonlySet<number>) => {
    // Keep keyboard focus on the same button across a redraw (or on its neighbour if it went).
    const focused = slot.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.key : undefined;
    const state = store.state(card.namespace);
    const rows = state.status === 'ready' ? card.rows() : [];
    const header = h(
      'header',
      { class: 'card-header' },
      h('h2', { id: `${card.key}-title`, tabIndex: -1 }, card.title, state.status === 'ready' ? h('span', { class: 'count', 'aria-label': `${rows.length} items` }, String(rows.length)) : null),
      h(
        'div',
        { class: 'card-tools' },
        card.add.map(({ label, run }) =>
          h(
            'button',
            { type: 'button', class: `button ${label === 'Add' ? 'primary' : 'secondary'} small`, onclick: run, 'aria-label': `${label} ${card.singular}`, 'data-key': `${card.key}:${label}` },
            icon(label === 'Add' ? 'add' : 'upload'),
            label,
          ),
        ),
      ),
    );
    slot.replaceChildren(header, h('div', { class: 'card-body' }, content(card, state, rows, flash, store)));
    if (focused && focusLost()) refocus(slot, focused);
  };
  render(new Set());
  return { slot, namespace: card.namespace, render };
}

export function dashboard(conn: Connection, store: Store): HTMLElement {
  const writeCert = conn.can('CERTIFICATE_WRITE');
  const writeCa = conn.can('CERTIFICATE_AUTHORITY_WRITE');
  const writeDns = conn.can('NETWORK_INTERFACE_WRITE', 'ACME_WRITE');
  const csrs = () => store.certificates.filter((entry) => entry.cert_type_CSR);
  const when = <T>(allowed: boolean, ...items: T[]) => (allowed ? items : []);

  const certificates: Card<CertEntry> = {
    key: 'certificates',
    singular: 'Certificate',
    title: 'Certificates',
    namespace: 'certificate',
    rows: () => store.certificates.filter((entry) => entry.certificate !== null),
    columns: [
      { title: 'Name', cell: (entry) => lines(entry.name, `Issuer: ${entry.acme ? `ACME · ${acmeHost(entry)}` : issuerName(entry)}`) },
      { title: 'Subject', cell: subject },
      { title: 'Expires', cell: validity },
    ],
    actions: (entry) => [
      { icon: 'view', label: `View ${entry.name}`, run: () => viewEntry(entry, 'certificate') },
      { icon: 'download', label: `Download ${entry.name}`, run: () => exportEntry(conn, entry, 'certificate') },
      ...when<Action>(
        writeCert,
        { icon: 'edit', label: `Edit ${entry.name}`, run: () => editCertificate(conn, entry) },
        ...when<Action>(entry.can_be_revoked, { icon: 'revoke', label: `Revoke ${entry.name}`, run: () => revokeCertificate(conn, entry) }),
        { icon: 'delete', label: `Delete ${entry.name}`, run: () => deleteCertificate(conn, entry) },
      ),
    ],
    add: when(writeCert, { label: 'Import', run: opening(() => addCertificate(conn, store, 'import')) }, { label: 'Add', run: opening(() => addCertificate(conn, store)) }),
    empty: { title: 'No certificates yet', text: 'Issue one from a certificate authority here, or import one you already have.' },
  };

  const requests: Card<CertEntry> = {
    key: 'csrs',
    singular: 'Certificate Signing Request',
    title: 'Certificate Signing Requests',
    namespace: 'certificate',
    rows: csrs,
    columns: [
      { title: 'Name', cell: (entry) => lines(entry.name, entry.privatekey ? 'Key on this system' : 'No key on this system') },
      { title: 'Subject', cell: subject },
      { title: 'Key', cell: (entry) => lines(keyText(entry)) },
    ],
    actions: (entry) => [
      ...when<Action>(writeCert, { icon: 'acme', label: `Create ACME certificate from ${entry.name}`, run: opening(() => acmeCertificateForm(conn, store, entry)) }),
      { icon: 'view', label: `View ${entry.name}`, run: () => viewEntry(entry, 'certificate') },
      { icon: 'download', label: `Download ${entry.name}`, run: () => exportEntry(conn, entry, 'certificate') },
      ...when<Action>(
        writeCert,
        { icon: 'edit', label: `Edit ${entry.name}`, run: () => editCertificate(conn, entry) },
        { icon: 'delete', label: `Delete ${entry.name}`, run: () => deleteCertificate(conn, entry) },
      ),
    ],
    add: when(writeCert, { label: 'Add', run: opening(() => addCsr(conn)) }),
    empty: { title: 'No signing requests yet', text: 'A CSR holds a new key and asks a CA, such as an ACME server, for a certificate.' },
  };

  const authorities: Card<CertEntry> = {
    key: 'cas',
    singular: 'Certificate Authority',
    title: 'Certificate Authorities',
    namespace: 'certificateauthority',
    rows: () => store.authorities,
    columns: [
      { title: 'Name', cell: (entry) => lines(entry.name, `Issuer: ${issuerName(entry)}`) },
      { title: 'Subject', cell: subject },
      { title: 'Expires', cell: validity },
      { title: 'Signed', cell: (entry) => lines(String(entry.signed_certificates ?? 0)) },
    ],
    actions: (entry) => [
      ...when<Action>(writeCa && Boolean(entry.privatekey) && !entry.revoked, { icon: 'sign', label: `Sign a CSR with ${entry.name}`, run: () => signCsr(conn, entry, csrs().filter((csr) => csr.privatekey)) }),
      { icon: 'view', label: `View ${entry.name}`, run: () => viewEntry(entry, 'certificateauthority') },
      { icon: 'download', label: `Download ${entry.name}`, run: () => exportEntry(conn, entry, 'certificateauthority') },
      ...when<Action>(
        writeCa,
        { icon: 'edit', label: `Edit ${entry.name}`, run: () => editAuthority(conn, entry) },
        ...when<Action>(entry.can_be_revoked, { icon: 'revoke', label: `Revoke ${entry.name}`, run: () => revokeAuthority(conn, entry) }),
        { icon: 'delete', label: `Delete ${entry.name}`, run: () => deleteAuthority(conn, entry) },
      ),
    ],
    add: when(writeCa, { label: 'Add', run: opening(() => addAuthority(conn, store)) }),
    empty: { title: 'No certificate authorities yet', text: 'Create a private CA to issue certificates for your own network.' },
  };

  const authenticators: Card<Authenticator> = {
    key: 'authenticators',
    singular: 'DNS Authenticator',
    title: 'ACME DNS-Authenticators',
    namespace: 'acme.dns.authenticator',
    rows: () => store.authenticators,
    columns: [
      { title: 'Name', cell: (entry) => lines(entry.name) },
      { title: 'Authenticator', cell: (entry) => lines(entry.attributes.authenticator) },
    ],
    actions: (entry) =>
      when<Action>(
        writeDns,
        { icon: 'edit', label: `Edit ${entry.name}`, run: opening(() => authenticatorForm(conn, entry)) },
        { icon: 'delete', label: `Delete ${entry.name}`, run: () => deleteAuthenticator(conn, entry) },
      ),
    add: when(writeDns, { label: 'Add', run: opening(() => authenticatorForm(conn)) }),
    empty: { title: 'No DNS authenticators yet', text: 'ACME certificates prove control of a domain through your DNS provider; add its credentials here.' },
  };

  const root = h('main', { class: 'dashboard', id: 'main' });
  const mounted = [mount(certificates, store), mount(requests, store), mount(authorities, store), mount(authenticators, store)];
  root.append(...mounted.map(({ slot }) => slot));
  store.onChange((namespace, ids) => {
    for (const card of mounted) if (card.namespace === namespace) card.render(ids);
  });
  // A dialog gives focus back to its opener when it closes; a redraw meanwhile (the change the
  // dialog made) replaced that button, so focus goes to its replacement, found by its key.
  let opener: string | undefined;
  root.addEventListener('focusin', (event) => (opener = (event.target as HTMLElement).dataset.key ?? opener));
  const onClose = (event: Event) => {
    if (!root.isConnected) return document.removeEventListener('close', onClose, true);
    // Focus that found no opener to return to stays in the closed dialog, about to be removed.
    const stranded = focusLost() || (event.target as Node).contains(document.activeElement);
    if (opener && stranded && !document.querySelector('dialog[open]')) refocus(root, opener);
  };
  document.addEventListener('close', onClose, true);
  return root;
}
