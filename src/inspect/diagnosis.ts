/**
 * Why the ecamo configured in ECAMO_* would refuse a token, in plain words and
 * every reason at once (the server stops at the first). The list is written
 * for people; that it is empty only counts once the server's own verification
 * code agrees (serverRefusal).
 */
import { compactVerify, type CryptoKey, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Config } from '../config/load.js';
import { verifyAuthCookie } from '../tokens/auth-cookie.js';
import { assertDigestMatches } from '../tokens/digest.js';
import { CLOCK_TOLERANCE_SECONDS } from '../tokens/jws.js';
import { verifyProxyToken } from '../tokens/proxy-token.js';
import { parseSourceUrl } from '../tokens/source-url.js';
import { verifyUrlToken } from '../tokens/url-token.js';
import { assertSourceAllowed } from '../upstream/url-policy.js';
import { createIdTokenVerifier } from '../verify/index.js';
import type { InspectInput, TokenKind } from './input.js';

/** `3 min`, `45 s`, `2 h`, `12 days`: how people read token ages. */
export function duration(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

export function when(time: number, now: number): string {
  const iso = new Date(time * 1000).toISOString().replace('.000Z', 'Z');
  return `${iso} (${time === now ? 'now' : time > now ? `in ${duration(time - now)}` : `${duration(now - time)} ago`})`;
}

export interface InspectFlags {
  /** The service origin a request would come from (URL tokens, cookies); default: what `iss` says, in ecamo's scheme. */
  readonly serviceOrigin?: string;
  /** The source origin an ID token should be for. */
  readonly audience?: string;
}

export interface Context {
  readonly config: Config;
  readonly flags: InspectFlags;
  readonly now: number;
}

export async function diagnose(
  kind: TokenKind,
  input: InspectInput,
  header: ProtectedHeaderParameters,
  claims: JWTPayload,
  context: Context,
): Promise<string[]> {
  const reasons: string[] = [];
  const serviceOrigin = kind === 'url-token' || kind === 'auth-cookie' ? expectedServiceOrigin(claims, context, reasons) : undefined;

  if (header.alg !== 'ES256') reasons.push(`alg is ${String(header.alg)}, not ES256`);
  const key = lookUpKey(kind, header, serviceOrigin, context.config, reasons);
  if (key !== undefined && header.alg === 'ES256') {
    try {
      await compactVerify(input.token, key.key, { algorithms: ['ES256'] });
    } catch {
      reasons.push(`bad signature: not signed by the key ${key.name}`);
    }
  }
  checkTimes(claims, kind !== 'url-token', context.now, reasons);
  switch (kind) {
    case 'url-token':
      checkSource(claims['ecamo:url'], context.config, reasons);
      if (claims['ecamo:send-token'] !== undefined && typeof claims['ecamo:send-token'] !== 'boolean') {
        reasons.push('ecamo:send-token is not true or false');
      }
      break;
    case 'auth-cookie':
      checkCookie(claims, input, serviceOrigin, context.config, reasons);
      break;
    case 'proxy-token':
      checkProxyToken(claims, input, context.config, reasons);
      break;
    case 'id-token':
      checkIdToken(claims, context, reasons);
      break;
  }
  if (reasons.length === 0) {
    const failure = await serverRefusal(kind, input.token, claims, serviceOrigin, context);
    if (failure !== undefined) reasons.push(`ecamo's own check refuses it: ${failure}`);
  }
  return reasons;
}

/** The origin ecamo would see a request from: `--service-origin`, else the host in `iss` in ecamo's scheme. */
function expectedServiceOrigin(claims: JWTPayload, { config, flags }: Context, reasons: string[]): string | undefined {
  const iss = claims.iss;
  let origin = flags.serviceOrigin;
  if (origin === undefined && typeof iss === 'string' && URL.canParse(iss)) {
    const url = new URL(iss);
    origin = `${config.insecure ? url.protocol.slice(0, -1) : 'https'}://${url.host}`;
  }
  if (origin === undefined) {
    reasons.push(`iss is ${JSON.stringify(iss)}, not a service origin`);
    return undefined;
  }
  if (iss !== origin) {
    const why = !config.insecure && typeof iss === 'string' && iss.startsWith('http:') ? ' (without ECAMO_INSECURE every service origin is https)' : '';
    reasons.push(`wrong iss: the token says ${JSON.stringify(iss)}, ecamo would see the service origin ${origin}${why}`);
  }
  const host = new URL(origin).host;
  if (config.serviceHostRegexp !== undefined && !config.serviceHostRegexp.test(host)) {
    reasons.push(`service host ${host} does not match ECAMO_SERVICE_HOST_REGEXP (403 unallowed-service-host)`);
  }
  return origin;
}

function lookUpKey(
  kind: TokenKind,
  header: ProtectedHeaderParameters,
  serviceOrigin: string | undefined,
  config: Config,
  reasons: string[],
): { key: CryptoKey; name: string } | undefined {
  if (typeof header.kid !== 'string') {
    reasons.push('the header has no kid');
    return undefined;
  }
  if (kind === 'proxy-token' || kind === 'id-token') {
    const key = config.ecamoKeys.verification.get(header.kid);
    if (key !== undefined) return { key, name: `"${header.kid}" of ECAMO_PRIVATE_KEYS` };
    reasons.push(`unknown kid "${header.kid}": ECAMO_PRIVATE_KEYS has ${[...config.ecamoKeys.verification.keys()].map((kid) => `"${kid}"`).join(', ')}`);
    return undefined;
  }
  if (serviceOrigin === undefined) return undefined;
  const name = `${serviceOrigin} ${header.kid}`;
  const key = config.serviceKeys.get(name);
  if (key !== undefined) return { key, name: `"${name}" of ECAMO_SERVICE_PUBLIC_KEYS` };
  const kids = [...config.serviceKeys.keys()].filter((entry) => entry.startsWith(`${serviceOrigin} `)).map((entry) => `"${entry}"`);
  reasons.push(`unknown kid "${name}": ECAMO_SERVICE_PUBLIC_KEYS has ${kids.length === 0 ? `no key for ${serviceOrigin}` : kids.join(', ')}`);
  return undefined;
}

function checkTimes(claims: JWTPayload, expRequired: boolean, now: number, reasons: string[]): void {
  const { exp, nbf } = claims;
  if (exp === undefined) {
    if (expRequired) reasons.push('no exp claim, which this token must have');
  } else if (typeof exp !== 'number') {
    reasons.push('exp is not a number');
  } else if (exp <= now - CLOCK_TOLERANCE_SECONDS) {
    reasons.push(`expired ${duration(now - exp)} ago (exp ${when(exp, now)})`);
  }
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + CLOCK_TOLERANCE_SECONDS)) {
    reasons.push(typeof nbf === 'number' ? `not valid yet: nbf ${when(nbf, now)}` : 'nbf is not a number');
  }
}

function checkSource(url: unknown, config: Config, reasons: string[]): void {
  try {
    assertSourceAllowed(parseSourceUrl(url).href, config);
  } catch (error) {
    reasons.push(`ecamo:url: ${(error as Error).message}`);
  }
}

function checkCookie(claims: JWTPayload, input: InspectInput, serviceOrigin: string | undefined, config: Config, reasons: string[]): void {
  if (serviceOrigin !== undefined) {
    const canonicalOrigin = `${new URL(serviceOrigin).protocol}//${config.canonicalHost}`;
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(canonicalOrigin)) {
      reasons.push(`wrong aud: the token is for ${JSON.stringify(claims.aud)}, ecamo's canonical origin is ${canonicalOrigin}`);
    }
  }
  if (input.cookieName !== undefined && input.cookieName !== config.authCookie) {
    reasons.push(`the cookie is named ${input.cookieName}, ecamo reads ${config.authCookie} (ECAMO_AUTH_COOKIE)`);
  }
}

function checkProxyToken(claims: JWTPayload, input: InspectInput, config: Config, reasons: string[]): void {
  if (claims.iss !== 'ecamo:s') reasons.push(`wrong iss: ${JSON.stringify(claims.iss)}, proxy tokens have "ecamo:s"`);
  if (claims.aud !== 'ecamo:p') reasons.push(`wrong aud: ${JSON.stringify(claims.aud)}, proxy tokens have "ecamo:p"`);
  if (typeof claims['ecamo:svc'] !== 'string') reasons.push('ecamo:svc is missing or not a string');
  if (claims['ecamo:tok'] !== undefined && typeof claims['ecamo:tok'] !== 'boolean') reasons.push('ecamo:tok is not true or false');
  checkSource(claims['ecamo:url'], config, reasons);
  if (input.digest !== undefined && typeof claims['ecamo:url'] === 'string' && URL.canParse(claims['ecamo:url'])) {
    try {
      assertDigestMatches(input.digest, new URL(claims['ecamo:url']).href);
    } catch (error) {
      reasons.push(`the URL's digest: ${(error as Error).message}`);
    }
  }
}

/** ID tokens are issued as `https://CANONICAL_HOST`, or with the scheme of the request in insecure mode. */
function idTokenIssuers(config: Config): string[] {
  const secure = `https://${config.canonicalHost}`;
  return config.insecure ? [`http://${config.canonicalHost}`, secure] : [secure];
}

function checkIdToken(claims: JWTPayload, { config, flags }: Context, reasons: string[]): void {
  const issuers = idTokenIssuers(config);
  if (typeof claims.iss !== 'string' || !issuers.includes(claims.iss)) {
    reasons.push(`wrong iss: ${JSON.stringify(claims.iss)}, ecamo issues ID tokens as ${issuers.join(' or ')}`);
  }
  if (typeof claims.aud !== 'string') reasons.push('aud is missing or not a string');
  else if (flags.audience !== undefined && claims.aud !== flags.audience) {
    reasons.push(`wrong aud: the token is for ${claims.aud}, not ${flags.audience}`);
  }
  if (typeof claims.jti !== 'string') reasons.push('no jti, which sources need to refuse replays');
  if (typeof claims.iat !== 'number') reasons.push('no iat');
}

/** What the server's (or the source verifier's) own code says; undefined when it accepts. */
async function serverRefusal(
  kind: TokenKind,
  token: string,
  claims: JWTPayload,
  serviceOrigin: string | undefined,
  { config, flags }: Context,
): Promise<string | undefined> {
  try {
    switch (kind) {
      // For service-signed tokens the diagnosis reports a missing service origin before this runs.
      case 'url-token':
        if (serviceOrigin === undefined) return 'no service origin';
        await verifyUrlToken(token, serviceOrigin, config.serviceKeys);
        return undefined;
      case 'auth-cookie':
        if (serviceOrigin === undefined) return 'no service origin';
        await verifyAuthCookie(token, serviceOrigin, `${new URL(serviceOrigin).protocol}//${config.canonicalHost}`, config.serviceKeys);
        return undefined;
      case 'proxy-token':
        await verifyProxyToken(token, config.ecamoKeys);
        return undefined;
      case 'id-token':
        // checkIdToken reports an iss or aud that is not a string before this runs.
        if (typeof claims.iss !== 'string' || typeof claims.aud !== 'string') return 'iss or aud is not a string';
        // Replays cannot be judged from one token; the audience is the one checked above.
        await createIdTokenVerifier({
          ecamoOrigin: claims.iss,
          audience: flags.audience ?? claims.aud,
          keys: { keys: [...config.ecamoKeys.publicJwks] },
          replay: false,
          clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
        }).verify(token);
        return undefined;
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message}`;
  }
}
