import fc from 'fast-check';
import { DateTime, IANAZone } from 'luxon';
import { describe, expect, it } from 'vitest';
import { addCalendarDuration, periodBounds, periodIndexAt } from '../../src/calendar';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

// Zones with DST north and south, half- and quarter-hour offsets, a 30-minute DST (Lord Howe), DST switched at
// midnight (Havana, Santiago) and zones that changed their rules within the range (Moscow, Casablanca, Sao Paulo).
const ZONES = [
  'UTC', 'America/New_York', 'Pacific/Auckland', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kathmandu',
  'America/St_Johns', 'Pacific/Chatham', 'America/Santiago', 'America/Havana', 'Europe/Moscow', 'Africa/Casablanca',
  'America/Sao_Paulo', 'Asia/Tehran',
];

const anchors = fc.record({
  anchor_ms: fc.integer({ min: Date.parse('1990-01-01T00:00:00Z'), max: Date.parse('2060-01-01T00:00:00Z') }),
  time_zone: fc.constantFrom(...ZONES),
});

const offsetMs = (zone: IANAZone, ms: number) => zone.offset(ms) * MINUTE_MS;

/**
 * The wall-clock reading `local_ms` (written as if UTC) in `zone`: every instant that shows it. Empty when the
 * zone skips it. Independent of the implementation: it tries the offsets in force a day either side.
 */
function instantsShowing(zone: IANAZone, local_ms: number): number[] {
  const offsets = new Set([offsetMs(zone, local_ms - DAY_MS), offsetMs(zone, local_ms + DAY_MS)]);
  return [...offsets].map((o) => local_ms - o).filter((t) => t + offsetMs(zone, t) === local_ms).sort((a, b) => a - b);
}

describe('billing periods, for any anchor and zone', () => {
  it('tile time with no gap or overlap, each starting on min(anchor day, days in month) at the anchor’s wall clock', () => {
    fc.assert(fc.property(anchors, fc.integer({ min: 0, max: 120 }), ({ anchor_ms, time_zone }, first) => {
      const zone = IANAZone.create(time_zone);
      const anchor = DateTime.fromMillis(anchor_ms, { zone: time_zone });
      const clock_ms = ((anchor.hour * 60 + anchor.minute) * 60 + anchor.second) * 1000 + anchor.millisecond;
      let previous = periodBounds({ anchor_ms, time_zone, index: first });
      for (let index = first + 1; index <= first + 24; index++) {
        const period = periodBounds({ anchor_ms, time_zone, index });
        expect(period.start_ms).toBe(previous.end_ms);
        expect(period.end_ms).toBeGreaterThan(period.start_ms);

        const start = DateTime.fromMillis(period.start_ms, { zone: time_zone });
        const month = anchor.plus({ months: index }).startOf('month'); // only year and month are read
        expect([start.year, start.month]).toEqual([month.year, month.month]);
        expect(start.day).toBe(Math.min(anchor.day, month.daysInMonth!));

        // Wanted: that day at the anchor's wall-clock time. If it shows, the start is its first showing; if the
        // zone skips it, the start is it read with the offset in force before the gap (pushed forward by the gap).
        const wanted_ms = Date.UTC(start.year, start.month - 1, start.day) + clock_ms;
        const showing = instantsShowing(zone, wanted_ms);
        if (showing.length > 0) expect(period.start_ms).toBe(showing[0]);
        else expect(period.start_ms).toBe(wanted_ms - offsetMs(zone, wanted_ms - DAY_MS));
        previous = period;
      }
    }), { numRuns: 300 });
  });

  it('place every instant after the anchor in exactly the period whose bounds contain it', () => {
    const later = fc.integer({ min: 0, max: 40 * 366 * DAY_MS });
    fc.assert(fc.property(anchors, later, fc.constantFrom(1, 1, 1, 3, 12), ({ anchor_ms, time_zone }, after_ms, interval_months) => {
      const at_ms = anchor_ms + after_ms;
      const index = periodIndexAt({ anchor_ms, time_zone, at_ms, interval_months });
      const { start_ms, end_ms } = periodBounds({ anchor_ms, time_zone, index, interval_months });
      expect(start_ms).toBeLessThanOrEqual(at_ms);
      expect(at_ms).toBeLessThan(end_ms);
    }), { numRuns: 400 });
  });

  it('start where the anchor plus n months would, so a bundle valid "P{n}M" from the anchor ends on a boundary', () => {
    fc.assert(fc.property(anchors, fc.integer({ min: 1, max: 240 }), ({ anchor_ms, time_zone }, index) => {
      expect(periodBounds({ anchor_ms, time_zone, index }).start_ms)
        .toBe(addCalendarDuration({ from_ms: anchor_ms, duration: `P${index}M`, time_zone }));
    }), { numRuns: 300 });
  });
});
