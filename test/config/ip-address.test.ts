/**
 * The one spelling rule for IP addresses (src/config/ip-address.ts): every
 * spelling each entry point accepts, what it reads it as, and what it refuses.
 * IPv6 values are checked against the WHATWG URL parser too, an independent
 * reading of the same RFC 4291 text. Pure parsing: nothing touches the network.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { addressRanges, parseAddress, parseAddressRanges } from '../../src/config/ip-address.js';

/** What parseAddress reads `text` as: its family and canonical text. */
function read(text: string): string | undefined {
  const address = parseAddress(text);
  return address === undefined ? undefined : `${address.kind()} ${address.toString()}`;
}

/** Each [text, canonical] pair is read as that IPv6 address, by parseAddress and by URLs alike. */
function readsAsIpv6(cases: readonly (readonly [string, string])[]): void {
  for (const [text, canonical] of cases) {
    assert.equal(read(text), `ipv6 ${canonical}`, text);
    assert.equal(new URL(`http://[${text}]/`).hostname, `[${canonical}]`, `${text} as URLs read it`);
  }
}

function parsed(address: string | undefined): NonNullable<ReturnType<typeof parseAddress>> {
  const result = parseAddress(address ?? '');
  assert.ok(result !== undefined, `${address} must parse`);
  return result;
}

describe('parseAddress: the spellings everywhere', () => {
  it('IPv4 in four decimal parts', () => {
    assert.equal(read('127.0.0.1'), 'ipv4 127.0.0.1');
    assert.equal(read('0.0.0.0'), 'ipv4 0.0.0.0');
    assert.equal(read('255.255.255.255'), 'ipv4 255.255.255.255');
    assert.equal(read('10.0.0.10'), 'ipv4 10.0.0.10');
  });

  it('refuses the inet_aton spellings and leading zeros: readers disagree on them', () => {
    for (const text of ['127.1', '127.0.1', '2130706433', '0x7f000001', '0x7f.0.0.1', '0177.0.0.1', '010.0.0.1', '127.000.0.1', '00.0.0.0', '0']) {
      assert.equal(read(text), undefined, text);
    }
  });

  it('IPv6 in any RFC 4291 form and case', () => {
    readsAsIpv6([
      ['::1', '::1'],
      ['::', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['0000:0000::0001', '::1'],
      ['2001:DB8::A', '2001:db8::a'],
      ['2606:4700:4700::1111', '2606:4700:4700::1111'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
      ['fe80::1', 'fe80::1'],
    ]);
  });

  it('a dotted IPv4 tail is the last 32 bits: ::8.8.8.8 is IPv4-compatible, not mapped (where ipaddr.js alone says mapped)', () => {
    readsAsIpv6([
      ['::8.8.8.8', '::808:808'],
      ['::127.0.0.1', '::7f00:1'],
      ['64:ff9b::8.8.8.8', '64:ff9b::808:808'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
      ['::ffff:0:1.2.3.4', '::ffff:0:102:304'],
      ['2606:4700::5efe:127.0.0.1', '2606:4700::5efe:7f00:1'],
    ]);
  });

  it('an IPv4-mapped address is its IPv4 address, in either spelling', () => {
    for (const text of ['::ffff:127.0.0.1', '::FFFF:7F00:1', '0:0:0:0:0:ffff:7f00:1', '::ffff:7f00:1', '[::ffff:127.0.0.1]']) {
      assert.equal(read(text), 'ipv4 127.0.0.1', text);
    }
    assert.equal(read('::ffff:0.0.0.0'), 'ipv4 0.0.0.0');
  });

  it('refuses a tail that is not four decimal parts, and malformed IPv6', () => {
    for (const text of ['::ffff:127.1', '::ffff:0x7f.0.0.1', '::ffff:0177.0.0.1', '::ffff:010.0.0.1', '::ffff:256.0.0.1', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', ':1.2.3.4']) {
      assert.equal(read(text), undefined, text);
    }
    for (const text of ['::1::', ':::1', '1:2', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '00000::1', 'gggg::1', '+1::', '0x1::', ':1:2:3:4:5:6:7']) {
      assert.equal(read(text), undefined, text);
    }
  });

  it('refuses what is not one address', () => {
    for (const text of ['', ' 127.0.0.1', '127.0.0.1 ', '256.0.0.1', '1.2.3.4.5', '1.2.3', 'localhost', 'example.com', '127.0.0.1/32', '::1/128', '127.0.0.1:80']) {
      assert.equal(read(text), undefined, JSON.stringify(text));
    }
  });
});

describe('parseAddress: what only the machine writes', () => {
  it('IPv6 in brackets, as URLs write it; never IPv4', () => {
    assert.equal(read('[::1]'), 'ipv6 ::1');
    assert.equal(read('[2001:db8::1]'), 'ipv6 2001:db8::1');
    for (const text of ['[127.0.0.1]', '[::1', '::1]', '[]', '[[::1]]', '[ ::1]']) assert.equal(read(text), undefined, text);
  });

  it('a zone on a link-local address, as node:net writes a link-local peer, is dropped', () => {
    for (const text of ['fe80::1%eth0', 'fe80::1%1', 'fe80::1%br-1.20', '[fe80::1%25eth0]', 'FE80::1%eth0']) assert.equal(read(text), 'ipv6 fe80::1', text);
    assert.equal(read('febf::1%lo'), 'ipv6 febf::1');
  });

  it('a zone anywhere else is nothing the OS writes: not an address', () => {
    for (const text of ['2606:4700::1111%eth0', '::1%lo', 'fec0::1%eth0', 'ff02::1%eth0', '::ffff:127.0.0.1%lo', '127.0.0.1%eth0', '169.254.1.1%eth0']) {
      assert.equal(read(text), undefined, text);
    }
    for (const text of ['fe80::1%', 'fe80::1%eth0%1', 'fe80::1%eth 0', 'fe80::1%eth0/64', 'fe80::1%eth0]']) assert.equal(read(text), undefined, text);
  });
});

describe('parseAddressRanges: configuration', () => {
  const VARIABLE = 'ECAMO_TRUSTED_PROXIES';

  function refusedEntry(text: string, entry: string): void {
    assert.throws(() => parseAddressRanges(VARIABLE, text), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.variable, VARIABLE);
      assert.ok(error.message.includes(`"${entry}"`), error.message);
      return true;
    }, text);
  }

  it('addresses and CIDR ranges of both families, trimmed around commas, kept as written', () => {
    const ranges = parseAddressRanges(VARIABLE, ' 10.0.0.0/8,192.0.2.1 , 2001:DB8::/32,, ::ffff:172.16.0.0/108 ');
    assert.deepEqual(ranges.entries, ['10.0.0.0/8', '192.0.2.1', '2001:DB8::/32', '::ffff:172.16.0.0/108']);
    for (const inside of ['10.0.0.0', '10.255.255.255', '192.0.2.1', '2001:db8::1', '2001:db8:ffff::', '172.16.0.0', '::ffff:172.31.255.255']) {
      assert.equal(ranges.contains(parsed(inside)), true, inside);
    }
    for (const outside of ['11.0.0.0', '192.0.2.2', '2001:db9::', '172.32.0.0', '::ffff:172.15.255.255', '::a00:1']) {
      assert.equal(ranges.contains(parsed(outside)), false, outside);
    }
  });

  it('a range of IPv4-mapped addresses is the IPv4 range it covers; an IPv6 range never holds IPv4 addresses', () => {
    const mapped = parseAddressRanges(VARIABLE, '::ffff:0:0/96');
    assert.equal(mapped.contains(parsed('203.0.113.9')), true);
    assert.equal(mapped.contains(parsed('::1')), false);
    const ipv6 = parseAddressRanges(VARIABLE, '::/0');
    assert.equal(ipv6.contains(parsed('::1')), true);
    assert.equal(ipv6.contains(parsed('::ffff:127.0.0.1')), false);
    assert.equal(parseAddressRanges(VARIABLE, '::ffff:10.0.0.1').contains(parsed('10.0.0.1')), true);
  });

  it('bits of the address below the prefix are ignored; /0 is the whole family', () => {
    assert.equal(parseAddressRanges(VARIABLE, '10.0.0.1/8').contains(parsed('10.200.0.0')), true);
    const everything = parseAddressRanges(VARIABLE, '0.0.0.0/0');
    assert.equal(everything.contains(parsed('198.51.100.7')), true);
    assert.equal(everything.contains(parsed('2001:db8::1')), false);
  });

  it('refuses legacy IPv4, zones, brackets and bad prefixes, naming the variable and the entry', () => {
    for (const entry of ['127.1', '0x7f.0.0.1', '010.0.0.0/8', 'fe80::1%eth0', 'fe80::/10%eth0', '[::1]', '[::1]/128', 'proxy.example']) refusedEntry(entry, entry);
    for (const entry of ['10.0.0.1/33', '::1/129', '10.0.0.0/08', '10.0.0.0/', '/8', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/+8', '10.0.0.0/0x8', '::ffff:10.0.0.0/95']) {
      refusedEntry(entry, entry);
    }
    refusedEntry('10.0.0.1, nope, 10.0.0.2', 'nope');
  });

  it('refuses a list of no address', () => {
    for (const text of ['', ' , ', ',']) {
      assert.throws(() => parseAddressRanges(VARIABLE, text), (error: unknown) => error instanceof ConfigError && error.variable === VARIABLE);
    }
  });
});

describe('addressRanges: ranges written in the source', () => {
  it('reads them like configuration, and throws on a wrong one', () => {
    const loopback = addressRanges('127.0.0.0/8', '::1');
    assert.equal(loopback.contains(parsed('127.255.0.1')), true);
    assert.equal(loopback.contains(parsed('::1')), true);
    assert.equal(loopback.contains(parsed('::2')), false);
    assert.throws(() => addressRanges('127.0.0.0/8', '127.1/8'), TypeError);
  });
});
