import { generateKey } from '../config/generate-key.js';

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
