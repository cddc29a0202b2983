import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry } from 'prom-client';

/** Connections of one client generation, by state. */
export interface ConnectionCounts {
  active: number;
  idle: number;
}

/** What a rotating client exposes to the connections gauge. */
export interface ConnectionReporter {
  readonly name: string;
  readonly engine: string;
  /** One entry per live generation (the current one and any still draining). */
  connectionsByVersion(): Array<{ version: number; counts: ConnectionCounts }>;
}

/**
 * Prometheus metrics of the consumer library, one set per registry (several
 * pools in one process share it and differ by the `pool` label).
 *
 *   db_rotator_consumer_connections{pool,engine,version,state}   gauge, state = active|idle
 *   db_rotator_consumer_credential_version{pool,engine}          gauge, version in use
 *   db_rotator_consumer_auth_failures_total{pool,engine}         counter
 *   db_rotator_consumer_refreshes_total{pool,engine,reason,result} counter, result = new-version|same-version|error
 *   db_rotator_consumer_swaps_total{pool,engine,result}          counter, result = ok|failed
 *   db_rotator_consumer_drain_timeouts_total{pool,engine}        counter
 *   db_rotator_consumer_operation_seconds{pool,engine,op}        histogram, op = acquire|query
 */
export class ConsumerMetrics {
  readonly authFailures: Counter<'pool' | 'engine'>;
  readonly refreshes: Counter<'pool' | 'engine' | 'reason' | 'result'>;
  readonly swaps: Counter<'pool' | 'engine' | 'result'>;
  readonly drainTimeouts: Counter<'pool' | 'engine'>;
  readonly latency: Histogram<'pool' | 'engine' | 'op'>;
  readonly version: Gauge<'pool' | 'engine'>;
  private readonly reporters = new Set<ConnectionReporter>();

  private constructor(registry: Registry) {
    const registers = [registry];
    const reporters = this.reporters;
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    this.authFailures = counter(
      'db_rotator_consumer_auth_failures_total',
      'Operations refused by the server because of the credential',
      ['pool', 'engine'],
    );
    this.refreshes = counter(
      'db_rotator_consumer_refreshes_total',
      'Credential re-reads requested by the rotating client',
      ['pool', 'engine', 'reason', 'result'],
    );
    this.swaps = counter(
      'db_rotator_consumer_swaps_total',
      'Switches to a client built with a new credential version',
      ['pool', 'engine', 'result'],
    );
    this.drainTimeouts = counter(
      'db_rotator_consumer_drain_timeouts_total',
      'Old clients closed with operations still in flight after the drain timeout',
      ['pool', 'engine'],
    );
    this.latency = new Histogram({
      name: 'db_rotator_consumer_operation_seconds',
      help: 'Time to acquire a connection (acquire) or run an operation including retries (query)',
      labelNames: ['pool', 'engine', 'op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.version = new Gauge({
      name: 'db_rotator_consumer_credential_version',
      help: 'Credential version the client uses for new operations',
      labelNames: ['pool', 'engine'],
      registers,
    });
    new Gauge({
      name: 'db_rotator_consumer_connections',
      help: 'Connections by credential version and state',
      labelNames: ['pool', 'engine', 'version', 'state'],
      registers,
      collect() {
        this.reset();
        for (const r of reporters) {
          for (const { version, counts } of r.connectionsByVersion()) {
            const labels = { pool: r.name, engine: r.engine, version: String(version) };
            this.set({ ...labels, state: 'active' }, counts.active);
            this.set({ ...labels, state: 'idle' }, counts.idle);
          }
        }
      },
    });
  }

  private static readonly perRegistry = new WeakMap<Registry, ConsumerMetrics>();

  /** The metrics registered in `registry` (the prom-client default registry if omitted), created once. */
  static for(registry: Registry = defaultRegistry): ConsumerMetrics {
    let m = ConsumerMetrics.perRegistry.get(registry);
    if (!m) {
      m = new ConsumerMetrics(registry);
      ConsumerMetrics.perRegistry.set(registry, m);
    }
    return m;
  }

  track(reporter: ConnectionReporter): () => void {
    this.reporters.add(reporter);
    return () => {
      this.reporters.delete(reporter);
    };
  }
}
