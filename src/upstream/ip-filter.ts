import ipaddr from 'ipaddr.js';

type Range = readonly [ipaddr.IPv4 | ipaddr.IPv6, number];

function cidr(text: string): Range {
  return ipaddr.parseCIDR(text);
}

/** IPv4 ranges that are not globally reachable (IANA special-purpose registry). */
const NON_GLOBAL_IPV4: readonly Range[] = [
  cidr('0.0.0.0/8'), // "this network"; 0.0.0.0 reaches the local host on Linux
  cidr('10.0.0.0/8'), // RFC 1918 private
  cidr('100.64.0.0/10'), // carrier-grade NAT shared space
  cidr('127.0.0.0/8'), // loopback
  cidr('169.254.0.0/16'), // link-local, including cloud metadata at 169.254.169.254
  cidr('172.16.0.0/12'), // RFC 1918 private
  cidr('192.0.0.0/24'), // IETF protocol assignments
  cidr('192.0.2.0/24'), // TEST-NET-1 documentation
  cidr('192.88.99.0/24'), // deprecated 6to4 relay anycast
  cidr('192.168.0.0/16'), // RFC 1918 private
  cidr('198.18.0.0/15'), // benchmarking
  cidr('198.51.100.0/24'), // TEST-NET-2 documentation
  cidr('203.0.113.0/24'), // TEST-NET-3 documentation
  cidr('224.0.0.0/4'), // multicast
  cidr('240.0.0.0/4'), // reserved, including broadcast 255.255.255.255
];

/** Global unicast IPv6 is 2000::/3; inside it, these are still not global. */
const GLOBAL_UNICAST_IPV6 = cidr('2000::/3');
const NON_GLOBAL_IPV6: readonly Range[] = [
  cidr('2001::/23'), // IETF protocol assignments: Teredo (2001::/32, embeds an obfuscated address), benchmarking, ORCHID
  cidr('2001:db8::/32'), // documentation
  cidr('3fff::/20'), // documentation (RFC 9637)
];
const SIX_TO_FOUR = cidr('2002::/16'); // embeds an IPv4 address in bits 16..47

function inAny(address: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly Range[]): boolean {
  return ranges.some((range) => address.kind() === range[0].kind() && address.match(range as [typeof address, number]));
}

function isGlobalIpv4(address: ipaddr.IPv4): boolean {
  return !inAny(address, NON_GLOBAL_IPV4);
}

function isGlobalIpv6(address: ipaddr.IPv6): boolean {
  // IPv4-mapped (::ffff:a.b.c.d) is how dual-stack sockets spell IPv4: judge the IPv4.
  if (address.isIPv4MappedAddress()) return isGlobalIpv4(address.toIPv4Address());
  // Outside 2000::/3: loopback, unspecified, ULA, link-local, multicast, NAT64
  // (64:ff9b::/96, which would reach IPv4 through a translator), IPv4-compatible.
  if (!address.match(GLOBAL_UNICAST_IPV6 as [ipaddr.IPv6, number])) return false;
  if (inAny(address, NON_GLOBAL_IPV6)) return false;
  const bytes = address.toByteArray();
  if (address.match(SIX_TO_FOUR as [ipaddr.IPv6, number])) {
    // 2002:AABB:CCDD::/48 embeds the IPv4 address AA.BB.CC.DD in bytes 2 to 5.
    return isGlobalIpv4(new ipaddr.IPv4(bytes.slice(2, 6)));
  }
  if (isIsatap(bytes)) return isGlobalIpv4(new ipaddr.IPv4(bytes.slice(12, 16)));
  return true;
}

/**
 * ISATAP (RFC 5214): an interface identifier of 0000:5efe or 0200:5efe (the
 * universal/local bit set or not; the group bit is ignored too) followed by
 * an IPv4 address, which an ISATAP router reaches through IPv4.
 */
function isIsatap(bytes: readonly number[]): boolean {
  return bytes[8] !== undefined && (bytes[8] & 0xfc) === 0 && bytes[9] === 0 && bytes[10] === 0x5e && bytes[11] === 0xfe;
}

/**
 * Whether an IP literal (as sockets and resolvers spell it) is a global
 * unicast address. Anything unparsable is not global: fail closed.
 */
export function isGlobalAddress(text: string): boolean {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // Zone IDs (fe80::1%eth0) only exist on link-local addresses.
  if (bare.includes('%')) return false;
  if (!ipaddr.isValid(bare)) return false;
  const address = ipaddr.parse(bare);
  return address.kind() === 'ipv4' ? isGlobalIpv4(address as ipaddr.IPv4) : isGlobalIpv6(address as ipaddr.IPv6);
}
