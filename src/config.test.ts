import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

/**
 * Ports browsers refuse to open (ERR_UNSAFE_PORT): the union of Chromium's kRestrictedPorts
 * (net/base/port_util.cc), Firefox's gBadPortList (netwerk/base/nsIOService.cpp) and the Fetch
 * standard's "bad port" list, which Safari follows.
 */
const BROWSER_RESTRICTED_PORTS = new Set([
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113,
  115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556,
  563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667,
  6668, 6669, 6679, 6697, 10080,
]);

describe('loadConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8470, redisUrl: undefined, databaseUrl: undefined, dnsResolvers: undefined, renewalIntervalSeconds: 86_400 });
    expect(config).toMatchObject({ httpsOnly: false, hstsMaxAgeSeconds: 31_536_000, loginTimeoutSeconds: 30, requestTimeoutSeconds: 10 });
    expect(config).toMatchObject({ anonymousConnectionsPerAddress: 64, connectionsPerAddress: 256 });
  });

  it('listens by default on a port no browser refuses', () => {
    expect(BROWSER_RESTRICTED_PORTS.has(6000)).toBe(true);
    expect(BROWSER_RESTRICTED_PORTS.has(loadConfig({}).port)).toBe(false);
  });

  it('reads HTTPS_ONLY as a boolean and refuses it without HTTPS_PORT', () => {
    expect(loadConfig({ HTTPS_PORT: '8471', HTTPS_ONLY: 'true' }).httpsOnly).toBe(true);
    expect(loadConfig({ HTTPS_PORT: '8471', HTTPS_ONLY: '0' }).httpsOnly).toBe(false);
    expect(() => loadConfig({ HTTPS_ONLY: 'true' })).toThrow('HTTPS_ONLY: HTTPS_ONLY needs HTTPS_PORT');
    expect(() => loadConfig({ HTTPS_PORT: '8471', HTTPS_ONLY: 'yes please' })).toThrow(/HTTPS_ONLY: /);
  });

  it('refuses more anonymous connections per address than connections per address', () => {
    expect(() => loadConfig({ ANONYMOUS_CONNECTIONS_PER_ADDRESS: '300', CONNECTIONS_PER_ADDRESS: '200' })).toThrow(
      'ANONYMOUS_CONNECTIONS_PER_ADDRESS: ANONYMOUS_CONNECTIONS_PER_ADDRESS may not exceed CONNECTIONS_PER_ADDRESS',
    );
    expect(() => loadConfig({ LOGIN_TIMEOUT_SECONDS: '0' })).toThrow(/LOGIN_TIMEOUT_SECONDS: /);
  });

  it('reads DNS_RESOLVERS as addresses with optional ports', () => {
    const config = loadConfig({ DNS_RESOLVERS: '10.0.0.53, 192.0.2.1:5353,2001:db8::53,[2001:db8::54]:53' });
    expect(config.dnsResolvers).toEqual(['10.0.0.53', '192.0.2.1:5353', '2001:db8::53', '[2001:db8::54]:53']);
  });

  it.each(['ns1.example.com', '10.0.0.1:99999', '[10.0.0.1]:53', ' , '])('refuses DNS_RESOLVERS=%j with a clear message', (value) => {
    expect(() => loadConfig({ DNS_RESOLVERS: value })).toThrow('DNS_RESOLVERS: DNS_RESOLVERS must list IP addresses, each with an optional port');
  });

  it('puts certificate files in DATA_DIR/certificates and the trusted store inside, unless told otherwise', () => {
    expect(loadConfig({ DATA_DIR: '/var/lib/certmid' })).toMatchObject({
      certificatesDir: '/var/lib/certmid/certificates',
      certificatesWrite: true,
      trustedStoreDir: '/var/lib/certmid/certificates/trusted-store',
      trustedStoreUpdateCommand: null,
      trustedStoreUpdateTimeoutSeconds: 60,
    });
    const custom = loadConfig({ CERTIFICATES_DIR: '/etc/certificates', CERTIFICATES_WRITE: 'false', TRUSTED_STORE_DIR: '/usr/local/share/ca-certificates' });
    expect(custom).toMatchObject({ certificatesDir: '/etc/certificates', certificatesWrite: false, trustedStoreDir: '/usr/local/share/ca-certificates' });
  });

  it('reads TRUSTED_STORE_UPDATE_COMMAND as words or a JSON array, never through a shell', () => {
    expect(loadConfig({ TRUSTED_STORE_UPDATE_COMMAND: ' update-ca-certificates  --fresh ' }).trustedStoreUpdateCommand).toEqual(['update-ca-certificates', '--fresh']);
    expect(loadConfig({ TRUSTED_STORE_UPDATE_COMMAND: '["/opt/my tools/rehash", "a;b"]' }).trustedStoreUpdateCommand).toEqual(['/opt/my tools/rehash', 'a;b']);
    for (const bad of ['[]', '["ok", ""]', '[1]', '["unclosed"', '   ']) {
      expect(() => loadConfig({ TRUSTED_STORE_UPDATE_COMMAND: bad }), bad).toThrow(/TRUSTED_STORE_UPDATE_COMMAND: /);
    }
  });

  it('refuses a trusted store in the certificates directory or its CA directory, where names would collide', () => {
    const message = 'TRUSTED_STORE_DIR: TRUSTED_STORE_DIR must not be CERTIFICATES_DIR or its CA directory (the file names would collide)';
    expect(() => loadConfig({ CERTIFICATES_DIR: '/etc/certificates', TRUSTED_STORE_DIR: '/etc/certificates/' })).toThrow(message);
    expect(() => loadConfig({ DATA_DIR: '/d', TRUSTED_STORE_DIR: '/d/certificates/CA' })).toThrow(message);
  });

  it('names every problem at once', () => {
    expect(() => loadConfig({ PORT: 'x', REDIS_URL: 'http://redis' })).toThrow(/PORT: .*; REDIS_URL: REDIS_URL must be a redis:\/\/ URL/);
  });
});
