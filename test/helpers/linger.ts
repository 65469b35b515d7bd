/**
 * A program that runs until killed, with a child of its own in its process
 * group (as `ecamo serve` has its workers), for children.system.test.ts. Its one
 * log line names that child.
 */
import { spawn } from 'node:child_process';

// It waits for its child, which never ends.
const grandchild = spawn('sleep', ['infinity'], { stdio: 'ignore' });
console.log(JSON.stringify({ msg: 'lingering', grandchild: grandchild.pid }));
