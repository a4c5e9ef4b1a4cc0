import type { ProviderDefinition } from '../provider.js';
import { rfc2136 } from '../rfc2136.js';
import { acmeDnsProvider } from './acme-dns.js';
import { cloudflareProvider } from './cloudflare.js';
import { desecProvider } from './desec.js';
import { digitaloceanProvider } from './digitalocean.js';
import { gandiProvider } from './gandi.js';
import { godaddyProvider } from './godaddy.js';
import { hetznerProvider } from './hetzner.js';
import { linodeProvider } from './linode.js';
import { ovhProvider } from './ovh.js';
import { porkbunProvider } from './porkbun.js';
import { powerdnsProvider } from './powerdns.js';
import { route53Provider } from './route53.js';
import { shellProvider } from './shell.js';
import { vultrProvider } from './vultr.js';

/**
 * Every DNS provider, TrueNAS's five first in TrueNAS's order (cloudflare, digitalocean, route53,
 * OVH, shell), then the others. Listed by hand: nothing is discovered by scanning.
 */
export const PROVIDERS: readonly ProviderDefinition[] = [
  cloudflareProvider,
  digitaloceanProvider,
  route53Provider,
  ovhProvider,
  shellProvider,
  rfc2136,
  acmeDnsProvider,
  hetznerProvider,
  gandiProvider,
  desecProvider,
  powerdnsProvider,
  porkbunProvider,
  linodeProvider,
  vultrProvider,
  godaddyProvider,
] as readonly ProviderDefinition[];

/** The provider for an `authenticator` key, or undefined. */
export function providerFor(key: string): ProviderDefinition | undefined {
  return PROVIDERS.find((provider) => provider.key === key);
}
