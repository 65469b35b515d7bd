/**
 * The programs outside Node that the system tier uses, all Debian packages.
 * A test that needs one that is missing is skipped with the reason and the
 * package to install; with ECAMO_TESTS_REQUIRE_PROGRAMS set (.ci/run sets it)
 * a missing program is an error instead, so that CI cannot pass by skipping.
 */
import { existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Each program, where it is looked for (a bare name: on PATH), and its Debian package. */
const PROGRAMS = {
  'redis-server': { path: 'redis-server', package: 'redis-server' },
  chromium: { path: '/usr/bin/chromium', package: 'chromium' },
  nginx: { path: '/usr/sbin/nginx', package: 'nginx-light' },
  camo: { path: '/usr/share/camo/server.js', package: 'camo' },
  openssl: { path: 'openssl', package: 'openssl' },
  curl: { path: 'curl', package: 'curl' },
  promtool: { path: 'promtool', package: 'prometheus' },
} as const;

export type Program = keyof typeof PROGRAMS;

function installed(path: string): boolean {
  if (isAbsolute(path)) return existsSync(path);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, path)));
}

/** For a test's `skip` option: false when every program is there, else why the test cannot run. */
export function unlessInstalled(...programs: readonly Program[]): false | string {
  const missing = programs.filter((program) => !installed(PROGRAMS[program].path));
  if (missing.length === 0) return false;
  const reason = `not installed: ${missing.map((program) => `${PROGRAMS[program].path} (apt-get install ${PROGRAMS[program].package})`).join(', ')}`;
  if (process.env.ECAMO_TESTS_REQUIRE_PROGRAMS !== undefined) throw new Error(`ECAMO_TESTS_REQUIRE_PROGRAMS is set and a program is ${reason}`);
  return reason;
}
