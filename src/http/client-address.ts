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
 */
import type { IncomingMessage } from 'node:http';
import { parseAddress, type TrustedProxies } from '../config/trusted-proxies.js';
import type { IgnoredForwardingHeader } from '../metrics.js';

/** A chain longer than this is not walked further: no real deployment has so many proxies. */
const MAX_FORWARDED_HOPS = 16;
const SERVICE_HOST_HEADER = 'sec-x-ecamo-service-host';

export interface ClientAddressOptions {
  readonly trustedProxies: TrustedProxies | undefined;
  /** Called once per forwarding header removed because the peer is not trusted. */
  readonly onIgnored: (header: IgnoredForwardingHeader) => void;
}

/** What a connection's peer address says, worked out on its first request: every further one reuses it. */
interface Peer {
  readonly address: ReturnType<typeof parseAddress>;
  /** Canonical text (IPv4 dotted, IPv6 compressed), or the raw text when it is not an address. */
  readonly text: string;
  /** The peer is one of ECAMO_TRUSTED_PROXIES. */
  readonly trusted: boolean;
}

// Keyed by the socket object: node:http keeps one per connection, so keep-alive requests parse nothing.
const peers = new WeakMap<object, Peer>();

function peerOf(req: IncomingMessage, trustedProxies: TrustedProxies | undefined): Peer {
  const known = peers.get(req.socket);
  if (known !== undefined) return known;
  const raw = req.socket.remoteAddress ?? '';
  const address = parseAddress(raw);
  // A socket always has an address while its request is handled; the raw text is a safe key otherwise.
  const peer: Peer = { address, text: address?.toString() ?? raw, trusted: address !== undefined && trustedProxies?.contains(address) === true };
  peers.set(req.socket, peer);
  return peer;
}

/**
 * The request's client address (canonical text: IPv4 dotted, IPv6 compressed),
 * with untrusted forwarding headers removed from `req.headers`. Never throws.
 */
export function resolveClientAddress(req: IncomingMessage, options: ClientAddressOptions): string {
  const { trustedProxies } = options;
  const peer = peerOf(req, trustedProxies);
  if (trustedProxies === undefined || peer.address === undefined) return peer.text;
  if (!peer.trusted) {
    dropForwardingHeaders(req, options.onIgnored);
    return peer.text;
  }
  const forwardedFor = req.headers['x-forwarded-for'];
  if (forwardedFor === undefined) return peer.text;
  const chain = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',');
  return rightmostUntrusted(chain, trustedProxies)?.toString() ?? peer.text;
}

/**
 * Walks `X-Forwarded-For` from the right (node joins repeated headers with
 * ", "), and returns the first entry that is not a trusted proxy, or the last
 * trusted one seen when the walk stops early: at an entry that is not an
 * address (a trusted proxy never writes one; what lies beyond it is unproven)
 * or after MAX_FORWARDED_HOPS entries. Scans by index, so a header of
 * thousands of entries costs no more than its last few.
 */
function rightmostUntrusted(header: string, trusted: TrustedProxies): ReturnType<typeof parseAddress> {
  let end = header.length;
  let nearest: ReturnType<typeof parseAddress>;
  for (let hop = 0; hop < MAX_FORWARDED_HOPS && end >= 0; hop++) {
    const comma = header.lastIndexOf(',', end - 1);
    const address = parseForwardedEntry(header.slice(comma + 1, end).trim());
    if (address === undefined) return nearest;
    if (!trusted.contains(address)) return address;
    nearest = address;
    end = comma;
  }
  return nearest;
}

/** An X-Forwarded-For entry: an address, `ipv4:port`, `[ipv6]` or `[ipv6]:port`. */
function parseForwardedEntry(entry: string): ReturnType<typeof parseAddress> {
  if (entry.length === 0 || entry.length > 64) return undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close === -1 || !/^(?::\d{1,5})?$/.test(entry.slice(close + 1))) return undefined;
    return parseAddress(entry.slice(1, close));
  }
  const withoutPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(entry)?.[1];
  return parseAddress(withoutPort ?? entry);
}

function dropForwardingHeaders(req: IncomingMessage, onIgnored: (header: IgnoredForwardingHeader) => void): void {
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
