import type { PluginDefinition } from '../src/api/define-plugin.js';
import { corePlugin } from '../src/core/index.js';
import { webPlugin } from '../src/web/plugin.js';
import { acmeDnsAuthenticatorPlugin } from './acme-dns-authenticator/index.js';
import { acmeRegistrationPlugin } from './acme-registration/index.js';
import { alertPlugin } from './alert/index.js';
import { alertClassesPlugin } from './alertclasses/index.js';
import { alertServicePlugin } from './alertservice/index.js';
import { apiKeyPlugin } from './api-key/index.js';
import { auditPlugin } from './audit/index.js';
import { authPlugin } from './auth/index.js';
import { certificatePlugin } from './certificate/index.js';
import { certificateAuthorityPlugin } from './certificateauthority/index.js';
import { certificateDeployTargetPlugin } from './certificate-deploy-target/index.js';
import { configPlugin } from './config/index.js';
import { groupPlugin } from './group/index.js';
import { mailPlugin } from './mail/index.js';
import { privilegePlugin } from './privilege/index.js';
import { systemGeneralPlugin } from './system-general/index.js';
import { webuiCryptoPlugin } from './webui-crypto/index.js';
import { userPlugin } from './user/index.js';

/** Every plugin of the product, in load order. Listed by hand: nothing is discovered by scanning. */
export const PLUGINS: readonly PluginDefinition[] = [
  corePlugin,
  authPlugin,
  userPlugin,
  groupPlugin,
  privilegePlugin,
  apiKeyPlugin,
  certificatePlugin,
  certificateAuthorityPlugin,
  systemGeneralPlugin,
  certificateDeployTargetPlugin,
  webuiCryptoPlugin,
  acmeDnsAuthenticatorPlugin,
  acmeRegistrationPlugin,
  configPlugin,
  auditPlugin,
  alertPlugin,
  alertClassesPlugin,
  mailPlugin,
  alertServicePlugin,
  webPlugin,
];
