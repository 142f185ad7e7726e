/**
 * Preloaded (`--import`) into the CLI processes bench/upload.ts runs. When the process exits it writes
 * its peak resident memory to the file named by BENCH_PEAK_RSS_FILE: VmHWM from /proc/self/status (the
 * high-water mark of this process image, reset by exec) and process.resourceUsage().maxRSS (which on
 * Linux may carry over the parent's mark from fork; reported for comparison only). Both in KiB.
 */
import fs from 'node:fs';

const target = process.env.BENCH_PEAK_RSS_FILE;
if (target) {
  process.on('exit', () => {
    let vmHwmKb: number | null = null;
    try {
      const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
      if (match) vmHwmKb = Number(match[1]);
    } catch {
      // Not Linux: only maxRSS then.
    }
    fs.writeFileSync(target, JSON.stringify({ vmHwmKb, maxRssKb: process.resourceUsage().maxRSS }));
  });
}
