/**
 * Who a request comes from, and which forwarding headers count
 * (ECAMO_TRUSTED_PROXIES).
 *
 * The client address is the peer's address, or, when the peer is a trusted
 * proxy, the right-most `X-Forwarded-For` entry that is not itself a trusted
 * proxy: entries to the right of it were appended by proxies we trust, entries
 * to its left were written by the client and prove nothing.
 * `sec-x-ecamo-service-host` and `X-Forwarded-*` from a peer that is not
 * trusted are removed before anything reads them, and counted. Without a
 * trusted-proxy list every peer may send `sec-x-ecamo-service-host` (the
 * behaviour before the setting existed) and `X-Forwarded-For` is never read.
 * A client address that is a trusted proxy's own is marked as such: whatever
 * came through a proxy without naming its sender is nobody's to be charged for.
 */
import { parseAddress, type Address, type AddressRanges } from '../config/ip-address.js';
import type { IgnoredForwardingHeader } from '../metrics.js';
import type { HttpRequest } from './request-response.js';

/** A chain longer than this is not walked further: no real deployment has so many proxies. */
const MAX_FORWARDED_HOPS = 16;
const SERVICE_HOST_HEADER = 'sec-x-ecamo-service-host';

export interface ClientAddressOptions {
  readonly trustedProxies: AddressRanges | undefined;
  /** Called once per forwarding header removed because the peer is not trusted. */
  readonly onIgnored: (header: IgnoredForwardingHeader) => void;
}

/** Who a request is from, as far as ecamo can tell. */
export interface Client {
  /** Canonical text (IPv4 dotted, IPv6 compressed), or the peer's raw text when it is not an address. */
  readonly text: string;
  readonly address: Address | undefined;
  /**
   * The address is one of ECAMO_TRUSTED_PROXIES: the request came from a
   * trusted proxy that named no client beyond itself (no `X-Forwarded-For`,
   * one that ends in something that is not an address, or only proxies).
   * Such a request says nothing about its sender, so quarantine leaves it alone.
   */
  readonly trustedProxy: boolean;
}

// Keyed by the socket object: node:http keeps one per connection, so keep-alive requests parse nothing.
const peers = new WeakMap<object, Client>();

/** What a connection's peer address says, worked out on its first request: every further one reuses it. */
function peerOf(req: HttpRequest, trustedProxies: AddressRanges | undefined): Client {
  const known = peers.get(req.socket);
  if (known !== undefined) return known;
  const raw = req.socket.remoteAddress ?? '';
  const address = parseAddress(raw);
  // A socket always has an address while its request is handled; the raw text is a safe key otherwise.
  const peer: Client = { address, text: address?.toString() ?? raw, trustedProxy: address !== undefined && trustedProxies?.contains(address) === true };
  peers.set(req.socket, peer);
  return peer;
}

/**
 * The request's client, with untrusted forwarding headers removed from
 * `req.headers`. Never throws.
 */
export function resolveClient(req: HttpRequest, options: ClientAddressOptions): Client {
  const { trustedProxies } = options;
  const peer = peerOf(req, trustedProxies);
  if (trustedProxies === undefined || peer.address === undefined) return peer;
  if (!peer.trustedProxy) {
    dropForwardingHeaders(req, options.onIgnored);
    return peer;
  }
  const forwardedFor = req.headers['x-forwarded-for'];
  if (forwardedFor === undefined) return peer;
  const chain = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',');
  const { address, trusted } = rightmostUntrusted(chain, trustedProxies);
  return address === undefined ? peer : { address, text: address.toString(), trustedProxy: trusted };
}

/**
 * Walks `X-Forwarded-For` from the right (node joins repeated headers with
 * ", "), and returns the first entry that is not a trusted proxy, or else
 * the last trusted one seen (undefined when none), marked trusted: when the
 * chain is all proxies, or the walk stops early at an entry that is not an
 * address (a trusted proxy never writes one; what lies beyond it is unproven)
 * or after MAX_FORWARDED_HOPS entries. Scans by index, so a header of
 * thousands of entries costs no more than its last few.
 */
function rightmostUntrusted(header: string, trustedProxies: AddressRanges): { address: Address | undefined; trusted: boolean } {
  let end = header.length;
  let nearest: Address | undefined;
  for (let hop = 0; hop < MAX_FORWARDED_HOPS && end >= 0; hop++) {
    const comma = header.lastIndexOf(',', end - 1);
    const address = parseForwardedEntry(header.slice(comma + 1, end).trim());
    if (address === undefined) break;
    if (!trustedProxies.contains(address)) return { address, trusted: false };
    nearest = address;
    end = comma;
  }
  return { address: nearest, trusted: true };
}

/** An X-Forwarded-For entry: an address, `ipv4:port`, `[ipv6]` or `[ipv6]:port`. */
function parseForwardedEntry(entry: string): Address | undefined {
  if (entry.length === 0 || entry.length > 64) return undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close === -1 || !/^(?::\d{1,5})?$/.test(entry.slice(close + 1))) return undefined;
    return parseAddress(entry.slice(1, close));
  }
  const withoutPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(entry)?.[1];
  return parseAddress(withoutPort ?? entry);
}

function dropForwardingHeaders(req: HttpRequest, onIgnored: (header: IgnoredForwardingHeader) => void): void {
  const { headers } = req;
  for (const name of Object.keys(headers)) {
    if (name === SERVICE_HOST_HEADER) onIgnored(SERVICE_HOST_HEADER);
    else if (name === 'x-forwarded-for') onIgnored('x-forwarded-for');
    else if (name.startsWith('x-forwarded-') || name === 'forwarded') onIgnored('x-forwarded-other');
    else continue;
    // The request's own header object: handlers after this must not see the header.
    Reflect.deleteProperty(headers, name);
  }
}
