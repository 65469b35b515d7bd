import ipaddr from 'ipaddr.js';
import { addressRanges, parseAddress } from '../config/ip-address.js';

/** IPv4 ranges that are not globally reachable (IANA special-purpose registry). */
const NON_GLOBAL_IPV4 = addressRanges(
  '0.0.0.0/8', // "this network"; 0.0.0.0 reaches the local host on Linux
  '10.0.0.0/8', // RFC 1918 private
  '100.64.0.0/10', // carrier-grade NAT shared space
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, including cloud metadata at 169.254.169.254
  '172.16.0.0/12', // RFC 1918 private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1 documentation
  '192.88.99.0/24', // deprecated 6to4 relay anycast
  '192.168.0.0/16', // RFC 1918 private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2 documentation
  '203.0.113.0/24', // TEST-NET-3 documentation
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, including broadcast 255.255.255.255
);

/** Global unicast IPv6 is 2000::/3; inside it, these are still not global. */
const GLOBAL_UNICAST_IPV6 = addressRanges('2000::/3');
const NON_GLOBAL_IPV6 = addressRanges(
  '2001::/23', // IETF protocol assignments: Teredo (2001::/32, embeds an obfuscated address), benchmarking, ORCHID
  '2001:db8::/32', // documentation
  '3fff::/20', // documentation (RFC 9637)
);
const SIX_TO_FOUR = addressRanges('2002::/16'); // embeds an IPv4 address in bits 16..47

function isGlobalIpv4(address: ipaddr.IPv4): boolean {
  return !NON_GLOBAL_IPV4.contains(address);
}

/** IPv4-mapped addresses (::ffff:a.b.c.d) never come here: parseAddress turns them into the IPv4 they are. */
function isGlobalIpv6(address: ipaddr.IPv6): boolean {
  // Outside 2000::/3: loopback, unspecified, ULA, link-local, multicast, NAT64
  // (64:ff9b::/96, which would reach IPv4 through a translator), IPv4-compatible.
  if (!GLOBAL_UNICAST_IPV6.contains(address) || NON_GLOBAL_IPV6.contains(address)) return false;
  const bytes = address.toByteArray();
  if (SIX_TO_FOUR.contains(address)) {
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
 * Whether an IP literal (as sockets, resolvers and URLs spell it: see
 * parseAddress) is a global unicast address. Anything unparsable, a zone on a
 * global address included, is not global: fail closed.
 */
export function isGlobalAddress(text: string): boolean {
  const address = parseAddress(text);
  if (address === undefined) return false;
  return address instanceof ipaddr.IPv6 ? isGlobalIpv6(address) : isGlobalIpv4(address);
}
