import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 6000, redisUrl: undefined, databaseUrl: undefined, dnsResolvers: undefined, renewalIntervalSeconds: 86_400 });
    expect(config).toMatchObject({ httpsOnly: false, hstsMaxAgeSeconds: 31_536_000, loginTimeoutSeconds: 30, requestTimeoutSeconds: 10 });
    expect(config).toMatchObject({ anonymousConnectionsPerAddress: 64, connectionsPerAddress: 256 });
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

  it('names every problem at once', () => {
    expect(() => loadConfig({ PORT: 'x', REDIS_URL: 'http://redis' })).toThrow(/PORT: .*; REDIS_URL: REDIS_URL must be a redis:\/\/ URL/);
  });
});
