import type { CliIo } from './io.js';

/** Prints a result: as JSON under --json, else as the human text `render` makes of it. */
export function emit<T>(io: CliIo, json: boolean, value: T, render: (value: T) => string): void {
  io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : `${render(value)}\n`);
}

/** A plain text table: columns padded to their widest cell. */
export function table(
  headers: string[],
  rows: Array<Array<string | number | boolean | null | undefined>>,
): string {
  if (rows.length === 0) return '(none)';
  const cells = [
    headers,
    ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell)))),
  ];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Key: value lines for one record. */
export function fields(record: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  return Object.entries(record)
    .map(
      ([key, value]) =>
        `${key.padEnd(width)}  ${value === null || value === undefined ? '-' : String(value)}`,
    )
    .join('\n');
}

/** A progress bar on stderr, redrawn at most every 100 ms; silent when not interactive. */
export function progressBar(io: CliIo, enabled: boolean, total: number, label: string) {
  let last = 0;
  const draw = (done: number) => {
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * 30);
    io.stderr(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${Math.round(ratio * 100)}% ${formatBytes(done)}`,
    );
  };
  return {
    update(done: number) {
      if (!enabled || Date.now() - last < 100) return;
      last = Date.now();
      draw(done);
    },
    finish() {
      if (!enabled) return;
      draw(total);
      io.stderr('\n');
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
