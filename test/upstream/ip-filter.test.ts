/**
 * isGlobalAddress against every range src/upstream/ip-filter.ts knows: an
 * address inside each, the first and last address, and the neighbours just
 * outside. Pure classification: nothing here touches the network.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isGlobalAddress } from '../../src/upstream/ip-filter.js';

function refused(...addresses: string[]): void {
  for (const address of addresses) assert.equal(isGlobalAddress(address), false, `${address} must not be global`);
}

function allowed(...addresses: string[]): void {
  for (const address of addresses) assert.equal(isGlobalAddress(address), true, `${address} must be global`);
}

interface RangeCase {
  readonly range: string;
  readonly first: string;
  readonly inside: string;
  readonly last: string;
  /** Neighbours just outside the range that are themselves global. */
  readonly outside: readonly string[];
}

const IPV4_RANGES: readonly RangeCase[] = [
  { range: '0.0.0.0/8', first: '0.0.0.0', inside: '0.1.2.3', last: '0.255.255.255', outside: ['1.0.0.0'] },
  { range: '10.0.0.0/8', first: '10.0.0.0', inside: '10.1.2.3', last: '10.255.255.255', outside: ['9.255.255.255', '11.0.0.0'] },
  { range: '100.64.0.0/10', first: '100.64.0.0', inside: '100.100.100.100', last: '100.127.255.255', outside: ['100.63.255.255', '100.128.0.0'] },
  { range: '127.0.0.0/8', first: '127.0.0.0', inside: '127.0.0.1', last: '127.255.255.255', outside: ['126.255.255.255', '128.0.0.0'] },
  { range: '169.254.0.0/16', first: '169.254.0.0', inside: '169.254.169.254', last: '169.254.255.255', outside: ['169.253.255.255', '169.255.0.0'] },
  { range: '172.16.0.0/12', first: '172.16.0.0', inside: '172.20.1.1', last: '172.31.255.255', outside: ['172.15.255.255', '172.32.0.0'] },
  { range: '192.0.0.0/24', first: '192.0.0.0', inside: '192.0.0.170', last: '192.0.0.255', outside: ['191.255.255.255', '192.0.1.0'] },
  { range: '192.0.2.0/24', first: '192.0.2.0', inside: '192.0.2.1', last: '192.0.2.255', outside: ['192.0.1.255', '192.0.3.0'] },
  { range: '192.88.99.0/24', first: '192.88.99.0', inside: '192.88.99.1', last: '192.88.99.255', outside: ['192.88.98.255', '192.88.100.0'] },
  { range: '192.168.0.0/16', first: '192.168.0.0', inside: '192.168.1.1', last: '192.168.255.255', outside: ['192.167.255.255', '192.169.0.0'] },
  { range: '198.18.0.0/15', first: '198.18.0.0', inside: '198.19.0.1', last: '198.19.255.255', outside: ['198.17.255.255', '198.20.0.0'] },
  { range: '198.51.100.0/24', first: '198.51.100.0', inside: '198.51.100.7', last: '198.51.100.255', outside: ['198.51.99.255', '198.51.101.0'] },
  { range: '203.0.113.0/24', first: '203.0.113.0', inside: '203.0.113.9', last: '203.0.113.255', outside: ['203.0.112.255', '203.0.114.0'] },
  // Multicast ends where 240/4 begins, so only the lower neighbour is global.
  { range: '224.0.0.0/4', first: '224.0.0.0', inside: '239.255.255.250', last: '239.255.255.255', outside: ['223.255.255.255'] },
  { range: '240.0.0.0/4', first: '240.0.0.0', inside: '250.1.2.3', last: '255.255.255.255', outside: [] },
];

const IPV6_RANGES: readonly RangeCase[] = [
  // Below 2000::/3.
  { range: '::/128 and ::1/128', first: '::', inside: '::1', last: '::1', outside: [] },
  { range: 'IPv4-compatible ::/96', first: '::2', inside: '::808:808', last: '::ffff:ffff', outside: [] },
  { range: 'NAT64 64:ff9b::/96', first: '64:ff9b::', inside: '64:ff9b::7f00:1', last: '64:ff9b::ffff:ffff', outside: [] },
  { range: 'local NAT64 64:ff9b:1::/48', first: '64:ff9b:1::', inside: '64:ff9b:1::a00:1', last: '64:ff9b:1:ffff:ffff:ffff:ffff:ffff', outside: [] },
  { range: 'discard 100::/64', first: '100::', inside: '100::1', last: '100::ffff:ffff:ffff:ffff', outside: [] },
  { range: 'ULA fc00::/7', first: 'fc00::', inside: 'fd12:3456:789a::1', last: 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', outside: [] },
  { range: 'link-local fe80::/10', first: 'fe80::', inside: 'fe80::1', last: 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', outside: [] },
  { range: 'site-local fec0::/10', first: 'fec0::', inside: 'fec0::1', last: 'feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', outside: [] },
  { range: 'multicast ff00::/8', first: 'ff00::', inside: 'ff02::1', last: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', outside: [] },
  { range: 'just below 2000::/3', first: '1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', inside: '1000::1', last: '1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', outside: ['2000::'] },
  { range: 'just above 2000::/3', first: '4000::', inside: '8000::1', last: 'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', outside: ['3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'] },
  // Inside 2000::/3.
  {
    range: 'IETF 2001::/23 (Teredo, benchmarking, ORCHID)',
    first: '2001::',
    inside: '2001:2::1',
    last: '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff',
    outside: ['2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '2001:200::'],
  },
  {
    range: 'documentation 2001:db8::/32',
    first: '2001:db8::',
    inside: '2001:db8::1',
    last: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff',
    outside: ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db9::'],
  },
  {
    range: 'documentation 3fff::/20',
    first: '3fff::',
    inside: '3fff:123::1',
    last: '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff',
    outside: ['3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '3fff:1000::'],
  },
];

describe('isGlobalAddress: IPv4 special-purpose ranges', () => {
  for (const range of IPV4_RANGES) {
    test(range.range, () => {
      refused(range.first, range.inside, range.last);
      allowed(...range.outside);
    });
  }

  test('broadcast and the adjacent neighbours between two refused ranges', () => {
    refused('255.255.255.255', '239.255.255.255', '240.0.0.0');
  });

  test('global IPv4 addresses pass', () => {
    allowed('8.8.8.8', '1.1.1.1', '9.9.9.9', '93.184.216.34', '100.63.0.1', '172.217.0.1', '223.255.255.255', '1.0.0.1');
  });
});

describe('isGlobalAddress: IPv6', () => {
  for (const range of IPV6_RANGES) {
    test(range.range, () => {
      refused(range.first, range.inside, range.last);
      allowed(...range.outside);
    });
  }

  test('global IPv6 addresses pass', () => {
    allowed('2606:4700::1111', '2606:4700:4700::1001', '2001:4860:4860::8888', '2a00:1450:4001::1', '2000::1', '2620:fe::fe');
  });

  test('IPv4-mapped addresses are judged as the IPv4 they carry, in either spelling', () => {
    refused('::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:7F00:1', '0:0:0:0:0:ffff:7f00:1', '::ffff:10.0.0.1');
    refused('::ffff:169.254.169.254', '::ffff:0.0.0.0', '::ffff:192.168.0.1', '::ffff:255.255.255.255', '::ffff:100.64.0.1');
    allowed('::ffff:8.8.8.8', '::ffff:808:808', '::ffff:1.1.1.1');
  });

  test('SIIT ::ffff:0:0:0/96 (IPv4-translated) is outside 2000::/3 and refused', () => {
    refused('::ffff:0:7f00:1', '::ffff:0:808:808');
  });

  // ip-filter.ts documents its choice: NAT64 sits outside 2000::/3 and is
  // refused whatever it embeds, since a translator would reach IPv4 with it.
  test('NAT64 64:ff9b::/96 is refused even when it embeds a global IPv4', () => {
    refused('64:ff9b::8.8.8.8', '64:ff9b::808:808', '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe');
  });

  test('6to4 2002::/16 is judged by the IPv4 in bits 16..47', () => {
    refused('2002::', '2002:7f00:1::', '2002:7f00:1::1', '2002:a00:1::', '2002:c0a8:101::1', '2002:a9fe:a9fe::', '2002:ffff:ffff::');
    refused('2002:6440:1::', '2002:e000:1::'); // 100.64.0.1 (CGNAT), 224.0.0.1 (multicast)
    allowed('2002:808:808::', '2002:808:808:1234::1', '2002:101:101::1');
    // Neighbours of 2002::/16 are plain global unicast.
    allowed('2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '2003::');
  });

  test('ISATAP (interface id 0000:5efe or 0200:5efe) is judged by the IPv4 in its last 32 bits', () => {
    refused('2606:4700::5efe:7f00:1', '2606:4700::200:5efe:7f00:1', '2606:4700::5efe:127.0.0.1', '2606:4700::200:5efe:10.0.0.1');
    refused('2a00:1450:4001:1::5efe:a9fe:a9fe', '2a00:1450:4001:1:200:5efe:c0a8:101', '2606:4700::100:5efe:a00:1', '2606:4700::300:5efe:6440:1');
    refused('2606:4700::5efe:0.0.0.0', '2606:4700::200:5efe:255.255.255.255');
    allowed('2606:4700::5efe:808:808', '2606:4700::200:5efe:8.8.8.8', '2606:4700::200:5efe:1.1.1.1');
    // Not ISATAP: another interface id that happens to end in a private-looking IPv4.
    allowed('2606:4700::5eff:7f00:1', '2606:4700::400:5efe:7f00:1', '2606:4700::1:5efe:7f00:1', '2606:4700::5efe:0:7f00:1');
    // ISATAP on a prefix that is refused anyway.
    refused('fe80::5efe:808:808', 'fe80::200:5efe:8.8.8.8');
  });

  test('Teredo 2001::/32 is refused (it embeds an obfuscated IPv4 and a relay)', () => {
    refused('2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001::1', '2001:0:ffff:ffff:ffff:ffff:ffff:ffff');
  });
});

describe('isGlobalAddress: spelling', () => {
  test('brackets as in URLs are accepted', () => {
    allowed('[2606:4700::1111]');
    refused('[::1]', '[::ffff:127.0.0.1]', '[fe80::1]');
  });

  test('any zone id is refused, even on an otherwise global address', () => {
    refused('fe80::1%eth0', 'fe80::1%1', '[fe80::1%25eth0]', '2606:4700::1111%eth0', '::ffff:8.8.8.8%lo', '8.8.8.8%eth0');
  });

  test('unparsable input fails closed', () => {
    refused('', 'localhost', 'example.com', '8.8.8.8.8', '256.1.1.1', '::1::', 'gggg::1', '[8.8.8.8', '8.8.8.8]', ' 8.8.8.8', '8.8.8.8 ');
    refused('[]', '::ffff:999.0.0.1', '1:2:3:4:5:6:7:8:9');
  });

  // URLs and resolvers hand over ::808:808, but ipaddr.js alone read ::8.8.8.8 as IPv4-mapped and found it global.
  test('the dotted spelling of IPv4-compatible ::/96 is refused like its hex spelling, whatever IPv4 it carries', () => {
    refused('::8.8.8.8', '::1.1.1.1', '::127.0.0.1', '[::8.8.8.8]');
  });

  // Resolvers and sockets hand canonical dotted quads, but inet_aton-style
  // spellings must not turn a loopback into something global.
  test('inet_aton spellings of loopback stay refused', () => {
    refused('127.1', '2130706433', '0x7f000001', '0177.0.0.1', '0x7f.0.0.1', '0.0.0.0', '0');
  });
});
