/** Step timings an integration test prints at the end (printed, never asserted: goals live in benchmarks). */
export class Timings {
  readonly byName: Record<string, number[]> = {};

  record(name: string, ms: number): void {
    (this.byName[name] ??= []).push(ms);
  }

  /** Runs `fn` and records how long it took under `name`. */
  async timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.record(name, performance.now() - start);
    }
  }

  print(title: string): void {
    const lines = Object.entries(this.byName).map(
      ([name, ms]) => `  ${name}: ${ms.map((m) => m.toFixed(1)).join(', ')} ms`,
    );
    console.log(`${title}:\n${lines.join('\n')}`);
  }
}
