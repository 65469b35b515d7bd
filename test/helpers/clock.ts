/** Running code as of another time: node:test's mock of Date, stopped there while `run` runs. */
import { mock } from 'node:test';

/** Runs `run` with Date stopped at `epochMs`. */
export async function asOf<T>(epochMs: number, run: () => Promise<T>): Promise<T> {
  mock.timers.enable({ apis: ['Date'], now: epochMs });
  try {
    return await run();
  } finally {
    mock.timers.reset();
  }
}

/** Runs `sign` with the clock `secondsAgo` in the past. */
export function signedInThePast<T>(secondsAgo: number, sign: () => Promise<T>): Promise<T> {
  return asOf(Date.now() - secondsAgo * 1000, sign);
}
