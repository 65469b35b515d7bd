import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileTypeFromBuffer } from 'file-type/core';
import { imageTypeBySignature } from '../../src/content/signatures.js';
import { APNG, AVIF, GIF, HEIC, IMAGES, JPEG, largePng, PNG, WEBP } from '../helpers/images.js';

const SIGNED = { PNG, APNG, GIF, JPEG, WEBP, AVIF, LARGE_PNG: largePng(10_000).subarray(0, 4100) };

/**
 * Asks both and fails where the fast path answers otherwise than file-type;
 * says whether the fast path answered at all.
 */
async function agrees(bytes: Buffer, what: string): Promise<boolean> {
  const fast = imageTypeBySignature(bytes);
  if (fast !== undefined) assert.equal(fast, (await fileTypeFromBuffer(bytes))?.mime, `${what}: ${bytes.subarray(0, 48).toString('hex')}`);
  return fast !== undefined;
}

function latin1(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** An ISO-BMFF start: a 28-byte `ftyp` box with `major` and two compatible brands, then a `meta` box header. */
function ftyp(major: string, compatible = 'mif1miaf', size = 28): Buffer {
  const box = Buffer.concat([Buffer.alloc(4), latin1(`ftyp${major}\0\0\0\0${compatible}`), AVIF.subarray(28, 64)]);
  box.writeUInt32BE(size, 0);
  return box;
}

/** A PNG signature followed by these chunks (length as given, then type, then `length` bytes of data and a CRC). */
function pngOf(...chunks: [length: number, type: string][]): Buffer {
  return Buffer.concat([
    PNG.subarray(0, 8),
    ...chunks.map(([length, type]) => {
      const head = Buffer.alloc(8);
      head.writeInt32BE(length, 0);
      head.write(type, 4, 'latin1');
      return Buffer.concat([head, Buffer.alloc(Math.max(0, length) + 4)]);
    }),
  ]);
}

describe('the signature fast path, against file-type', () => {
  it('answers for the common images, as file-type does', async () => {
    for (const [name, bytes] of Object.entries(SIGNED)) assert.equal(await agrees(bytes, name), true, `${name} left to file-type`);
    assert.equal(imageTypeBySignature(APNG), 'image/apng');
  });

  it('agrees on every fixture and every prefix of it', async () => {
    for (const [type, image] of Object.entries({ ...IMAGES, ...SIGNED })) {
      for (let length = 0; length <= Math.min(image.length, 600); length++) await agrees(image.subarray(0, length), `${type}[0, ${length})`);
    }
    // Too short to tell: the rest of the signature, or the byte after it, is missing.
    for (const bytes of [GIF.subarray(0, 5), JPEG.subarray(0, 3), WEBP.subarray(0, 11), AVIF.subarray(0, 11), PNG.subarray(0, 16)]) {
      assert.equal(imageTypeBySignature(bytes), undefined, bytes.toString('hex'));
    }
  });

  it('leaves RIFF of other forms, and RIFF sizes that spell letters, to file-type', async () => {
    const riff = (size: string, form: string): Buffer => Buffer.concat([latin1(`RIFF${size}${form}`), WEBP.subarray(12)]);
    const cases = [riff('\x1c\0\0\0', 'WAVE'), riff('\x1c\0\0\0', 'AVI '), riff('\x1c\0\0\0', 'QLCM'), riff('\x1c\0\0\0', 'WEBp'), riff('ftyp', 'WEBP'), riff('moov', 'WEBP'), riff('\0\0\0\x40', 'WEBP')];
    for (const bytes of cases) {
      assert.equal(await agrees(bytes, 'RIFF'), false, bytes.subarray(0, 12).toString('latin1'));
    }
    assert.equal(imageTypeBySignature(riff('\xff\xff\xff\x3f', 'WEBP')), 'image/webp');
  });

  it('takes an ftyp box as AVIF by its major brand only, as file-type does', async () => {
    for (const major of ['avif', 'avis']) assert.equal(await agrees(ftyp(major), major), true, major);
    // file-type: mif1 is image/heif, heic image/heic, msf1 and hevc sequences; an AVIF whose major brand is mif1 with avif
    // among the compatible ones is image/heif to it, so it is file-type's to say.
    for (const major of ['mif1', 'msf1', 'heic', 'heix', 'hevc', 'mp42', 'isom', 'avio', 'avi\0', 'AVIF', 'crx ']) {
      assert.equal(await agrees(ftyp(major, 'avifmiaf'), major), false, major);
    }
    assert.equal(await agrees(HEIC, 'HEIC'), false);
    // A size of 00 00 01 BA before `ftyp` is MPEG-PS to file-type; a size of 256 or more is never taken here.
    for (const size of [0x1ba, 0x100]) assert.equal(await agrees(ftyp('avif', 'mif1miaf', size), String(size)), false);
  });

  it('walks PNG chunks to tell APNG only where file-type would', async () => {
    const cases: [Buffer, string | undefined][] = [
      [pngOf([13, 'IHDR'], [0, 'IDAT']), 'image/png'],
      [pngOf([13, 'IHDR'], [1, 'gAMA'], [8, 'acTL'], [0, 'IDAT']), 'image/apng'],
      [pngOf([13, 'IHDR'], [0, 'IDAT'], [8, 'acTL']), 'image/png'], // acTL after the data: an ordinary PNG
      [pngOf([12, 'IHDR'], [0, 'IDAT']), undefined], // no 13-byte header: file-type finds nothing
      [pngOf([13, 'IHDR'], [13, 'IHDR'], [0, 'IDAT']), undefined],
      [pngOf([4, 'CgBI'], [13, 'IHDR'], [0, 'IDAT']), undefined], // Apple's CgBI: file-type's
      [pngOf([0, 'IDAT']), undefined],
      [pngOf([13, 'IHDR'], [-1, 'tEXt'], [0, 'IDAT']), undefined],
      [pngOf([13, 'IHDR'], [100_000, 'tEXt']), undefined], // runs past the window
      [Buffer.concat([pngOf([13, 'IHDR']), latin1('\0\0\0\x08acTL')]), undefined], // ends on a chunk header: file-type stops before it
      [Buffer.concat([pngOf([13, 'IHDR']), latin1('\0\0\0\x08acTL\0')]), 'image/apng'],
    ];
    for (const [bytes, type] of cases) {
      assert.equal(imageTypeBySignature(bytes), type, bytes.toString('hex'));
      await agrees(bytes, 'PNG chunks');
    }
  });

  it('agrees on polyglots and on things that look almost like images', async () => {
    const cases = [
      Buffer.concat([GIF, latin1('<script>alert(1)</script>')]),
      Buffer.concat([PNG, latin1('<html><body>')]),
      Buffer.concat([JPEG, Buffer.from('504b0304140000000800', 'hex')]),
      latin1('GIF89a<html><script>alert(1)</script>'),
      latin1('GIF90a'),
      latin1('\xff\xd8\xff\xf7\0\x0b\x08\0\x01'), // JPEG-LS
      latin1('\xff\xd8\xfe\xe0'),
      Buffer.concat([latin1('\xef\xbb\xbf'), PNG]), // a BOM first: file-type skips it, the fast path does not
      Buffer.concat([latin1('\n'), GIF]),
    ];
    for (const bytes of cases) await agrees(bytes, 'polyglot');
    assert.equal(imageTypeBySignature(cases[0]!), 'image/gif');
    assert.equal(imageTypeBySignature(cases[5]!), undefined);
  });

  it('agrees when any one of the first 48 bytes of an image is changed', async () => {
    for (const [name, image] of Object.entries(SIGNED)) {
      for (let at = 0; at < Math.min(48, image.length); at++) {
        for (const value of [0x00, 0x01, 0x0d, 0x20, 0x41, 0x7f, 0x80, 0xf7, 0xff, image[at]! ^ 0x01, image[at]! ^ 0x20]) {
          const changed = Buffer.from(image);
          changed[at] = value;
          await agrees(changed, `${name} with byte ${at} = ${value}`);
        }
      }
    }
  });
});
