/** A table a backup holds. */
export interface BackupTable {
  name: string;
  /** Columns sealed with the master key; a restore re-seals them under the daemon's own key. */
  sealed: readonly string[];
  /** The API namespace whose `<ns>.query` events announce its rows; null when it has none. */
  namespace: string | null;
}

/**
 * Everything a backup holds, parents before children (the order rows are inserted in; deleted in
 * reverse). Left out on purpose: `auth_token` (short-lived logins of sessions that will not
 * survive anyway), job records (history of one deployment, with arguments that may hold
 * secrets), alerts waiting to be sent (`alert_outbox`), the audit log (a record of what happened
 * here, restores included: a restore must not rewind it), `deploy_link` (one-time fetch links that
 * expire within hours), and TypeORM's `migrations` table (the manifest names the schema instead).
 */
export const BACKUP_TABLES: readonly BackupTable[] = [
  { name: 'group', sealed: [], namespace: 'group' },
  { name: 'user', sealed: [], namespace: 'user' },
  { name: 'group_membership', sealed: [], namespace: null },
  { name: 'privilege', sealed: [], namespace: 'privilege' },
  { name: 'api_key', sealed: [], namespace: 'api_key' },
  { name: 'acme_registration', sealed: ['account_key'], namespace: 'acme.registration' },
  { name: 'acme_dns_authenticator', sealed: ['attributes'], namespace: 'acme.dns.authenticator' },
  { name: 'certificate_authority', sealed: ['privatekey'], namespace: 'certificateauthority' },
  { name: 'certificate', sealed: ['privatekey', 'domains_authenticators'], namespace: 'certificate' },
  { name: 'deploy_target', sealed: ['attributes'], namespace: 'certificate.deploy_target' },
  { name: 'certificate_version', sealed: ['privatekey'], namespace: null },
  { name: 'setting', sealed: [], namespace: null },
  { name: 'alert_service', sealed: ['attributes'], namespace: 'alertservice' },
  { name: 'mail_config', sealed: ['pass', 'oauth'], namespace: null },
];

/**
 * Settings that describe the daemon rather than the data: the restored database keeps the
 * daemon's own (`public_url` is where this daemon is reached, recorded for its workers).
 */
export const LOCAL_SETTINGS: ReadonlySet<string> = new Set(['public_url', 'ui_https_presented']);
