/**
 * Type tests of the package's entry points, imported by package name through
 * package.json `exports` as a user would. Nothing here runs: `npm run
 * typecheck` (and the build) compiles it, so a breaking change to a public
 * type fails there. Each `Expect<Equal<...>>` pins a type exactly; each
 * `@ts-expect-error` line is a call that must stay refused.
 */
import { camoUrl, createSigner, type AuthCookie, type AuthCookieOptions, type Signer, type SignerOptions, type UrlOptions } from 'ecamo/signer';
import {
  ConfigError,
  EcamoError,
  loadConfig,
  runWorkers,
  startServer,
  type EcamoConfig,
  type EcamoErrorCode,
  type EcamoServer,
  type EcamoServerOptions,
} from 'ecamo/server';
import {
  createIdTokenVerifier,
  IdTokenError,
  MemoryReplayStore,
  type IdTokenErrorCode,
  type IdTokenVerifier,
  type IdTokenVerifierOptions,
  type ReplayStore,
  type VerifiedIdToken,
} from 'ecamo/verify';
import type { JWK } from 'jose';

/** True when A and B are the same type (not merely assignable either way). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the usual exact-equality check: T only probes A and B
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

// ecamo/signer
export type SignerApi = [
  Expect<Equal<Parameters<typeof createSigner>, [options: SignerOptions]>>,
  Expect<Equal<ReturnType<typeof createSigner>, Promise<Signer>>>,
  Expect<Equal<SignerOptions, { readonly origin: string; readonly kid: string; readonly privateJwk: JWK }>>,
  Expect<Equal<Parameters<Signer['url']>, [sourceUrl: string | URL, options?: UrlOptions]>>,
  Expect<Equal<ReturnType<Signer['url']>, Promise<string>>>,
  Expect<Equal<Parameters<Signer['authCookie']>, [options: AuthCookieOptions]>>,
  Expect<Equal<ReturnType<Signer['authCookie']>, Promise<AuthCookie>>>,
  Expect<Equal<AuthCookie, { readonly name: string; readonly token: string; readonly setCookie: string; readonly expiresAt: number }>>,
  Expect<Equal<ReturnType<typeof camoUrl>, Promise<string>>>,
];

// ecamo/verify
export type VerifyApi = [
  Expect<Equal<Parameters<typeof createIdTokenVerifier>, [options: IdTokenVerifierOptions]>>,
  Expect<Equal<ReturnType<typeof createIdTokenVerifier>, IdTokenVerifier>>,
  Expect<Equal<Parameters<IdTokenVerifier['verify']>, [tokenOrAuthorization: string | null | undefined]>>,
  Expect<Equal<ReturnType<IdTokenVerifier['verify']>, Promise<VerifiedIdToken>>>,
  Expect<Equal<VerifiedIdToken, { readonly serviceOrigin: string; readonly jti: string; readonly iat: number; readonly exp: number; readonly kid: string }>>,
  Expect<Equal<IdTokenErrorCode, 'missing-token' | 'invalid-token' | 'expired' | 'wrong-audience' | 'replayed' | 'unknown-key' | 'jwks-unavailable'>>,
  Expect<Equal<IdTokenError['code'], IdTokenErrorCode>>,
  Expect<Equal<IdTokenError['status'], 401 | 503>>,
  Expect<Equal<Parameters<ReplayStore['checkAndStore']>, [jti: string, exp: number]>>,
  Expect<Equal<ReturnType<ReplayStore['checkAndStore']>, Promise<boolean> | boolean>>,
];

// ecamo/server
export type ServerApi = [
  Expect<Equal<ReturnType<typeof loadConfig>, Promise<EcamoConfig>>>,
  Expect<Equal<Parameters<typeof startServer>, [config: EcamoConfig, options?: EcamoServerOptions]>>,
  Expect<Equal<ReturnType<typeof startServer>, Promise<EcamoServer>>>,
  Expect<Equal<EcamoServer['url'], string>>,
  Expect<Equal<EcamoServer['port'], number>>,
  Expect<Equal<EcamoServer['close'], (graceMs?: number) => Promise<void>>>,
  Expect<Equal<EcamoServer['reload'], () => Promise<void>>>,
  Expect<Equal<Parameters<typeof runWorkers>, [config: EcamoConfig]>>,
  Expect<Equal<ReturnType<typeof runWorkers>, Promise<void>>>,
  Expect<Equal<EcamoError['code'], EcamoErrorCode>>,
];

/** Calls that must stay refused: compiled, never run. */
export async function refusedCalls(signer: Signer): Promise<void> {
  // @ts-expect-error a URL option that does not exist
  await signer.url('https://images.example/a.png', { sendTokens: true });
  // @ts-expect-error the cookie needs its lifetime
  await signer.authCookie({ canonicalOrigin: 'https://ecamo.example' });
  // @ts-expect-error the audience is required
  createIdTokenVerifier({ ecamoOrigin: 'https://ecamo.example' });
  // @ts-expect-error a replay store must say whether the jti is new
  createIdTokenVerifier({ ecamoOrigin: 'https://ecamo.example', audience: 'https://images.example', replay: { checkAndStore: () => undefined } });
  // @ts-expect-error startServer takes what loadConfig made, not a bare object of settings
  await startServer({ ECAMO_CANONICAL_HOST: 'ecamo.example' });
  // @ts-expect-error so does runWorkers
  await runWorkers({ ECAMO_CANONICAL_HOST: 'ecamo.example' });
  // Optional fields take undefined, so settings can be passed straight from the environment.
  createIdTokenVerifier({ ecamoOrigin: 'https://ecamo.example', audience: 'https://images.example', jwksUrl: process.env.ECAMO_JWKS_URL });
  await signer.url('https://images.example/a.png', { prefix: process.env.PREFIX, ttlSeconds: undefined });
}

/** The in-memory store answers at once: no promise to await on the request path. */
export function memoryStoreAnswers(): boolean {
  return new MemoryReplayStore().checkAndStore('jti', 0);
}

/** What `ecamo/server` hands out: no key material, whatever the configuration holds inside. */
export function hiddenKeys(config: EcamoConfig): unknown {
  // @ts-expect-error the configuration keeps its key material to itself
  return config.ecamoKeys;
}

export function configErrorNamesItsVariable(error: ConfigError): string {
  return error.message;
}
