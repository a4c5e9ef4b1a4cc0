/**
 * Roles as TrueNAS names them. A `_WRITE` role includes its `_READ` role, READONLY_ADMIN holds every
 * `_READ` role and FULL_ADMIN may call everything.
 */
export const ROLES = [
  'FULL_ADMIN',
  'READONLY_ADMIN',
  'CERTIFICATE_READ',
  'CERTIFICATE_WRITE',
  'CERTIFICATE_AUTHORITY_READ',
  'CERTIFICATE_AUTHORITY_WRITE',
  'ACME_READ',
  'ACME_WRITE',
  // TrueNAS guards acme.dns.authenticator.* with the network-interface roles; kept for compatibility.
  'NETWORK_INTERFACE_READ',
  'NETWORK_INTERFACE_WRITE',
  'ACCOUNT_READ',
  'ACCOUNT_WRITE',
  'API_KEY_READ',
  'API_KEY_WRITE',
  // privilege.*: which groups hold which roles (TrueNAS's PRIVILEGE role prefix).
  'PRIVILEGE_READ',
  'PRIVILEGE_WRITE',
  // system.general: the daemon's own web UI settings (its HTTPS certificate, port, redirect).
  'SYSTEM_GENERAL_READ',
  'SYSTEM_GENERAL_WRITE',
  // audit.*: reading the audit log, and changing its retention.
  'SYSTEM_AUDIT_READ',
  'SYSTEM_AUDIT_WRITE',
  // alert.*: the alerts in force; alertclasses.* (and alert channels): how they are raised and sent.
  'ALERT_LIST_READ',
  'ALERT_LIST_WRITE',
  'ALERT_READ',
  'ALERT_WRITE',
] as const;

export type Role = (typeof ROLES)[number];

const READ_ROLES = ROLES.filter((role) => role.endsWith('_READ'));

/** Every role a set of granted roles amounts to. */
export function expandRoles(granted: Iterable<string>): Set<Role> {
  const result = new Set<Role>();
  for (const role of granted) {
    if (!isRole(role)) continue;
    result.add(role);
    if (role === 'FULL_ADMIN') ROLES.forEach((r) => result.add(r));
    if (role === 'READONLY_ADMIN') READ_ROLES.forEach((r) => result.add(r));
    if (role.endsWith('_WRITE')) result.add(role.replace(/_WRITE$/, '_READ') as Role);
  }
  return result;
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** True when the caller's (expanded) roles satisfy a method or event that needs any of `required`. */
export function hasAnyRole(callerRoles: ReadonlySet<Role>, required: readonly Role[]): boolean {
  if (callerRoles.has('FULL_ADMIN')) return true;
  if (required.length === 0) return true;
  return required.some((role) => callerRoles.has(role));
}
