/**
 * The Node flags and environment the server runs with in production: the Docker image and the
 * systemd unit of docs/deployment.md set both, `npm start` passes the flags, and the benchmarks start
 * the server with both (bench/harness.ts), so that they measure what users run.
 *
 * `--max-semi-space-size=64`: a young generation of 64 MB semi-spaces instead of V8's 16. An update
 * check allocates about a kilobyte that dies at once; with small semi-spaces, the objects of the
 * requests in flight at each scavenge were promoted to the old generation, and full mark-compacts
 * (up to 50 ms each, on the event loop) collected them. Measured with bench/scale.ts (1,000 apps,
 * 100,000 devices, SQLite, steady state, two runs each way): 38-39 µs of CPU per check became 30-31,
 * p99 11.8 ms became 4.7, for about 60 MB more RSS.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/**
 * `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`: glibc (2.35 and newer) asks the kernel for transparent
 * huge pages (2 MB) for the large blocks it maps, where the kernel's THP mode is `madvise` (Ubuntu's
 * default, and this project's machines'; `always` gives them anyway, `never` not at all). The device
 * memory (services/device-memory.ts) is such blocks: 53 MB at a million devices, read at one random
 * place per update check. Measured with bench/scale.ts (1,000 apps, SQLite, steady state): a check
 * cost 30-32 µs of CPU at 100k devices; at 1M, 33-44 µs on 4 KB pages (median 40, 12 runs) and
 * 31-38 µs with huge pages (median 34, 7 runs). The likely cause, not measured directly: each random
 * read missed the TLB, and the page-table walks evicted what the rest of the check had cached. Other
 * C libraries (musl) and other systems ignore the variable. glibc reads it when the process starts:
 * the server cannot set it for itself.
 */
export const SERVER_ENVIRONMENT: Readonly<Record<string, string>> = {
  GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1',
};
