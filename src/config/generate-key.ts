import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface GeneratedKey {
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

function defaultKid(): string {
  return `${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

/** A fresh P-256 key pair as JWKs carrying kid, use and alg. */
export async function generateKey(kid: string = defaultKid()): Promise<GeneratedKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const tags = { kid, use: 'sig', alg: 'ES256' };
  return { kid, privateJwk: { ...(await exportJWK(privateKey)), ...tags }, publicJwk: { ...(await exportJWK(publicKey)), ...tags } };
}
