/** One server-sent event: its id (when it had one) and its data lines joined. */
export interface SseMessage {
  id?: string;
  data: string;
}

/**
 * A reader of a text/event-stream (the HTML spec's parsing, for the fields Overair sends): feed it
 * the text as it arrives, in any pieces; it returns the events completed so far. Comments
 * (heartbeats) are skipped; `retry` is kept for the reconnection delay.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private id: string | undefined;
  /** The reconnection delay the server asked for (ms), if it did. */
  retryMs: number | undefined;

  feed(text: string): SseMessage[] {
    this.buffer += text;
    const messages: SseMessage[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith('\r\n', newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + width);
      if (line === '') {
        if (this.data.length > 0) {
          messages.push({ ...(this.id !== undefined && { id: this.id }), data: this.data.join('\n') });
        }
        this.data = [];
        this.id = undefined;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'id') this.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    return messages;
  }
}
