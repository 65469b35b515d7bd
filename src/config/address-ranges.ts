import ipaddr from 'ipaddr.js';
import { ConfigError } from './errors.js';

export type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Parses one IP address written the strict way: four-part decimal IPv4, or
 * IPv6 (an IPv4-mapped IPv6 address counts as its IPv4 address, as a dual-stack
 * socket reports IPv4 peers that way). A zone (`%eth0`) is dropped: it names
 * an interface of the machine that wrote it, not part of the address.
 * Undefined for anything else, including legacy IPv4 spellings (`127.1`, `0x7f.1`).
 */
export function parseAddress(text: string): Address | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  const zone = text.indexOf('%');
  const bare = zone === -1 ? text : text.slice(0, zone);
  if (!bare.includes(':') || !ipaddr.IPv6.isValid(bare)) return undefined;
  const address = ipaddr.IPv6.parse(bare);
  return address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
}

/**
 * A set of IPv4 and IPv6 ranges from the configuration: the proxies whose
 * forwarding headers ecamo believes (ECAMO_TRUSTED_PROXIES), the addresses no
 * source may be fetched from (ECAMO_SOURCE_BLOCKED_CIDRS).
 */
export class AddressRanges {
  readonly #ipv4: readonly (readonly [ipaddr.IPv4, number])[];
  readonly #ipv6: readonly (readonly [ipaddr.IPv6, number])[];
  /** As configured, for logs and docs. */
  readonly entries: readonly string[];

  constructor(ranges: readonly (readonly [Address, number])[], entries: readonly string[]) {
    this.#ipv4 = Object.freeze(ranges.filter((range): range is readonly [ipaddr.IPv4, number] => range[0].kind() === 'ipv4'));
    this.#ipv6 = Object.freeze(ranges.filter((range): range is readonly [ipaddr.IPv6, number] => range[0].kind() === 'ipv6'));
    this.entries = Object.freeze([...entries]);
    Object.freeze(this);
  }

  contains(address: Address): boolean {
    if (address.kind() === 'ipv4') {
      const ipv4 = address as ipaddr.IPv4;
      return this.#ipv4.some(([base, bits]) => ipv4.match(base, bits));
    }
    const ipv6 = address as ipaddr.IPv6;
    return this.#ipv6.some(([base, bits]) => ipv6.match(base, bits));
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
  const ranges = entries.map((entry): readonly [Address, number] => {
    const slash = entry.indexOf('/');
    const address = parseAddress(slash === -1 ? entry : entry.slice(0, slash));
    if (address === undefined || entry.includes('%')) throw new ConfigError(variable, `"${entry}" is not an IP address or CIDR range`);
    const maxBits = address.kind() === 'ipv4' ? 32 : 128;
    if (slash === -1) return [address, maxBits];
    const bitsText = entry.slice(slash + 1);
    // A mapped IPv6 range (::ffff:10.0.0.0/104) becomes the IPv4 range it covers.
    const mapped = address.kind() === 'ipv4' && entry.slice(0, slash).includes(':');
    const bits = Number(bitsText) - (mapped ? 96 : 0);
    if (!/^\d{1,3}$/.test(bitsText) || bits < 0 || bits > maxBits) throw new ConfigError(variable, `"${entry}" has a bad prefix length`);
    return [address, bits];
  });
  return new AddressRanges(ranges, entries);
}
