import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface GeneratedKey {
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export function defaultKid(): string {
  return `${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

/** A fresh P-256 key pair as JWKs carrying kid, use and alg. */
export async function generateKey(kid: string = defaultKid()): Promise<GeneratedKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const tags = { kid, use: 'sig', alg: 'ES256' };
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), ...tags }, publicJwk: { ...(await exportJWK(publicKey)), ...tags } };
}

/**
 * `ecamo keygen`: prints the key in the shapes ecamo's variables take. The
 * same pair serves either side: as ecamo's own key (ECAMO_PRIVATE_KEYS) or as
 * a service key (private half to the service, public half to
 * ECAMO_SERVICE_PUBLIC_KEYS under "<origin> <kid>").
 */
export async function keygen(options: { kid?: string; origin?: string }): Promise<string> {
  const key = await generateKey(options.kid);
  const origin = options.origin ?? 'https://service.example';
  return JSON.stringify(
    {
      kid: key.kid,
      privateJwk: key.privateJwk,
      publicJwk: key.publicJwk,
      ECAMO_PRIVATE_KEYS: { [key.kid]: key.privateJwk },
      ECAMO_SIGNING_KID: key.kid,
      ECAMO_SERVICE_PUBLIC_KEYS: { [`${origin} ${key.kid}`]: key.publicJwk },
    },
    null,
    2,
  );
}
