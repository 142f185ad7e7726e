import { describe, expect, it } from 'vitest';
import {
  allowListProblem,
  nameProblem,
  parseAllowList,
  publicAddressProblem,
  WebhookTargetPolicy,
} from './webhook-targets.js';

describe('publicAddressProblem', () => {
  it.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.8.9.10', 'a loopback address'],
    ['::1', 'a loopback address'],
    ['10.0.0.5', 'a private address'],
    ['172.16.0.1', 'a private address'],
    ['172.31.255.255', 'a private address'],
    ['192.168.1.1', 'a private address'],
    ['100.64.0.1', 'a shared (CGNAT) address'],
    ['100.127.255.254', 'a shared (CGNAT) address'],
    ['169.254.1.1', 'a link-local address'],
    ['fe80::1', 'a link-local address'],
    ['fe80::1%eth0', 'a link-local address'],
    ['fc00::1', 'a unique-local address'],
    ['fd12:3456::1', 'a unique-local address'],
    ['0.0.0.0', 'an unspecified address'],
    ['0.1.2.3', 'an unspecified address'],
    ['::', 'an unspecified address'],
    ['224.0.0.1', 'a multicast address'],
    ['ff02::1', 'a multicast address'],
    ['255.255.255.255', 'the broadcast address'],
    ['240.0.0.1', expect.stringMatching(/^a reserved address/)],
    ['192.0.2.1', expect.stringMatching(/^a reserved address/)],
    ['198.18.0.1', expect.stringMatching(/^a reserved address/)],
    ['2001:db8::1', expect.stringMatching(/^a reserved address/)],
    ['100::1', expect.stringMatching(/^a reserved address/)],
    // The deprecated IPv4-compatible form, which ipaddr.js alone would call unicast.
    ['::7f00:1', 'a reserved address'],
    // Cloud metadata services, named as such.
    ['169.254.169.254', 'a cloud metadata address'],
    ['169.254.170.2', 'a cloud metadata address'],
    ['fd00:ec2::254', 'a cloud metadata address'],
    ['100.100.100.200', 'a cloud metadata address'],
    ['192.0.0.192', 'a cloud metadata address'],
  ])('refuses %s: %s', (address, problem) => {
    expect(publicAddressProblem(address)).toEqual(problem);
  });

  it.each([
    ['::ffff:127.0.0.1', 'a loopback address'],
    ['::ffff:7f00:1', 'a loopback address'],
    ['::ffff:10.1.2.3', 'a private address'],
    ['::ffff:169.254.169.254', 'a cloud metadata address'],
    ['64:ff9b::7f00:1', 'a loopback address'],
    ['64:ff9b::a9fe:a9fe', 'a cloud metadata address'],
    ['[::ffff:127.0.0.1]', 'a loopback address'],
  ])('sees through the IPv6 form %s of an IPv4 address: %s', (address, problem) => {
    expect(publicAddressProblem(address)).toBe(problem);
  });

  it.each([
    '8.8.8.8',
    '93.184.215.14',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
  ])('lets the public address %s through', (address) => {
    expect(publicAddressProblem(address)).toBeNull();
  });

  it('lets a NAT64 address through when the IPv4 address inside is public', () => {
    expect(publicAddressProblem('64:ff9b::808:808')).toBeNull();
  });

  it('says so when given something that is not an address', () => {
    expect(publicAddressProblem('hooks.example.com')).toBe('not an IP address');
  });
});

describe('nameProblem', () => {
  it.each([
    'localhost',
    'LOCALHOST.',
    'api.localhost',
    'printer.local',
    'hooks.internal',
    'router.home.arpa',
    'box.localdomain',
    'intranet',
  ])('refuses the internal name %s', (name) => {
    expect(nameProblem(name)).toBe('an internal name');
  });

  it.each(['metadata', 'instance-data', 'metadata.goog', 'metadata.google.internal'])(
    'names the metadata service %s',
    (name) => {
      expect(nameProblem(name)).toBe('a cloud metadata name');
    },
  );

  it.each(['hooks.example.com', 'example.com.', 'localhost.example.com', 'internal.example.com'])(
    'leaves %s to be checked once resolved',
    (name) => {
      expect(nameProblem(name)).toBeNull();
    },
  );
});

describe('the allow list', () => {
  it('takes names, addresses and ranges, comma-separated, in any case', () => {
    expect(parseAllowList(' Hooks.Internal , 10.0.0.5,,[fd00::1], 192.168.0.0/16 ')).toEqual([
      'hooks.internal',
      '10.0.0.5',
      'fd00::1',
      '192.168.0.0/16',
    ]);
    expect(parseAllowList(undefined)).toEqual([]);
    expect(allowListProblem('hooks.internal,10.0.0.5,fd00::/8')).toBeNull();
  });

  it.each(['hooks internal', 'http://hooks.internal', '10.0.0.0/33', 'hooks.internal:8080', 'a..b'])(
    'refuses the entry %j',
    (entry) => {
      expect(allowListProblem(`ok.example.com,${entry}`)).toContain(entry);
    },
  );
});

describe('WebhookTargetPolicy', () => {
  const url = (text: string) => new URL(text);
  const strict = new WebhookTargetPolicy();

  it.each([
    'http://127.0.0.1:8080/',
    'http://[::1]/',
    'http://0.0.0.0/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fd00:ec2::254]/',
    'http://localhost:3000/',
    'https://metadata.google.internal/',
    'http://10.0.0.5/',
  ])('refuses %s at creation', (text) => {
    expect(strict.urlProblem(url(text))).toEqual({
      code: 'webhook_target_refused',
      message: expect.stringContaining('webhooks only reach public addresses'),
      reason: expect.stringMatching(/ is an? /),
    });
  });

  it('refuses credentials and other schemes', () => {
    expect(strict.urlProblem(url('https://user:pass@hooks.example.com/'))).toMatchObject({
      code: 'invalid_request',
      message: 'url: must not contain a user name or password',
    });
    expect(strict.urlProblem(url('https://token@hooks.example.com/'))?.code).toBe('invalid_request');
    expect(strict.urlProblem(url('ftp://hooks.example.com/'))?.code).toBe('invalid_request');
  });

  it('accepts a public name or address', () => {
    expect(strict.urlProblem(url('https://hooks.example.com/overair'))).toBeNull();
    expect(strict.urlProblem(url('http://8.8.8.8:8080/'))).toBeNull();
  });

  it('checks resolved addresses: a public name that resolves inside is refused', () => {
    expect(strict.addressProblem('hooks.example.com', '127.0.0.1')).toBe('a loopback address');
    expect(strict.addressProblem('hooks.example.com', '::ffff:10.0.0.1')).toBe('a private address');
    expect(strict.addressProblem('hooks.example.com', '93.184.215.14')).toBeNull();
  });

  it('lets listed names, addresses and ranges through, and nothing else', () => {
    const policy = new WebhookTargetPolicy(
      parseAllowList('hooks.internal, 127.0.0.1, 10.1.0.0/16, fd00::5, localhost'),
    );
    expect(policy.urlProblem(url('http://hooks.internal:8080/x'))).toBeNull();
    expect(policy.urlProblem(url('http://HOOKS.INTERNAL./x'))).toBeNull();
    expect(policy.urlProblem(url('http://localhost/'))).toBeNull();
    expect(policy.urlProblem(url('http://127.0.0.1:9000/'))).toBeNull();
    expect(policy.urlProblem(url('http://2130706433/'))).toBeNull();
    expect(policy.urlProblem(url('http://[::ffff:127.0.0.1]/'))).toBeNull();
    expect(policy.urlProblem(url('http://10.1.200.3/'))).toBeNull();
    expect(policy.urlProblem(url('http://[fd00::5]/'))).toBeNull();
    // A listed name may resolve anywhere; a listed address is allowed whatever name led to it.
    expect(policy.addressProblem('hooks.internal', '10.9.9.9')).toBeNull();
    expect(policy.addressProblem('hooks.example.com', '127.0.0.1')).toBeNull();
    // The rest stays refused.
    expect(policy.urlProblem(url('http://127.0.0.2/'))?.code).toBe('webhook_target_refused');
    expect(policy.urlProblem(url('http://10.2.0.1/'))?.code).toBe('webhook_target_refused');
    expect(policy.urlProblem(url('http://other.internal/'))?.code).toBe('webhook_target_refused');
    expect(policy.urlProblem(url('http://169.254.169.254/'))?.code).toBe('webhook_target_refused');
    expect(policy.addressProblem('hooks.example.com', '10.2.0.1')).toBe('a private address');
    // An allowed host still may not carry credentials.
    expect(policy.urlProblem(url('http://u:p@hooks.internal/'))?.code).toBe('invalid_request');
  });
});
