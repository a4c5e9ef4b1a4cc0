import { UsersAndCredentials1764000000000 } from './1764000000000-users-and-credentials.js';
import { Certificates1764100000000 } from './1764100000000-certificates.js';
import { Acme1764200000000 } from './1764200000000-acme.js';
import { AcmeRegistrationCaBundle1764300000000 } from './1764300000000-acme-registration-ca-bundle.js';
import { AuthTokenSession1764450000000 } from './1764450000000-auth-token-session.js';
import { AuthTokenOriginText1764460000000 } from './1764460000000-auth-token-origin-text.js';
import { Jobs1764500000000 } from './1764500000000-jobs.js';
import { Audit1765100000000 } from './1765100000000-audit.js';
import { Alerts1765200000000 } from './1765200000000-alerts.js';
import { DeployTargets1765300000000 } from './1765300000000-deploy-targets.js';
import { InternalRenewal1765350000000 } from './1765350000000-internal-renewal.js';
import { AlertChannels1765400000000 } from './1765400000000-alert-channels.js';
import { CertificateIndexes1765500000000 } from './1765500000000-certificate-indexes.js';
import { GroupsPrivileges1765600000000 } from './1765600000000-groups-privileges.js';
import { RenewalRetryIndex1765700000000 } from './1765700000000-renewal-retry-index.js';
import { ScaleIndexes1765800000000 } from './1765800000000-scale-indexes.js';
import { SignedCounts1765900000000 } from './1765900000000-signed-counts.js';
import { IssuerDn1766000000000 } from './1766000000000-issuer-dn.js';

/**
 * Every migration, oldest first. Never edit one that has shipped; add a new one. They also bring
 * restored backups from older versions up to date, in a scratch SQLite database
 * (src/backup/restore.ts): a migration that changes data must do so on SQLite too.
 */
export const MIGRATIONS = [
  UsersAndCredentials1764000000000,
  Certificates1764100000000,
  Acme1764200000000,
  AcmeRegistrationCaBundle1764300000000,
  AuthTokenSession1764450000000,
  AuthTokenOriginText1764460000000,
  Jobs1764500000000,
  Audit1765100000000,
  Alerts1765200000000,
  DeployTargets1765300000000,
  InternalRenewal1765350000000,
  AlertChannels1765400000000,
  CertificateIndexes1765500000000,
  GroupsPrivileges1765600000000,
  RenewalRetryIndex1765700000000,
  ScaleIndexes1765800000000,
  SignedCounts1765900000000,
  IssuerDn1766000000000,
];
