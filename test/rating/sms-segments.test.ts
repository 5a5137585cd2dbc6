import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { segmentsOfLength, segmentsOfText } from '../../src/rating';

const a = (n: number) => 'a'.repeat(n);

describe('SMS segments from text', () => {
  it.each([
    ['empty text is still one message', '', 'gsm7', 0, 1],
    ['160 GSM-7 characters fit one SMS', a(160), 'gsm7', 160, 1],
    ['161 GSM-7 characters need 2 parts of 153', a(161), 'gsm7', 161, 2],
    ['306 GSM-7 characters fill exactly 2 parts', a(306), 'gsm7', 306, 2],
    ['307 GSM-7 characters need 3 parts', a(307), 'gsm7', 307, 3],
    ['€ counts 2 septets', '€', 'gsm7', 2, 1],
    ['80 € are 160 septets: one SMS', '€'.repeat(80), 'gsm7', 160, 1],
    ['81 € are 162 septets: 76 whole escapes per part', '€'.repeat(81), 'gsm7', 162, 2],
    ['159 characters and a { are 161 septets', `${a(159)}{`, 'gsm7', 161, 2],
    ['an escape never straddles parts', `${a(152)}€${a(152)}`, 'gsm7', 306, 3],
    ['the accents GSM-7 has stay GSM-7', 'Ça va à Øresund, señor', 'gsm7', 22, 1],
    ['an accent GSM-7 lacks makes it UCS-2', 'coûte', 'ucs2', 5, 1],
    ['one character outside GSM-7 makes the whole text UCS-2', `${a(69)}ç`, 'ucs2', 70, 1],
    ['70 UCS-2 units fit one SMS', `${a(69)}ж`, 'ucs2', 70, 1],
    ['an emoji message of 71 UTF-16 units needs 2 parts', `${a(69)}😀`, 'ucs2', 71, 2],
    ['134 UCS-2 units fill exactly 2 parts of 67', `ж${a(133)}`, 'ucs2', 134, 2],
    ['a surrogate pair is never split', `${a(66)}${'😀'.repeat(34)}`, 'ucs2', 134, 3],
    ['a lone surrogate is one unit', `\ud800${a(69)}`, 'ucs2', 70, 1],
  ])('%s', (_name, text, encoding, units, segments) => {
    expect(segmentsOfText(text)).toEqual({ encoding, units, segments });
  });

  it('the GSM-7 basic table is GSM-7, and so is each extension character', () => {
    expect(segmentsOfText('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà').encoding).toBe('gsm7');
    for (const ch of '\f^{}\\[~]|€') expect(segmentsOfText(ch)).toEqual({ encoding: 'gsm7', units: 2, segments: 1 });
    for (const ch of 'çÀ`😀ж') expect(segmentsOfText(ch).encoding).toBe('ucs2');
  });

  it('never counts fewer parts than the units need, nor more than one extra per part', () => {
    const alphabet = fc.constantFrom('a', '€', '{', 'ж', '😀', ' ', '\n');
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 400 }), (chars) => {
      const { encoding, units, segments } = segmentsOfText(chars.join(''));
      const [single, multi] = encoding === 'gsm7' ? [160, 153] : [70, 67];
      if (units <= single) {
        expect(segments).toBe(1);
      } else {
        expect(segments).toBeGreaterThanOrEqual(Math.ceil(units / multi));
        // each part wastes at most one unit (a 2-unit character that did not fit)
        expect(segments).toBeLessThanOrEqual(Math.ceil(units / (multi - 1)));
      }
    }));
  });
});

describe('SMS segments from a stated length', () => {
  it.each([
    [0, 'gsm7', 1], [160, 'gsm7', 1], [161, 'gsm7', 2], [306, 'gsm7', 2], [307, 'gsm7', 3],
    [70, 'ucs2', 1], [71, 'ucs2', 2], [134, 'ucs2', 2], [135, 'ucs2', 3],
  ] as const)('%i %s units → %i segments', (length, encoding, segments) => {
    expect(segmentsOfLength(length, encoding)).toEqual({ encoding, units: length, segments });
  });
});
