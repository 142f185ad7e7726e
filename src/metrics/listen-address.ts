import net from 'node:net';

/** Where the metrics listener binds: `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (every address). */
export interface ListenAddress {
  host: string;
  port: number;
}

const FORM = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/i;

/** What is wrong with a `HOST:PORT` (null when nothing is). */
export function listenAddressProblem(text: string): string | null {
  const match = FORM.exec(text.trim());
  if (!match) return 'expected HOST:PORT such as 127.0.0.1:9464, [::1]:9464 or :9464';
  const [, v6, host, port] = match;
  if (v6 !== undefined && net.isIPv6(v6) === false) return `${v6} is not an IPv6 address`;
  if (host && !/^[a-z0-9.-]+$/i.test(host)) return `${host} is not a host name or address`;
  if (Number(port) > 65535) return 'the port must be at most 65535';
  return null;
}

/** A checked `HOST:PORT` as host and port (`:PORT`: every address); undefined stays undefined. */
export function parseListenAddress(text: string | undefined): ListenAddress | undefined {
  if (text === undefined) return undefined;
  const [, v6, host, port] = FORM.exec(text.trim())!;
  return { host: v6 ?? (host || '0.0.0.0'), port: Number(port) };
}
