import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.js';

describe('SseParser', () => {
  it('reads events split anywhere, skipping comments', () => {
    const parser = new SseParser();
    const text =
      'retry: 2000\n: watching\n\nid: a.1\ndata: {"kind":"check"}\n\n: keep-alive\n\ndata: {"kind":"gap"}\n\n';
    const messages = [];
    for (const piece of text.match(/.{1,3}/gs)!) messages.push(...parser.feed(piece));
    expect(messages).toEqual([{ id: 'a.1', data: '{"kind":"check"}' }, { data: '{"kind":"gap"}' }]);
    expect(parser.retryMs).toBe(2000);
  });

  it('joins data lines and accepts CRLF', () => {
    expect(new SseParser().feed('data: one\r\ndata:two\r\n\r\n')).toEqual([{ data: 'one\ntwo' }]);
  });
});
