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
 * huge pages (2 MB) for the large blocks it maps, where the kernel's THP mode is `madvise` (Debian's
 * and Ubuntu's default; `always` gives them anyway, `never` not at all). The device memory
 * (services/device-memory.ts) is such blocks: 53 MB at a million devices, read at one random place
 * per update check. On 4 KB pages each of those reads missed the TLB, and the page-table walks pushed
 * out what the rest of the check had cached: at 1M devices a check cost 38-44 µs of CPU against 30-32
 * at 100k. With huge pages, 32-38 µs (bench/scale.ts, 1,000 apps, 1M devices, SQLite, steady state,
 * 4-5 runs each way in three runs of the bench). Other C libraries (musl) and other systems ignore it.
 * glibc reads it when the process starts: it cannot be set from inside the server.
 */
export const SERVER_ENVIRONMENT: Readonly<Record<string, string>> = {
  GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1',
};
