/**
 * What `ecamo inspect` was given: a token pasted bare, as `Bearer ...`, as
 * `name=value`, or inside a whole redirect or proxy URL, and which of ecamo's
 * token kinds its claims describe.
 */
import { ENDPOINT_PATHS, ID_TOKEN_CLAIMS, ID_TOKEN_SUBJECT, URL_TOKEN_CLAIMS } from '@ecamo/protocol';
import type { JWTPayload } from 'jose';
import { PROXY_TOKEN_PARTIES } from '../tokens/proxy-token.js';

export type TokenKind = 'url-token' | 'auth-cookie' | 'proxy-token' | 'id-token';

export const KIND_NAMES: Readonly<Record<TokenKind, string>> = {
  'url-token': `URL token: signed by a service origin, the last segment of /{prefix}${ENDPOINT_PATHS.redirect}{token}`,
  'auth-cookie': 'authorisation cookie: signed by a service origin for ecamo',
  'proxy-token': `proxy token: signed by ecamo, the t= of a canonical /{prefix}${ENDPOINT_PATHS.proxy}{digest} URL`,
  'id-token': 'ID token: signed by ecamo, presented to a source as Authorization: Bearer',
};

/** A token, and what came with it when a whole URL, header or cookie was pasted. */
export interface InspectInput {
  readonly token: string;
  /** The {digest} of a pasted proxy URL. */
  readonly digest?: string;
  /** The name of a pasted `name=value` cookie. */
  readonly cookieName?: string;
}

const PROXY_URL = new RegExp(String.raw`${ENDPOINT_PATHS.proxy}([^/?#\s]+)\?(?:[^#\s]*&)?t=([^&#\s]+)`);
const REDIRECT_URL = new RegExp(String.raw`${ENDPOINT_PATHS.redirect}([^/?#\s]+)`);

/** Accepts a bare token, `Bearer <token>`, a redirect or proxy URL or path, or `name=<token>`. */
export function parseInspectInput(raw: string): InspectInput {
  const text = raw.trim();
  const bearer = /^(?:authorization:\s*)?bearer\s+(\S+)$/i.exec(text)?.[1];
  if (bearer !== undefined) return { token: bearer };
  const [, proxyDigest, proxyToken] = PROXY_URL.exec(text) ?? [];
  if (proxyDigest !== undefined && proxyToken !== undefined) return { token: decodeURIComponent(proxyToken), digest: proxyDigest };
  const redirect = REDIRECT_URL.exec(text)?.[1];
  if (redirect !== undefined) return { token: redirect };
  const [, cookieName, cookieToken] = /^(?:cookie:\s*)?([^=\s;]+)=([^;\s]+);?$/i.exec(text) ?? [];
  if (cookieName !== undefined && cookieToken !== undefined) return { token: cookieToken, cookieName };
  return { token: text };
}

/** Which ecamo token the claims describe; undefined when none. */
export function recogniseToken(claims: JWTPayload): TokenKind | undefined {
  if (claims.iss === PROXY_TOKEN_PARTIES.issuer || claims.aud === PROXY_TOKEN_PARTIES.audience) return 'proxy-token';
  if (URL_TOKEN_CLAIMS.url in claims) return 'url-token';
  if (claims.sub === ID_TOKEN_SUBJECT && ID_TOKEN_CLAIMS.serviceOrigin in claims) return 'id-token';
  if (typeof claims.iss === 'string' && claims.aud !== undefined) return 'auth-cookie';
  return undefined;
}
