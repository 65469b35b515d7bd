import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until `condition` holds (no deadline of its own: the test runner's timeout is the bound). */
export async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await sleep(10);
}
