/** What each Accept a client may send is reduced to (src/cache/accept-class.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptClass, type AcceptClass } from '../../src/cache/accept-class.js';

const CASES: readonly (readonly [string | undefined, AcceptClass])[] = [
  // What browsers send for images.
  ['image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8', 'avif'],
  ['image/avif,image/webp,*/*', 'avif'],
  ['image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5', 'avif'],
  ['image/webp,*/*', 'webp'],
  ['image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5', 'other'],
  // No header, wildcards only: nothing is named, nothing is assumed.
  [undefined, 'other'],
  ['', 'other'],
  ['*/*', 'other'],
  ['image/*', 'other'],
  // AVIF without WebP: the avif class would ask the source for WebP too.
  ['image/avif', 'other'],
  ['image/avif,image/webp;q=0', 'other'],
  // Weight zero refuses a type, however it is spelt; any other weight accepts it.
  ['image/webp;q=0', 'other'],
  ['image/webp; q=0.', 'other'],
  ['image/webp;Q = 0.000', 'other'],
  ['image/webp;level=1;q=0.0', 'other'],
  ['image/webp;q=0.001', 'webp'],
  ['image/webp;q=1', 'webp'],
  ['image/webp;q=0.0001', 'webp'],
  ['image/avif;q=0,image/webp', 'webp'],
  // Case, spaces and parameters do not hide a type; a longer name is another type.
  [' IMAGE/AVIF ; q=0.9 , Image/WebP', 'avif'],
  ['image/webpx,image/avif2', 'other'],
  ['text/html,image/webp-like', 'other'],
];

test('Accept classes', () => {
  for (const [accept, variant] of CASES) assert.equal(acceptClass(accept), variant, String(accept));
});
