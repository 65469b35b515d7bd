/**
 * Real image files for tests, each about the smallest its format allows: made
 * once with ImageMagick 6.9 (`convert -size 2x2 xc:red -strip png:red.png`, and
 * alike for the others)
 * and kept here as base64, so that sources in tests send what an image host
 * sends. ecamo checks the bytes of every 200 (http/content-check.ts): a body
 * of a few letters under an image label is refused, as it should be.
 */
import { crc32, deflateSync } from 'node:zlib';

/** 2x2 red PNG, 84 bytes. */
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACAQMAAABIeJ9nAAAAA1BMVEX/AAAZ4gk3AAAADElEQVQI12NgYGAAAAAEAAEnNCcKAAAAAElFTkSuQmCC',
  'base64',
);

/**
 * The PNG made an APNG: an `acTL` chunk (one frame, played forever) between
 * its IHDR, which ends at byte 33, and its data. Its frame chunks are left out:
 * the type is told by `acTL` before the first `IDAT`.
 */
export const APNG = Buffer.concat([PNG.subarray(0, 33), Buffer.from('000000086163544c0000000100000000b42de9a0', 'hex'), PNG.subarray(33)]);

/** 2x2 green GIF, 43 bytes: shorter than the window ecamo reads before it answers. */
export const GIF = Buffer.from('R0lGODlhAgACAPAAAAD/AAAAACH5BAAAAAAALAAAAAACAAIAAAIChFEAOw==', 'base64');

/** 8x8 blue baseline JPEG, 287 bytes. */
export const JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAABAb/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCNAXgr/9k=',
  'base64',
);

/** 2x2 yellow lossless WebP, 36 bytes. */
export const WEBP = Buffer.from('UklGRhwAAABXRUJQVlA4TBAAAAAvAUAAAAfQ//5H/wMR0f8A', 'base64');

/** 8x8 magenta AVIF, 298 bytes. */
export const AVIF = Buffer.from(
  'AAAAHGZ0eXBhdmlmAAAAAGF2aWZtaWYxbWlhZgAAAOptZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAAAA5waXRtAAAAAAABAAAAImlsb2MAAAAAREAAAQABAAAAAAEOAAEAAAAAAAAAHAAAACNpaW5mAAAAAAABAAAAFWluZmUCAAAAAAEAAGF2MDEAAAAAamlwcnAAAABLaXBjbwAAABNjb2xybmNseAACAAIABoAAAAAMYXYxQ4EADAAAAAAUaXNwZQAAAAAAAAAIAAAACAAAABBwaXhpAAAAAAMICAgAAAAXaXBtYQAAAAAAAAABAAEEgYIDhAAAACRtZGF0EgAKBRgIv2BCMhEYAAooooQAALAIIDlzs1DHEA==',
  'base64',
);

/** 2x2 cyan BMP, 70 bytes. */
export const BMP = Buffer.from('Qk1GAAAAAAAAADYAAAAoAAAAAgAAAAIAAAABABgAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAA//8A//8AAAD//wD//wAAAA==', 'base64');

/** 1x1 black icon, 70 bytes. */
export const ICO = Buffer.from('AAABAAEAAQEAAAEAIAAwAAAAFgAAACgAAAABAAAAAgAAAAEAIAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD/AAAAAA==', 'base64');

/** 1x1 black TIFF, 260 bytes. */
export const TIFF = Buffer.from(
  'SUkqAAoAAAAAAA8AAAEDAAEAAAABAAAAAQEDAAEAAAABAAAAAgEDAAEAAAAQAAAAAwEDAAEAAAABAAAABgEDAAEAAAABAAAACgEDAAEAAAABAAAAEQEEAAEAAAAIAAAAEgEDAAEAAAABAAAAFQEDAAEAAAABAAAAFgEDAAEAAAABAAAAFwEEAAEAAAACAAAAHAEDAAEAAAABAAAAKQEDAAIAAAAAAAEAPgEFAAIAAAD0AAAAPwEFAAYAAADEAAAAAAAAAIXrUQAAAIAAw/WoAAAAAALNzEwAAAAAAc3MTAAAAIAAzcxMAAAAAAKPwvUAAAAAEDcaoAAAAAACK4cKAAAAIAA=',
  'base64',
);

/** 2x2 white HEIC, 507 bytes. */
export const HEIC = Buffer.from(
  'AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAaptZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAAAA5waXRtAAAAAAACAAAAEGlkYXQAAAAAAAIAAgAAADhpbG9jAQAAAERAAAIAAQAAAAAAAAHOAAEAAAAAAAAALQACAAEAAAAAAAAAAQAAAAAAAAAIAAAAOGlpbmYAAAAAAAIAAAAVaW5mZQIAAAEAAQAAaHZjMQAAAAAVaW5mZQIAAAAAAgAAZ3JpZAAAAADVaXBycAAAALNpcGNvAAAAc2h2Y0MBA3AAAAAAAAAAAAAe8AD8/fj4AAAPAyAAAQAYQAEMAf//A3AAAAMAkAAAAwAAAwAeugJAIQABACdCAQEDcAAAAwCQAAADAAADAB6gIIEFluqumubAgAAAAwCAAAADAIQiAAEABkQBwXPBiQAAABRpc3BlAAAAAAAAAEAAAABAAAAAFGlzcGUAAAAAAAAAAgAAAAIAAAAQcGl4aQAAAAADCAgIAAAAGmlwbWEAAAAAAAAAAgABAoECAAICA4QAAAAaaXJlZgAAAAAAAAAOZGltZwACAAEAAQAAADVtZGF0AAAAKSgBrxMhNZr14aOah90k7c3FpzsXncDSFwCjQ2iTas97jjaAh3lIYvxw',
  'base64',
);

/** A 2x2 SVG with an XML declaration, a comment and a doctype before its root, as editors write them. */
export const SVG = Buffer.from(
  '<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by hand -->\n' +
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n' +
    '<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"><rect width="2" height="2" fill="red"/></svg>\n',
);

/** The real images by the type they are served under. */
export const IMAGES: Readonly<Record<string, Buffer>> = {
  'image/png': PNG,
  'image/gif': GIF,
  'image/jpeg': JPEG,
  'image/webp': WEBP,
  'image/avif': AVIF,
  'image/svg+xml': SVG,
  'image/bmp': BMP,
  'image/x-icon': ICO,
  'image/tiff': TIFF,
  'image/heic': HEIC,
};

/**
 * A valid greyscale PNG of at least `bytes` bytes (its pixel data stored
 * uncompressed, 1024 pixels a row): an image as large as a test needs, that
 * any decoder opens.
 */
export function largePng(bytes: number): Buffer {
  const width = 1024;
  const height = Math.max(1, Math.ceil(bytes / (width + 1)));
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth; colour type 0 (grey), deflate, no filter, no interlace follow as zeros
  const rows = Buffer.alloc(height * (width + 1));
  for (let row = 0; row < height; row++) rows.fill(row % 256, row * (width + 1) + 1, (row + 1) * (width + 1));
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(rows, { level: 0 })), chunk('IEND', Buffer.alloc(0))]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/**
 * PNG's bytes padded with zeros after its end (which decoders ignore), or cut
 * short when `length` is under its 84 bytes: a body of an exact length that
 * starts as an image does.
 */
export function paddedPng(length: number): Buffer {
  return Buffer.concat([PNG, Buffer.alloc(Math.max(0, length - PNG.length))]).subarray(0, length);
}
