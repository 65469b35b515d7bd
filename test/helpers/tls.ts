/** Self-signed certificates for TLS tests, made with the openssl CLI (Debian's, as .ci/run installs). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM, also the CA a client trusts: the certificate signs itself. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The subject's common name, to tell two certificates apart. */
  readonly commonName: string;
}

const dirs: string[] = [];
process.once('exit', () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A P-256 certificate for 127.0.0.1 and localhost, valid for two days, in files of its own. */
export function selfSignedCertificate(commonName = 'ecamo test'): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'ecamo-tls-'));
  dirs.push(dir);
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${commonName}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile), commonName };
}
