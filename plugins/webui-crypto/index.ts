import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import { getCertificate } from '../../src/certs/certificate-service.js';
import { CA_PROFILES, CERTIFICATE_PROFILES, CSR_PROFILES } from '../../src/certs/profiles.js';

const Profiles = z.record(z.string(), z.unknown()).describe('Profile name → preset create fields.');

const certificateProfiles = defineMethod({
  name: 'webui.crypto.certificate_profiles',
  description: 'Presets the Add Certificate wizard offers.',
  params: {},
  result: Profiles,
  roles: ['CERTIFICATE_READ'],
  handler: () => CERTIFICATE_PROFILES,
});

const csrProfiles = defineMethod({
  name: 'webui.crypto.csr_profiles',
  description: 'Presets the Add CSR wizard offers.',
  params: {},
  result: Profiles,
  roles: ['CERTIFICATE_READ'],
  handler: () => CSR_PROFILES,
});

const caProfiles = defineMethod({
  name: 'webui.crypto.certificateauthority_profiles',
  description: 'Presets the Add CA wizard offers.',
  params: {},
  result: Profiles,
  roles: ['CERTIFICATE_AUTHORITY_READ'],
  handler: () => CA_PROFILES,
});

const domainNames = defineMethod({
  name: 'webui.crypto.get_certificate_domain_names',
  description: 'The common name and subject alternative names of a certificate or CSR.',
  params: { cert_id: z.number().int().describe('The certificate id.') },
  result: z.array(z.string()),
  roles: ['READONLY_ADMIN', 'CERTIFICATE_READ'],
  handler: async (ctx, { cert_id }) => {
    const entry = await getCertificate(ctx.app, cert_id, false);
    return [...(entry.common ? [entry.common as string] : []), ...((entry.san as string[] | null) ?? [])];
  },
});

/** The web page's helper methods, under TrueNAS 25.04's names. */
export const webuiCryptoPlugin = definePlugin({
  namespace: 'webui.crypto',
  description: 'Helpers for the Certificates screen.',
  dependsOn: ['certificate', 'certificateauthority'],
  methods: [certificateProfiles, csrProfiles, caProfiles, domainNames],
});
