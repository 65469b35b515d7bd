/**
 * IP addresses and CIDR ranges: the one place ecamo reads them (ipaddr.js
 * underneath, lint refuses its parsers elsewhere), with one spelling rule.
 *
 * Everywhere:
 * - IPv4 is four decimal parts without leading zeros: `127.0.0.1`. The
 *   inet_aton forms (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`,
 *   `010.0.0.1`) are not addresses: readers disagree on what they mean.
 * - IPv6 is RFC 4291 text: groups of one to four hex digits in any case, `::`
 *   at most once, and optionally its last 32 bits written as an IPv4 address by
 *   the rule above (`::ffff:127.0.0.1`, `64:ff9b::8.8.8.8`). Such a tail is just
 *   those bits: `::8.8.8.8` is the IPv4-compatible `::808:808`, where ipaddr.js
 *   alone reads `::ffff:8.8.8.8`, and takes hex and octal parts in a tail.
 * - An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) is its
 *   IPv4 address: a dual-stack socket reports IPv4 peers that way.
 *
 * What the machine hands over (`parseAddress`: a socket's peer, a resolver's
 * answer, a URL's host, an `X-Forwarded-For` entry) may besides be
 * - IPv6 in brackets, as URLs write it: `[::1]`;
 * - link-local with a zone, as node:net writes a link-local peer
 *   (`fe80::1%eth0`): the zone names the interface the address was seen on and
 *   is dropped. A zone on any other address is nothing the OS writes: not an address.
 *
 * Configuration (`parseAddressRanges`: ECAMO_TRUSTED_PROXIES,
 * ECAMO_SOURCE_BLOCKED_CIDRS; `addressRanges`: the ranges written in ecamo's
 * source) takes neither: an entry is an address, optionally followed by
 * `/bits` in decimal (at most 32 or 128; bits of the address below the prefix
 * are ignored, as in `10.0.0.1/8`). A range of IPv4-mapped addresses
 * (`::ffff:10.0.0.0/104`, at least /96) is the IPv4 range it covers.
 */
import ipaddr from 'ipaddr.js';
import { ConfigError } from './errors.js';

export type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** An address and how many of its leading bits a range fixes. */
type Range = readonly [Address, number];

/** What an interface name or index may be made of, in a zone. */
const ZONE = /^[\w.-]+$/;
const HEX_IPV6 = /^[\da-f:]+$/i;
const PREFIX_BITS = /^(?:0|[1-9]\d{0,2})$/;

function parseIpv4(text: string): ipaddr.IPv4 | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined;
}

function parseHexIpv6(text: string): ipaddr.IPv6 | undefined {
  return HEX_IPV6.test(text) && ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined;
}

/** IPv6 text as the module comment allows it everywhere, a mapped address still IPv6. */
function parseIpv6(text: string): ipaddr.IPv6 | undefined {
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (!tail.includes('.')) return parseHexIpv6(text);
  // The tail is placed by hand: ipaddr.js would read `::a.b.c.d` as `::ffff:a.b.c.d`.
  const ipv4 = parseIpv4(tail);
  const head = parseHexIpv6(`${text.slice(0, lastColon + 1)}0:0`);
  if (ipv4 === undefined || head === undefined) return undefined;
  return new ipaddr.IPv6([...head.toByteArray().slice(0, 12), ...ipv4.toByteArray()]);
}

/** An address by the rule for everywhere, a mapped address still IPv6. */
function parseWritten(text: string): Address | undefined {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

function unmapped(address: Address): Address {
  return address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
}

/**
 * An address as a socket, a resolver, a URL's host or a proxy's
 * `X-Forwarded-For` writes it (see the module comment), IPv4-mapped addresses
 * as IPv4. Undefined for anything else: callers refuse what does not parse.
 */
export function parseAddress(text: string): Address | undefined {
  const bracketed = text.startsWith('[') && text.endsWith(']') && text.includes(':');
  const bare = bracketed ? text.slice(1, -1) : text;
  const percent = bare.indexOf('%');
  const address = parseWritten(percent === -1 ? bare : bare.slice(0, percent));
  if (address === undefined) return undefined;
  const linkLocal = address instanceof ipaddr.IPv6 && address.range() === 'linkLocal';
  if (percent !== -1 && !(linkLocal && ZONE.test(bare.slice(percent + 1)))) return undefined;
  return unmapped(address);
}

/** A CIDR range or a single address as configuration writes it (see the module comment). */
function parseRange(entry: string): Range | undefined {
  const slash = entry.indexOf('/');
  const address = parseWritten(slash === -1 ? entry : entry.slice(0, slash));
  if (address === undefined) return undefined;
  const maxBits = address.kind() === 'ipv4' ? 32 : 128;
  const bitsText = slash === -1 ? String(maxBits) : entry.slice(slash + 1);
  const bits = Number(bitsText);
  if (!PREFIX_BITS.test(bitsText) || bits > maxBits) return undefined;
  if (!(address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress())) return [address, bits];
  return bits >= 96 ? [address.toIPv4Address(), bits - 96] : undefined;
}

/**
 * A set of IPv4 and IPv6 ranges: the proxies whose forwarding headers ecamo
 * believes (ECAMO_TRUSTED_PROXIES), the addresses no source may be fetched
 * from (ECAMO_SOURCE_BLOCKED_CIDRS), the special-purpose ranges of the guard.
 */
export class AddressRanges {
  readonly #ipv4: readonly (readonly [ipaddr.IPv4, number])[];
  readonly #ipv6: readonly (readonly [ipaddr.IPv6, number])[];
  /** As configured, for logs and docs. */
  readonly entries: readonly string[];

  private constructor(ranges: readonly Range[], entries: readonly string[]) {
    this.#ipv4 = Object.freeze(ranges.filter((range): range is readonly [ipaddr.IPv4, number] => range[0] instanceof ipaddr.IPv4));
    this.#ipv6 = Object.freeze(ranges.filter((range): range is readonly [ipaddr.IPv6, number] => range[0] instanceof ipaddr.IPv6));
    this.entries = Object.freeze([...entries]);
    Object.freeze(this);
  }

  /** From entries, each a range or an address (a range of one); `refuse` says why the first one that is neither is wrong. */
  static parse(entries: readonly string[], refuse: (entry: string) => never): AddressRanges {
    return new AddressRanges(entries.map((entry) => parseRange(entry) ?? refuse(entry)), entries);
  }

  /** `address` (as parseAddress returns it: IPv4-mapped addresses as IPv4) lies in one of the ranges. */
  contains(address: Address): boolean {
    if (address instanceof ipaddr.IPv4) return this.#ipv4.some(([base, bits]) => address.match(base, bits));
    return this.#ipv6.some(([base, bits]) => address.match(base, bits));
  }
}

/**
 * Comma-separated addresses and CIDRs, IPv4 and IPv6 (`ECAMO_TRUSTED_PROXIES`,
 * `ECAMO_SOURCE_BLOCKED_CIDRS`). A bare address is a range of one. Throws a
 * ConfigError naming `variable` on the first entry that is neither.
 */
export function parseAddressRanges(variable: string, text: string): AddressRanges {
  const entries = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) throw new ConfigError(variable, 'lists no address');
  return AddressRanges.parse(entries, (entry) => {
    throw new ConfigError(variable, `"${entry}" is not an IP address or CIDR range (a.b.c.d or IPv6, optionally /bits up to 32 or 128)`);
  });
}

/** Ranges written in ecamo's source: a wrong one is a bug, thrown when the module loads. */
export function addressRanges(...entries: string[]): AddressRanges {
  return AddressRanges.parse(entries, (entry) => {
    throw new TypeError(`"${entry}" is not an IP address or CIDR range`);
  });
}
