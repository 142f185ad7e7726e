/**
 * Runs tasks with at most `limit` of them in flight. `add` waits for a free slot before it starts the
 * task, so whoever produces the tasks is held back too (memory stays bounded), and throws the first
 * task failure instead of starting more once one has failed. `settle` waits for every task started,
 * failed or not, and then throws that first failure: after it returns or throws, nothing is running.
 */
export class TaskGroup {
  private running = 0;
  private failed = false;
  private failure: unknown;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`concurrency limit must be at least 1, not ${limit}`);
  }

  async add(task: () => Promise<void>): Promise<void> {
    while (this.running >= this.limit && !this.failed) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (this.failed) throw this.failure;
    this.running++;
    void task().then(
      () => this.done(),
      (error: unknown) => {
        if (!this.failed) [this.failed, this.failure] = [true, error];
        this.done();
      },
    );
  }

  /** Waits until no task runs any more, then throws the first failure, if any. */
  async settle(): Promise<void> {
    while (this.running > 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.failed) throw this.failure;
  }

  private done(): void {
    this.running--;
    // Everyone waiting re-checks: a slot is free, a failure happened, or (settle) all are done.
    for (const wake of this.waiting.splice(0)) wake();
  }
}

/** Calls `task` for each item, at most `limit` at a time; waits for all started, throws the first failure. */
export async function forEachLimited<T>(
  items: Iterable<T>,
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const group = new TaskGroup(limit);
  try {
    for (const item of items) await group.add(() => task(item));
  } finally {
    await group.settle();
  }
}

/** Runs one task at a time, in the order they came; a failure fails its own caller only. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
