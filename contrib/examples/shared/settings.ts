/**
 * What every example reads from its environment: the service's signing key
 * (as `ecamo sign-url` reads it), where ecamo is, and which image to show.
 */
export interface ExampleSettings {
  readonly host: string;
  readonly port: number;
  readonly origin: string;
  /** ECAMO_SIGNER_KID, or else the kid of the JWK. */
  readonly kid: string;
  readonly privateJwk: Record<string, unknown>;
  /** ecamo's canonical origin, the audience of the auth cookie. */
  readonly canonicalOrigin: string;
  /** Where this service reaches ecamo to route /.ecamo/*, e.g. http://127.0.0.1:3000. */
  readonly ecamoUrl: URL;
  readonly imageUrl: string;
  /** Plain-HTTP development, as ecamo's ECAMO_INSECURE: cookie without Secure, named ecamo_token. */
  readonly insecure: boolean;
}

export function exampleSettings(env: NodeJS.ProcessEnv = process.env): ExampleSettings {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`${name} is required (see contrib/examples/README.md)`);
    return value;
  };
  const privateJwk = JSON.parse(required('ECAMO_SIGNER_PRIVATE_JWK')) as Record<string, unknown>;
  const kid = env.ECAMO_SIGNER_KID || privateJwk.kid;
  if (typeof kid !== 'string') throw new Error('ECAMO_SIGNER_KID is required when the JWK has no kid');
  return {
    host: env.HOST ?? '127.0.0.1',
    port: Number(env.PORT ?? 8000),
    origin: required('ECAMO_SIGNER_ORIGIN'),
    kid,
    privateJwk,
    canonicalOrigin: required('ECAMO_CANONICAL_ORIGIN'),
    ecamoUrl: new URL(required('ECAMO_URL')),
    imageUrl: required('EXAMPLE_IMAGE_URL'),
    insecure: env.ECAMO_INSECURE === 'true',
  };
}

/** The page: one image, through ecamo. */
export function page(imageSrc: string): string {
  return `<!doctype html>\n<title>ecamo example</title>\n<img src="${imageSrc}" alt="an image proxied by ecamo">\n`;
}
