import { describe, expect, it } from 'vitest';
import { eventJson, MAX_EVENT_BYTES, type LiveEvent } from './live-events.js';
import { explainAnswer } from './live-reason.js';

const check = (customId: string): LiveEvent => ({
  kind: 'check',
  app_id: 'com.example.app',
  device_id: 'device-1',
  at: '2026-12-07T08:00:00.000Z',
  sent: {
    platform: 'android',
    version_name: '1.0.0',
    version_build: '1.0.0',
    version_code: '1',
    version_os: '14',
    plugin_version: '7.0.0',
    custom_id: customId,
    default_channel: '',
    is_emulator: false,
    is_prod: true,
  },
  answer: { outcome: 'update', version: '1.1.0', channel: 'production' },
  reason: 'Channel "production" serves 1.1.0',
});

describe('explainAnswer', () => {
  it('says which channel, by which rule, and what was served', () => {
    expect(
      explainAnswer(
        { outcome: 'update', version: '1.1.0', channel: 'production' },
        { source: 'default', rollout: null, currentVersion: '1.0.0' },
      ),
    ).toBe(`Channel "production" (the app's default channel) serves 1.1.0; the device runs 1.0.0`);
  });

  it('names the rollout and whether the device is in its slice', () => {
    expect(
      explainAnswer(
        { outcome: 'up_to_date', channel: 'beta', error: 'no_new_version_available' },
        {
          source: 'override',
          rollout: { version: '2.0.0', percent: 10, inSlice: false },
          currentVersion: '1.0.0',
        },
      ),
    ).toContain(
      'pinned to it by an admin) serves what the device runs (1.0.0) or nothing; the device is outside the 10% rollout of 2.0.0',
    );
  });

  it("gives a refusal's own message", () => {
    expect(
      explainAnswer(
        {
          outcome: 'blocked',
          channel: 'production',
          error: 'native_version_too_old',
          message: 'Bundle 2 needs native 3',
        },
        { source: 'requested', currentVersion: '1.0.0' },
      ),
    ).toBe('Channel "production" (asked for by the device (defaultChannel)): Bundle 2 needs native 3');
  });
});

describe('eventJson', () => {
  it('keeps an event that fits as it is', () => {
    expect(JSON.parse(eventJson(check('abc')))).toEqual(check('abc'));
  });

  it('trims long fields so that a NOTIFY payload stays under 8000 bytes', () => {
    const text = eventJson(check('é'.repeat(20_000)));
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    const parsed = JSON.parse(text);
    expect(parsed.truncated).toBe(true);
    expect(parsed.answer.version).toBe('1.1.0');
    expect(parsed.sent.custom_id.length).toBeLessThan(300);
  });

  it('keeps who and when whatever else must go', () => {
    const text = eventJson(check('x'.repeat(100)), 150);
    expect(JSON.parse(text)).toEqual({
      kind: 'check',
      app_id: 'com.example.app',
      device_id: 'device-1',
      at: '2026-12-07T08:00:00.000Z',
      truncated: true,
    });
  });
});
