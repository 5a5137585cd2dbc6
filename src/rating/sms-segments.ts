/**
 * SMS segment counting (3GPP TS 23.038 / 23.040). A message that fits the GSM-7 alphabet is sent in septets,
 * anything else as UCS-2 in UTF-16 code units. A concatenated message loses room in each part to its header.
 */

export type SmsEncoding = 'gsm7' | 'ucs2';

export interface SegmentCount {
  encoding: SmsEncoding;
  /** Septets (gsm7) or UTF-16 code units (ucs2). */
  units: number;
  segments: number;
}

/** Capacity of one part, in the encoding's units: a lone message, or each part of a concatenated one. */
export const PART_UNITS = {
  gsm7: { single: 160, multi: 153 },
  ucs2: { single: 70, multi: 67 },
} as const;

/** The most parts a concatenated message can have (the header's part counter is one octet). */
export const MAX_SEGMENTS = 255;

const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** Reached through the escape character, so each costs two septets. */
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

/**
 * Counts a text's units and parts in its encoding. A character never straddles two parts: a real encoder
 * keeps an escape sequence or a surrogate pair whole, so a part can end a unit short and the count can exceed the
 * naive ceil(units / per_part). One pass, no allocation: this runs for every SMS ingested.
 */
function countParts(text: string, encoding: SmsEncoding): { units: number; segments: number } {
  const { single, multi } = PART_UNITS[encoding];
  let units = 0;
  let segments = 1;
  let used = 0; // units in the current part, as if the message were split
  for (let i = 0; i < text.length; i++) {
    let width = 1;
    if (encoding === 'gsm7') {
      if (GSM7_EXTENSION.has(text[i]!)) width = 2;
    } else {
      const c = text.charCodeAt(i);
      // A high surrogate followed by a low one is one character (two units); a lone surrogate is one unit.
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          width = 2;
          i++;
        }
      }
    }
    units += width;
    if (used + width > multi) {
      segments++;
      used = 0;
    }
    used += width;
  }
  return { units, segments: units <= single ? 1 : segments };
}

export function isGsm7(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (!GSM7_BASIC.has(c) && !GSM7_EXTENSION.has(c)) return false;
  }
  return true;
}

/** Segments needed to send this text. An empty message is still one message sent. */
export function segmentsOfText(text: string): SegmentCount {
  const encoding: SmsEncoding = isGsm7(text) ? 'gsm7' : 'ucs2';
  return { encoding, ...countParts(text, encoding) };
}

/** Segments for a length the sender already encoded; nothing is known of where pairs fall, so plain division. */
export function segmentsOfLength(length: number, encoding: SmsEncoding): SegmentCount {
  const { single, multi } = PART_UNITS[encoding];
  const segments = length <= single ? 1 : Math.floor((length + multi - 1) / multi);
  return { encoding, units: length, segments };
}
