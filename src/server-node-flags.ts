/**
 * The Node flags the server runs with: `npm start` and the Docker image pass them, and the benchmarks
 * start the server with them too (bench/harness.ts), so that they measure what users run.
 *
 * `--max-semi-space-size=64`: a young generation of 64 MB semi-spaces instead of V8's 16. An update
 * check allocates about a kilobyte that dies at once; with small semi-spaces, the objects of the
 * requests in flight at each scavenge were promoted to the old generation, and full mark-compacts
 * (up to 50 ms each, on the event loop) collected them. Measured with bench/scale.ts (1,000 apps,
 * 100,000 devices, SQLite, steady state, two runs each way): 38-39 µs of CPU per check became 30-31,
 * p99 11.8 ms became 4.7, for about 60 MB more RSS.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
