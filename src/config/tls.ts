import { createSecureContext } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { ConfigError } from './errors.js';

/** The public listener's certificate chain and key (PEM), as read from their files. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export const TLS_CERT = 'ECAMO_TLS_CERT';
export const TLS_KEY = 'ECAMO_TLS_KEY';

async function readPem(variable: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Reads both files and checks that they make a usable TLS context (PEM that
 * parses, a key that matches the certificate), so that a bad pair stops the
 * start, or leaves a reload without effect, instead of failing handshakes.
 */
export async function loadTlsFiles(certFile: string, keyFile: string): Promise<TlsFiles> {
  const [cert, key] = await Promise.all([readPem(TLS_CERT, certFile), readPem(TLS_KEY, keyFile)]);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    const reason = (error as Error).message;
    const variable = /key/i.test(reason) && !/cert/i.test(reason) ? TLS_KEY : TLS_CERT;
    throw new ConfigError(variable, `${certFile} and ${keyFile} are not a usable certificate and key (${reason})`);
  }
  return Object.freeze({ certFile, keyFile, cert, key });
}
