/**
 * The Certificates dashboard: an expiry summary and a filter over four cards (Certificates, CSRs,
 * Certificate Authorities, ACME DNS Authenticators) with their columns, row actions and empty
 * states, redrawn on every store change. A card shows its first rows, then a Show all button.
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
  type EntryLookup,
} from './actions.js';
import type { Connection } from './connection.js';
import { fill, h, icon, iconButton, type Child, type IconName } from './dom.js';
import { inform } from './dialogs.js';
import { describe } from './errors.js';
import { compile, EXPIRED, EXPIRING, expiresWithin, REVOKED, filterFromUrl, filterToUrl, isExpired, type Searchable } from './filter.js';
import { day, expiry, issuerName, keyText, renewalStatus, sanText, SOON_DAYS, usedByText, type CertEntry } from './format.js';
import { applySpotlight, onSpotlight, spotlit } from './spotlight.js';
import type { Authenticator, ListState, Namespace, Store } from './store.js';
import { caHierarchy } from './hierarchy.js';
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
  /** The header's buttons: Add (and Import), or a view of the card's rows (`icon`, `aria` for those). */
  add: Array<{ label: string; run: () => unknown; icon?: IconName; aria?: string }>;
  empty: { title: string; text: string };
  /** What the filter looks at. */
  search: (row: T) => Searchable;
}

/** Rows a card shows before its "Show all" button. */
const CAP = 10;

/** The filter, shared by the cards. */
interface View {
  query: string;
  test: ((row: Searchable) => boolean) | null;
}

/** A two-line cell: the main value and a muted second line. */
const lines = (first: Child, second?: Child) => h('div', { class: 'cell' }, h('div', { class: 'first' }, first), second ? h('div', { class: 'second' }, second) : null);

/** How long it has left, then "from … until …" (each half kept whole, so a narrow cell wraps between them). */
function validity(entry: CertEntry): Child {
  const { text, tone } = expiry(entry);
  const date = (label: string, value: string | null | undefined) => (value ? h('span', { class: 'date' }, `${label} ${day(value)}`) : null);
  return lines(h('span', { class: `pill ${tone}` }, text), entry.not_after ? [date('from', entry.not_before), ' ', date('until', entry.not_after)] : null);
}

/** Under a self-renewing certificate's expiry: when it renews, or that its renewal keeps failing (the error as a tooltip; the details show it in full). */
function withRenewal(entry: CertEntry): Child {
  const status = renewalStatus(entry);
  if (!status) return validity(entry);
  const note = h('div', { class: `renewal-status ${status.tone}`, title: status.error ?? null }, status.text);
  return h('div', null, validity(entry), note);
}

/** The common name, and the alternative names when they say more than it. */
function subject(entry: CertEntry): Child {
  const names = sanText(entry.san);
  return entry.common ? lines(entry.common, names !== entry.common ? names : null) : lines(names || '—');
}

/** "In use by UI Service" under a certificate's name, when something uses it. */
function inUse(entry: CertEntry): Child {
  const users = usedByText(entry);
  return users ? h('span', { class: 'in-use' }, ` · In use by ${users}`) : null;
}

/** The ACME server an ACME certificate came from (TrueNAS calls its issuer "external"). */
function acmeHost(entry: CertEntry): string {
  const directory = (entry.acme as { directory?: string } | null)?.directory ?? '';
  return URL.canParse(directory) ? new URL(directory).host : 'external';
}

/**
 * Certificates to act on first: revoked and expired ones, then the soonest to expire (those
 * without an end date last), then by id.
 */
function byExpiry(a: CertEntry, b: CertEntry): number {
  const dead = (entry: CertEntry) => (entry.revoked || isExpired(entry) ? 0 : 1);
  const end = (entry: CertEntry) => (entry.not_after ? Date.parse(entry.not_after) : NaN) || Number.MAX_SAFE_INTEGER;
  return dead(a) - dead(b) || end(a) - end(b) || a.id - b.id;
}

/** Opens a form, reporting a failure to prepare it (choices not loaded, connection gone). */
const opening = (open: () => Promise<void> | void) => async () => {
  try {
    await open();
  } catch (error) {
    await inform('Cannot open the form', describe(error));
  }
};

/** The order of row actions; every row has a place for each kind its card shows, so icons line up. */
const ACTION_ORDER: readonly IconName[] = ['acme', 'sign', 'view', 'download', 'edit', 'revoke', 'delete'];

/** The kinds of action any of `rows` has, in ACTION_ORDER (others after, as met). */
function actionKinds<T extends { id: number; name: string }>(card: Card<T>, rows: readonly T[]): IconName[] {
  const used = new Set(rows.flatMap((row) => card.actions(row).map((action) => action.icon)));
  return [...ACTION_ORDER.filter((kind) => used.has(kind)), ...[...used].filter((kind) => !ACTION_ORDER.includes(kind))];
}

/** A row's action buttons, with an empty slot for each kind it lacks. */
function slots<T extends { id: number; name: string }>(card: Card<T>, row: T, kinds: readonly IconName[]): Child[] {
  const actions = card.actions(row);
  return kinds.map((kind) => {
    const action = actions.find((candidate) => candidate.icon === kind);
    return action ? iconButton(action.icon, action.label, () => void action.run(), { 'data-key': `${card.key}:${row.id}:${action.icon}` }) : h('span', { class: 'icon-slot', 'aria-hidden': 'true' });
  });
}

/** A card's table (with a "No match" row when the filter leaves none), or its loading, error or empty state. */
function content<T extends { id: number; name: string }>(card: Card<T>, state: ListState, total: number, rows: T[], view: View, flash: ReadonlySet<number>, store: Store): Child {
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
  if (total === 0) return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, card.empty.title), h('p', null, card.empty.text));
  const kinds = actionKinds(card, rows);
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
          h('td', { class: 'actions' }, slots(card, row, kinds)),
        ),
      ),
      rows.length === 0 ? h('tr', { class: 'no-match' }, h('td', { colSpan: card.columns.length + 1 }, `No match for “${view.query.trim()}”`)) : null,
    ),
  );
}

/** A focused button: its key ("card:row id:action", "card:Add", "card:more") and its row's place in the card. */
interface Spot {
  key: string;
  index: number;
}

function spot(element: Element | null): Spot | undefined {
  const key = (element as HTMLElement | null)?.dataset?.key;
  const tr = element?.closest('tr');
  return key ? { key, index: tr ? [...tr.parentElement!.children].indexOf(tr) : -1 } : undefined;
}

/**
 * Focuses the button with the spot's key, or when its row is gone the same action of the row now in
 * its place (the last one when it was at the end), else the card's heading. Rows are found by place,
 * not id: the certificates are in expiry order.
 */
function refocus(root: HTMLElement, { key, index }: Spot): void {
  const found = root.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`);
  if (found) return found.focus();
  const [cardKey = '', , action] = key.split(':');
  const selector = `[data-card="${CSS.escape(cardKey)}"]`;
  const slot = root.matches(selector) ? root : root.querySelector<HTMLElement>(selector);
  if (!slot) return;
  const rows = [...slot.querySelectorAll<HTMLElement>('tbody tr[data-id]')];
  const row = index < 0 ? undefined : (rows[index] ?? rows.at(-1));
  const target = row?.querySelector<HTMLElement>(`[data-key$=":${action}"]`) ?? row?.querySelector<HTMLElement>('button') ?? slot.querySelector<HTMLElement>('h2');
  target?.focus();
}

/** Whether keyboard focus has nowhere to be: on the body, or on a button a redraw removed. */
const focusLost = () => !document.activeElement || document.activeElement === document.body || !document.activeElement.isConnected;

/** A card's section, and how to redraw it (highlighting the rows in `flash`). */
function mount<T extends { id: number; name: string }>(card: Card<T>, store: Store, view: View) {
  const slot = h('section', { class: 'card', 'aria-labelledby': `${card.key}-title`, 'data-card': card.key });
  let expanded = false;
  const render = (flash: ReadonlySet<number> = new Set()) => {
    // Keep keyboard focus on the same button across a redraw (or on its neighbour if it went).
    const focused = slot.contains(document.activeElement) ? spot(document.activeElement) : undefined;
    const state = store.state(card.namespace);
    const all = state.status === 'ready' ? card.rows() : [];
    const { test } = view;
    const rows = test ? all.filter((row) => test(card.search(row))) : all;
    const count = test ? `${rows.length} of ${all.length}` : String(all.length);
    const more =
      rows.length > CAP
        ? h(
            'div',
            { class: 'card-footer' },
            h(
              'button',
              {
                type: 'button',
                class: 'button secondary small',
                'aria-label': expanded ? `Show fewer ${card.title}` : `Show all ${rows.length} ${card.title}`,
                'data-key': `${card.key}:more`,
                onclick: () => {
                  expanded = !expanded;
                  render();
                },
              },
              expanded ? 'Show fewer' : `Show all ${rows.length}`,
            ),
          )
        : null;
    const header = h(
      'header',
      { class: 'card-header' },
      h('h2', { id: `${card.key}-title`, tabIndex: -1 }, card.title, state.status === 'ready' ? h('span', { class: 'count', 'aria-label': `${count} items` }, count) : null),
      h(
        'div',
        { class: 'card-tools' },
        card.add.map(({ label, run, icon: name, aria }) =>
          h(
            'button',
            { type: 'button', class: `button ${label === 'Add' ? 'primary' : 'secondary'} small`, onclick: run, 'aria-label': aria ?? `${label} ${card.singular}`, 'data-key': `${card.key}:${label}` },
            icon(name ?? (label === 'Add' ? 'add' : 'upload')),
            label,
          ),
        ),
      ),
    );
    // A row just created is shown even when it sorts past the cap.
    if (!expanded && rows.slice(CAP).some((row) => spotlit(card.key, row.id))) expanded = true;
    const shown = expanded ? rows : rows.slice(0, CAP);
    slot.replaceChildren(header, h('div', { class: 'card-body' }, content(card, state, all.length, shown, view, flash, store), more));
    applySpotlight(slot);
    if (focused && focusLost()) refocus(slot, focused);
  };
  render();
  return { slot, namespace: card.namespace, render };
}

export function dashboard(conn: Connection, store: Store): HTMLElement {
  const writeCert = conn.can('CERTIFICATE_WRITE');
  const writeCa = conn.can('CERTIFICATE_AUTHORITY_WRITE');
  const writeDns = conn.can('NETWORK_INTERFACE_WRITE', 'ACME_WRITE');
  const csrs = () => store.certificates.filter((entry) => entry.cert_type_CSR);
  const when = <T>(allowed: boolean, ...items: T[]) => (allowed ? items : []);
  /** The current entry behind a link in another's details. */
  const lookup: EntryLookup = (kind, id) => (kind === 'certificate' ? store.certificates : store.authorities).find((entry) => entry.id === id);
  /** A certificate or CA is found by its names, subject, issuer and (ACME) DNS authenticators. */
  const found = (entry: CertEntry, ...more: string[]): Searchable => ({
    entry,
    text: [entry.name, entry.common, entry.DN, ...(entry.san ?? []), issuerName(entry), ...more],
  });
  const authenticatorNames = (entry: CertEntry) =>
    Object.values(entry.domains_authenticators ?? {}).map((id) => store.authenticators.find((authenticator) => authenticator.id === id)?.name ?? '');

  const certificates: Card<CertEntry> = {
    key: 'certificates',
    singular: 'Certificate',
    title: 'Certificates',
    namespace: 'certificate',
    rows: () => store.certificates.filter((entry) => entry.certificate !== null).sort(byExpiry),
    columns: [
      { title: 'Name', cell: (entry) => lines(entry.name, [`Issuer: ${entry.acme ? `ACME · ${acmeHost(entry)}` : issuerName(entry)}`, inUse(entry)]) },
      { title: 'Subject', cell: subject },
      { title: 'Expires', cell: withRenewal },
    ],
    actions: (entry) => [
      { icon: 'view', label: `View ${entry.name}`, run: () => viewEntry(entry, 'certificate', { conn, lookup }) },
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
    search: (entry) => found(entry, entry.acme ? `ACME ${acmeHost(entry)}` : '', ...authenticatorNames(entry), usedByText(entry)),
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
      { icon: 'view', label: `View ${entry.name}`, run: () => viewEntry(entry, 'certificate', { conn, lookup }) },
      { icon: 'download', label: `Download ${entry.name}`, run: () => exportEntry(conn, entry, 'certificate') },
      ...when<Action>(
        writeCert,
        { icon: 'edit', label: `Edit ${entry.name}`, run: () => editCertificate(conn, entry) },
        { icon: 'delete', label: `Delete ${entry.name}`, run: () => deleteCertificate(conn, entry) },
      ),
    ],
    add: when(writeCert, { label: 'Add', run: opening(() => addCsr(conn)) }),
    empty: { title: 'No signing requests yet', text: 'A CSR holds a new key and asks a CA, such as an ACME server, for a certificate.' },
    search: (entry) => found(entry),
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
      { icon: 'view', label: `View ${entry.name}`, run: () => viewEntry(entry, 'certificateauthority', { conn, lookup }) },
      { icon: 'download', label: `Download ${entry.name}`, run: () => exportEntry(conn, entry, 'certificateauthority') },
      ...when<Action>(
        writeCa,
        { icon: 'edit', label: `Edit ${entry.name}`, run: () => editAuthority(conn, entry) },
        ...when<Action>(entry.can_be_revoked, { icon: 'revoke', label: `Revoke ${entry.name}`, run: () => revokeAuthority(conn, entry) }),
        { icon: 'delete', label: `Delete ${entry.name}`, run: () => deleteAuthority(conn, entry) },
      ),
    ],
    add: [
      { label: 'Hierarchy', icon: 'view', aria: 'CA Hierarchy', run: () => caHierarchy(conn, store.authorities, lookup) },
      ...when(writeCa, { label: 'Add', run: opening(() => addAuthority(conn, store)) }),
    ],
    empty: { title: 'No certificate authorities yet', text: 'Create a private CA to issue certificates for your own network.' },
    search: (entry) => found(entry),
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
    search: (entry) => ({ text: [entry.name, entry.attributes.authenticator] }),
  };

  // The filter starts as the address says (a reload, a shared link) and is kept there as it changes.
  const initial = filterFromUrl();
  const view: View = { query: initial, test: compile(initial) };
  const mounted = [mount(certificates, store, view), mount(requests, store, view), mount(authorities, store, view), mount(authenticators, store, view)];

  const search = h('input', {
    type: 'search',
    id: 'filter',
    class: 'filter-input',
    placeholder: 'Name, subject, SAN, issuer, authenticator…',
    autocomplete: 'off',
    spellcheck: false,
    'aria-describedby': 'filter-hint',
    'aria-keyshortcuts': '/',
    oninput: () => filter(search.value),
    onkeydown: (event: KeyboardEvent) => {
      if (event.key !== 'Escape' || !search.value) return;
      event.preventDefault();
      filter('');
    },
  });
  search.value = initial;
  // Counts of the certificates and CAs to act on; each button filters the cards down to them.
  const summary = h('div', { class: 'summary-line', role: 'group', 'aria-label': 'Expiry summary' });
  const drawSummary = () => {
    const focused = summary.contains(document.activeElement) ? spot(document.activeElement) : undefined;
    summary.hidden = store.state('certificate').status !== 'ready';
    const dated = [...store.certificates.filter((entry) => entry.certificate !== null), ...store.authorities];
    const button = (token: string, count: number, text: string, tone: string) =>
      h(
        'button',
        { type: 'button', class: `pill ${count ? tone : 'muted'}`, 'aria-pressed': String(view.query.trim() === token), 'data-key': `summary:${token}`, onclick: () => filter(view.query.trim() === token ? '' : token) },
        h('strong', null, String(count)),
        ` ${text}`,
      );
    fill(
      summary,
      button(EXPIRING, dated.filter((entry) => expiresWithin(entry, SOON_DAYS)).length, `expiring within ${SOON_DAYS} days`, 'warn'),
      button(EXPIRED, dated.filter(isExpired).length, 'expired', 'bad'),
    );
    if (focused && focusLost()) refocus(summary, focused);
  };
  /** Sets the filter (and the box, when the change came from elsewhere) and redraws. */
  const filter = (query: string) => {
    if (search.value !== query) search.value = query;
    Object.assign(view, { query, test: compile(query) });
    filterToUrl(query);
    for (const card of mounted) card.render();
    drawSummary();
  };
  drawSummary();

  const root = h(
    'main',
    { class: 'dashboard', id: 'main' },
    h(
      'div',
      { class: 'toolbar' },
      summary,
      h(
        'div',
        { class: 'filter' },
        h('label', { for: 'filter' }, 'Filter'),
        search,
        h('p', { class: 'hint', id: 'filter-hint' }, `Also ${EXPIRING}, ${EXPIRED} or ${REVOKED}. Press / to filter, Escape to clear.`),
      ),
    ),
    mounted.map(({ slot }) => slot),
  );
  store.onChange((namespace, ids) => {
    for (const card of mounted) {
      if (card.namespace === namespace) card.render(ids);
      // Certificates are also found by their authenticators' names.
      else if (view.test && namespace === 'acme.dns.authenticator' && card.namespace === 'certificate') card.render();
    }
    if (namespace !== 'acme.dns.authenticator') drawSummary();
  });
  onSpotlight((keys) => mounted.filter((card) => keys.includes(card.slot.dataset.card ?? '')).forEach((card) => card.render()));
  // A dialog gives focus back to its opener when it closes; a redraw meanwhile (the change the
  // dialog made) replaced that button, so focus goes to its replacement, found by its key.
  let opener: Spot | undefined;
  root.addEventListener('focusin', (event) => (opener = spot(event.target as Element) ?? opener));
  // "/" anywhere but in a field or dialog goes to the filter.
  const onKey = (event: KeyboardEvent) => {
    if (!root.isConnected) return document.removeEventListener('keydown', onKey);
    const target = event.target as Element;
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey || target.closest?.('input, textarea, select, [contenteditable], dialog')) return;
    event.preventDefault();
    search.focus();
    search.select();
  };
  document.addEventListener('keydown', onKey);
  const onClose = (event: Event) => {
    if (!root.isConnected) return document.removeEventListener('close', onClose, true);
    // Focus that found no opener to return to stays in the closed dialog, about to be removed.
    const stranded = focusLost() || (event.target as Node).contains(document.activeElement);
    if (opener && stranded && !document.querySelector('dialog[open]')) refocus(root, opener);
  };
  document.addEventListener('close', onClose, true);
  return root;
}
