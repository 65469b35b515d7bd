/**
 * Why the ecamo configured in ECAMO_* would refuse a token, in plain words.
 * Every check is the server's own, run with the server's rules: the signature
 * as tokens/jws.ts verifies it, the claims by `claimFailures` with the rules
 * of the token's kind (tokens/url-token.ts, auth-cookie.ts, proxy-token.ts),
 * then what the kind reads from its payload and the operator's policies. So
 * the list is empty exactly when the server would accept the token; it only
 * lists every claim that fails where the server stops at the first.
 */
import { errors as joseErrors, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Config } from '../config/load.js';
import { EcamoError } from '../errors.js';
import { authCookieVerification } from '../tokens/auth-cookie.js';
import { assertDigestMatches } from '../tokens/digest.js';
import {
  CLOCK_TOLERANCE_SECONDS,
  claimFailures,
  serviceKeyName,
  SIGNATURE_DOES_NOT_VERIFY,
  verifyJwsSignature,
  type ClaimFailure,
  type TimeClaim,
  type TokenVerification,
  type VerifiedPayload,
} from '../tokens/jws.js';
import { proxyTokenVerification } from '../tokens/proxy-token.js';
import { urlTokenVerification } from '../tokens/url-token.js';
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
  /** Seconds since the epoch: the one clock every time claim is judged by. */
  readonly now: number;
}

type EcamoTokenKind = Exclude<TokenKind, 'id-token'>;

export async function diagnose(kind: TokenKind, input: InspectInput, header: ProtectedHeaderParameters, claims: JWTPayload, context: Context): Promise<string[]> {
  return kind === 'id-token' ? diagnoseIdToken(input.token, claims, context) : diagnoseEcamoToken(kind, input, header, claims, context);
}

async function diagnoseEcamoToken(
  kind: EcamoTokenKind,
  input: InspectInput,
  header: ProtectedHeaderParameters,
  claims: JWTPayload,
  context: Context,
): Promise<string[]> {
  const { config } = context;
  const reasons: string[] = [];
  // The server's rules for the kind: the very objects its verifiers use.
  let verification: TokenVerification<unknown, TimeClaim>;
  let keys: KeyNames;
  if (kind === 'proxy-token') {
    verification = proxyTokenVerification(config.ecamoKeys);
    keys = { name: (kid) => `"${kid}"`, known: () => `ECAMO_PRIVATE_KEYS has ${quoted([...config.ecamoKeys.verification.keys()])}`, variable: 'ECAMO_PRIVATE_KEYS' };
  } else {
    const serviceOrigin = expectedServiceOrigin(claims, context, reasons);
    // Without an origin there are no service keys or rules to check against; the reason says so.
    if (serviceOrigin === undefined) return reasons;
    verification = kind === 'url-token'
      ? urlTokenVerification(serviceOrigin, config.serviceKeys)
      : authCookieVerification(serviceOrigin, `${new URL(serviceOrigin).protocol}//${config.canonicalHost}`, config.serviceKeys);
    keys = {
      name: (kid) => `"${serviceKeyName(serviceOrigin, kid)}"`,
      known: () => {
        const names = [...config.serviceKeys.keys()].filter((name) => name.startsWith(serviceKeyName(serviceOrigin, '')));
        return `ECAMO_SERVICE_PUBLIC_KEYS has ${names.length === 0 ? `no key for ${serviceOrigin}` : quoted(names)}`;
      },
      variable: 'ECAMO_SERVICE_PUBLIC_KEYS',
    };
  }

  try {
    await verifyJwsSignature(input.token, verification.resolveKey, verification.signatureRules);
  } catch (error) {
    reasons.push(signatureReason(error, header, keys));
  }
  for (const failure of claimFailures(claims, verification.claimRules, context.now)) {
    reasons.push(claimReason(failure, kind, claims, context));
  }
  let read: unknown;
  try {
    // read() relies on the required time claims only for their type; a missing one is a reason above already.
    read = verification.read(claims as VerifiedPayload<TimeClaim>);
  } catch (error) {
    reasons.push(codeAndMessage(error));
  }

  // What the endpoint checks after the token: the source policy, the proxy URL's digest (http/redirect.ts, http/proxy.ts).
  const sourceUrl = typeof read === 'object' && read !== null && 'url' in read && typeof read.url === 'string' ? read.url : undefined;
  if (sourceUrl !== undefined) {
    try {
      assertSourceAllowed(sourceUrl, config);
    } catch (error) {
      reasons.push(`ecamo:url: ${(error as Error).message}`);
    }
    if (input.digest !== undefined) {
      try {
        assertDigestMatches(input.digest, sourceUrl);
      } catch (error) {
        reasons.push(`the URL's digest: ${(error as Error).message}`);
      }
    }
  }
  if (kind === 'auth-cookie' && input.cookieName !== undefined && input.cookieName !== config.authCookie) {
    reasons.push(`the cookie is named ${input.cookieName}, ecamo reads ${config.authCookie} (ECAMO_AUTH_COOKIE)`);
  }
  return reasons;
}

/** How a refusal names the keys of a token's kind. */
interface KeyNames {
  /** The key a kid names, quoted. */
  name(kid: string): string;
  /** Which keys there are. */
  known(): string;
  /** Where they are configured. */
  readonly variable: string;
}

function quoted(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ');
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
    reasons.push(`iss is ${JSON.stringify(iss)}, not a service origin (give --service-origin to check it against one)`);
    return undefined;
  }
  const host = new URL(origin).host;
  if (config.serviceHostRegexp !== undefined && !config.serviceHostRegexp.test(host)) {
    reasons.push(`service host ${host} does not match ECAMO_SERVICE_HOST_REGEXP (403 unallowed-service-host)`);
  }
  return origin;
}

function signatureReason(error: unknown, header: ProtectedHeaderParameters, keys: KeyNames): string {
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  if (error instanceof EcamoError && kid !== undefined) {
    if (error.code === 'unknown-key') return `unknown kid ${keys.name(kid)}: ${keys.known()}`;
    if (error.message === SIGNATURE_DOES_NOT_VERIFY) return `bad signature: not signed by the key ${keys.name(kid)} of ${keys.variable}`;
  }
  return codeAndMessage(error);
}

/** A failure of `claimFailures`, with the values and the configuration that explain it. */
function claimReason(failure: ClaimFailure, kind: EcamoTokenKind, claims: JWTPayload, { config, now }: Context): string {
  switch (failure.problem) {
    case 'missing':
      return `no ${failure.claim} claim, which this token must have`;
    case 'not-a-finite-number':
      return `${failure.claim} is ${shown(claims[failure.claim])}, not a finite number of seconds`;
    case 'not-yet-valid':
      return `not valid yet: nbf ${when(failure.nbf, now)}`;
    case 'expired':
      return expiredReason(failure.exp, now);
    case 'too-far-ahead':
      return `exp ${when(failure.exp, now)} is further ahead than this kind of token ever lives (${duration(failure.maxLifetimeSeconds)})`;
    case 'unexpected': {
      const actual = shown(claims[failure.claim]);
      if (kind === 'proxy-token') return `wrong ${failure.claim}: ${actual}, proxy tokens have ${JSON.stringify(failure.expected)}`;
      if (failure.claim === 'aud') return `wrong aud: the token is for ${actual}, ecamo's canonical origin is ${failure.expected}`;
      const http = !config.insecure && typeof claims.iss === 'string' && claims.iss.startsWith('http:');
      return `wrong iss: the token says ${actual}, ecamo would see the service origin ${failure.expected}${http ? ' (without ECAMO_INSECURE every service origin is https)' : ''}`;
    }
  }
}

/** ID tokens are issued as `https://CANONICAL_HOST`, or with the scheme of the request in insecure mode. */
function idTokenIssuers(config: Config): string[] {
  const secure = `https://${config.canonicalHost}`;
  return config.insecure ? [`http://${config.canonicalHost}`, secure] : [secure];
}

/**
 * ID tokens are judged by sources, with ecamo/verify: its verdict, for the
 * issuer ecamo signs as and the audience given (default: the token's own).
 * It stops at the first failure, and so does this.
 */
async function diagnoseIdToken(token: string, claims: JWTPayload, { config, flags, now }: Context): Promise<string[]> {
  const issuers = idTokenIssuers(config);
  const issuer = issuers.find((candidate) => candidate === claims.iss) ?? issuers[0] ?? '';
  const audience = flags.audience ?? (typeof claims.aud === 'string' ? claims.aud : undefined);
  if (audience === undefined) return ['aud is missing or not one origin (give --audience to check it against one)'];
  try {
    // Replays cannot be judged from one token.
    await createIdTokenVerifier({
      ecamoOrigin: issuer,
      audience,
      keys: { keys: [...config.ecamoKeys.publicJwks] },
      replay: false,
      clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    }).verify(token);
    return [];
  } catch (error) {
    const refusal = (error as { cause?: unknown }).cause;
    if (refusal instanceof joseErrors.JWTExpired && typeof claims.exp === 'number') {
      return [expiredReason(claims.exp, now)];
    }
    if (refusal instanceof joseErrors.JWTClaimValidationFailed && refusal.claim === 'iss') {
      return [`wrong iss: ${JSON.stringify(claims.iss)}, ecamo issues ID tokens as ${issuers.join(' or ')}`];
    }
    if (refusal instanceof joseErrors.JWTClaimValidationFailed && refusal.claim === 'aud') {
      return [`wrong aud: the token is for ${typeof claims.aud === 'string' ? claims.aud : JSON.stringify(claims.aud)}, not ${audience}`];
    }
    return [`ecamo/verify refuses it: ${codeAndMessage(error)}`];
  }
}

/** A claim's value as the token spells it; numbers as numbers (JSON has no Infinity). */
function shown(value: unknown): string {
  if (value === undefined) return 'missing';
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

function expiredReason(exp: number, now: number): string {
  return `expired ${duration(now - exp)} ago, more than the ${CLOCK_TOLERANCE_SECONDS} s of clock leeway (exp ${when(exp, now)})`;
}

function codeAndMessage(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return `${typeof code === 'string' ? `${code}: ` : ''}${error instanceof Error ? error.message : String(error)}`;
}
