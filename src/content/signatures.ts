/**
 * The common image formats told by their signature alone, before file-type
 * (sniff.ts) is asked: file-type costs 4-25 µs a call (a tokenizer, a
 * promise per read, a few hundred checks in turn), these checks well under
 * one (docs/performance.md#the-byte-check).
 *
 * The rule is that this answer never differs from file-type's: each check
 * below answers only where file-type 21 answers the same type, with no check
 * of its own matching first, and returns undefined (file-type decides) for
 * anything else, odd or short. test/content/signatures.test.ts holds the two
 * to the same answers. Read against file-type's `detectConfident` when
 * file-type is upgraded.
 */

/**
 * The MIME type file-type would give `bytes` (at most SNIFF_WINDOW_BYTES of a
 * body, its start), when they are a PNG, APNG, GIF, JPEG, WebP or AVIF whose
 * start leaves no doubt; undefined otherwise.
 */
export function imageTypeBySignature(bytes: Uint8Array): string | undefined {
  switch (bytes[0]) {
    case 0x89:
      return pngType(bytes);
    case 0x47: // G
      return startsWith(bytes, GIF87A, 0) || startsWith(bytes, GIF89A, 0) ? 'image/gif' : undefined;
    case 0xff:
      // FF D8 FF then F7 is JPEG-LS (image/jls) to file-type; a fourth byte must be there to tell.
      return bytes.length >= 4 && bytes[1] === 0xd8 && bytes[2] === 0xff && bytes[3] !== 0xf7 ? 'image/jpeg' : undefined;
    case 0x52: // R
      return webpType(bytes);
    case 0x00:
      return avifType(bytes);
    default:
      return undefined;
  }
}

const GIF87A = ascii('GIF87a');
const GIF89A = ascii('GIF89a');
const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const IHDR = ascii('IHDR');
const IDAT = ascii('IDAT');
const ACTL = ascii('acTL');
const RIFF = ascii('RIFF');
const WEBP = ascii('WEBP');
const FTYP = ascii('ftyp');
const AVIF_BRANDS = [ascii('avif'), ascii('avis')];

/**
 * PNG or APNG, as file-type tells them: it walks the chunks after the
 * signature and answers image/apng when an `acTL` chunk comes before the first
 * `IDAT`, image/png at that `IDAT`. Walked here the same way, within the bytes
 * given; every case where file-type would stop otherwise (a first chunk that
 * is not a 13-byte IHDR, a negative length, a chunk that runs past the bytes,
 * its end of the walk: fewer than 9 bytes left) goes to file-type. Its limit
 * of 512 chunks is never reached in a window: a chunk takes 12 bytes at least.
 */
function pngType(bytes: Uint8Array): string | undefined {
  if (!startsWith(bytes, PNG_SIGNATURE, 0)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = PNG_SIGNATURE.length; at + 8 < bytes.length; ) {
    const length = view.getInt32(at);
    if (length < 0) return undefined;
    const isHeader = startsWith(bytes, IHDR, at + 4);
    if (isHeader !== (at === PNG_SIGNATURE.length) || (isHeader && length !== 13)) return undefined;
    if (startsWith(bytes, IDAT, at + 4)) return 'image/png';
    if (startsWith(bytes, ACTL, at + 4)) return 'image/apng';
    at += 12 + length; // length, type, data, CRC
    if (at > bytes.length) return undefined;
  }
  return undefined;
}

/**
 * RIFF with the form type WEBP. A RIFF size under 1 GiB (its last byte, the
 * size is little-endian, under 0x40) rules out the file-type checks made
 * before its RIFF check that read four letters at offset 4 (`ftyp`, `moov`,
 * ...): a letter is 0x41 or more.
 */
function webpType(bytes: Uint8Array): string | undefined {
  if (bytes.length < 12 || !startsWith(bytes, RIFF, 0) || !startsWith(bytes, WEBP, 8)) return undefined;
  const riffSize = new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(4, true);
  return riffSize < 2 ** 30 ? 'image/webp' : undefined;
}

/**
 * An ISO-BMFF file whose first box is `ftyp` with the major brand `avif` (an
 * image) or `avis` (a sequence). file-type reads the major brand only, never
 * the compatible brands: an AVIF under the major brand `mif1` is image/heif
 * to it, `heic` image/heic, and so on; all of those go to file-type. A box
 * size under 256 (as an `ftyp` box always is: 16 bytes plus 4 a compatible
 * brand) rules out file-type's earlier checks that start 00 00 01 (MPEG-PS).
 */
function avifType(bytes: Uint8Array): string | undefined {
  if (bytes.length < 12 || bytes[1] !== 0 || bytes[2] !== 0 || !startsWith(bytes, FTYP, 4)) return undefined;
  return AVIF_BRANDS.some((brand) => startsWith(bytes, brand, 8)) ? 'image/avif' : undefined;
}

function startsWith(bytes: Uint8Array, expected: Uint8Array, at: number): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let index = 0; index < expected.length; index++) if (bytes[at + index] !== expected[index]) return false;
  return true;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (character) => character.charCodeAt(0));
}
