/**
 * The CA hierarchy: each root CA (and each CA whose issuer is not on this system) with the
 * intermediate CAs and certificates it signed, as a tree; a name opens its details.
 */
import { viewEntry, type EntryLookup, type ViewOptions } from './actions.js';
import type { Connection } from './connection.js';
import { button, modal } from './dialogs.js';
import { h } from './dom.js';
import { issuerName, type CertEntry } from './format.js';

type Signer = { id: number } | null | undefined;

/** What kind of CA it is, and whether it is revoked, in a few words. */
function caNote(ca: CertEntry): string {
  const kind = ca.CA_type_intermediate ? 'intermediate' : ca.CA_type_existing ? `imported, issued by ${issuerName(ca)}` : 'root';
  return ca.revoked ? `${kind}, revoked` : kind;
}

export function caHierarchy(conn: Connection, authorities: readonly CertEntry[], lookup: EntryLookup): void {
  const surface = modal('CA Hierarchy', { subtitle: 'Certificate authorities and what each signed' });
  surface.dialog.classList.add('wide');
  const options: ViewOptions = { conn, lookup };
  const byId = new Map(authorities.map((ca) => [ca.id, ca]));
  const signerOf = (ca: CertEntry) => (ca as CertEntry & { signedby?: Signer }).signedby?.id;
  const roots = authorities.filter((ca) => {
    const parent = signerOf(ca);
    return parent === undefined || parent === ca.id || !byId.has(parent);
  });
  const seen = new Set<number>();
  const node = (ca: CertEntry): HTMLElement => {
    seen.add(ca.id);
    const members = ca.signed_entries ?? [];
    const children = members.flatMap((member) => {
      if (member.type === 'CA') {
        const child = byId.get(member.id);
        return child && !seen.has(child.id) ? [node(child)] : [];
      }
      const cert = lookup('certificate', member.id);
      return [
        h(
          'li',
          { role: 'treeitem', 'data-name': member.name },
          cert ? button(member.name, () => viewEntry(cert, 'certificate', options)) : h('span', null, member.name),
          h('span', { class: 'tree-note' }, cert?.revoked ? ' certificate, revoked' : ' certificate'),
        ),
      ];
    });
    return h(
      'li',
      { role: 'treeitem', 'aria-expanded': children.length ? 'true' : null, 'data-name': ca.name },
      button(ca.name, () => viewEntry(ca, 'certificateauthority', options)),
      h('span', { class: 'tree-note' }, ` ${caNote(ca)}`),
      children.length ? h('ul', { role: 'group' }, children) : null,
    );
  };
  const tree = roots.map(node);
  // A loop of signers (only a crafted database has one) would leave CAs out: list them at the top.
  for (const ca of authorities) if (!seen.has(ca.id)) tree.push(node(ca));
  surface.body.append(
    authorities.length
      ? h('ul', { class: 'ca-tree', role: 'tree', 'aria-label': 'CA hierarchy' }, tree)
      : h('p', { class: 'hint' }, 'No certificate authorities yet.'),
  );
  surface.footer.append(h('span', { class: 'spacer' }), button('Close', () => surface.close(), 'primary'));
}
