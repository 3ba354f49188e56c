/**
 * @module daemon/metrics
 *
 * A minimal Prometheus registry (counters, gauges, histograms with labels) rendered in the text
 * exposition format 0.0.4 for `GET /metrics`. Names follow Terway where it has them
 * (terway-features.md §7.13): `terway_rpc_latency` (ms, `rpc_api`,`error`),
 * `aliyun_openapi_latency` (ms, `api`,`error`), `aliyun_metadata_latency`,
 * `terway_resource_pool_total_count` / `_idle_count` (`type`,`ipStack`),
 * `terway_resource_pool_disposed_count`, `terway_eniip_factory_eni_count` / `_ip_count` /
 * `_ip_alloc_count`. terwayctl-only series are prefixed `terwayd_`.
 */

type Labels = Record<string, string>;

const labelKey = (l: Labels): string =>
	Object.keys(l)
		.sort()
		.map((k) => `${k}="${String(l[k]).replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`)
		.join(",");

abstract class Metric {
	constructor(
		readonly name: string,
		readonly help: string,
		readonly type: "counter" | "gauge" | "histogram",
	) {}
	abstract lines(): string[];
	header(): string[] {
		return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
	}
}

export class Counter extends Metric {
	readonly #v = new Map<string, number>();
	constructor(name: string, help: string) {
		super(name, help, "counter");
	}
	inc(labels: Labels = {}, by = 1): void {
		const k = labelKey(labels);
		this.#v.set(k, (this.#v.get(k) ?? 0) + by);
	}
	get(labels: Labels = {}): number {
		return this.#v.get(labelKey(labels)) ?? 0;
	}
	lines(): string[] {
		return [...this.#v].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`);
	}
}

export class Gauge extends Metric {
	readonly #v = new Map<string, number>();
	constructor(name: string, help: string) {
		super(name, help, "gauge");
	}
	set(labels: Labels, v: number): void {
		this.#v.set(labelKey(labels), v);
	}
	get(labels: Labels = {}): number | undefined {
		return this.#v.get(labelKey(labels));
	}
	lines(): string[] {
		return [...this.#v].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`);
	}
}

export class Histogram extends Metric {
	readonly #series = new Map<string, { buckets: number[]; sum: number; count: number }>();
	constructor(
		name: string,
		help: string,
		readonly buckets: readonly number[],
	) {
		super(name, help, "histogram");
	}
	observe(labels: Labels, v: number): void {
		const k = labelKey(labels);
		let s = this.#series.get(k);
		if (!s) {
			s = { buckets: this.buckets.map(() => 0), sum: 0, count: 0 };
			this.#series.set(k, s);
		}
		for (let i = 0; i < this.buckets.length; i++) if (v <= (this.buckets[i] as number)) s.buckets[i]!++;
		s.sum += v;
		s.count++;
	}
	count(labels: Labels = {}): number {
		return this.#series.get(labelKey(labels))?.count ?? 0;
	}
	lines(): string[] {
		const out: string[] = [];
		for (const [k, s] of this.#series) {
			const sep = k ? `${k},` : "";
			this.buckets.forEach((b, i) => {
				out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.buckets[i]}`);
			});
			out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
			out.push(`${this.name}_sum${k ? `{${k}}` : ""} ${s.sum}`);
			out.push(`${this.name}_count${k ? `{${k}}` : ""} ${s.count}`);
		}
		return out;
	}
}

const MS_BUCKETS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

/** The daemon's metrics. */
export class DaemonMetrics {
	readonly rpcLatency = new Histogram("terway_rpc_latency", "local API latency in ms", MS_BUCKETS);
	readonly openapiLatency = new Histogram(
		"aliyun_openapi_latency",
		"ECS/VPC OpenAPI call latency in ms",
		MS_BUCKETS,
	);
	readonly openapiCalls = new Counter(
		"terwayd_openapi_calls_total",
		"ECS/VPC OpenAPI calls by api and result",
	);
	readonly metadataLatency = new Histogram("aliyun_metadata_latency", "metadata waits in ms", MS_BUCKETS);
	readonly poolTotal = new Gauge("terway_resource_pool_total_count", "IPs held by the pool");
	readonly poolIdle = new Gauge("terway_resource_pool_idle_count", "idle IPs in the pool");
	readonly poolDisposed = new Counter("terway_resource_pool_disposed_count", "IPs given back to the cloud");
	readonly eniCount = new Gauge("terway_eniip_factory_eni_count", "ENIs held by the node (primary excluded)");
	readonly ipCount = new Gauge("terway_eniip_factory_ip_count", "IPs on the node's ENIs");
	readonly ipAllocCount = new Counter("terway_eniip_factory_ip_alloc_count", "IPs obtained from the cloud");
	readonly allocLatency = new Histogram(
		"terwayd_alloc_latency_ms",
		"alloc request latency in ms",
		MS_BUCKETS,
	);
	readonly allocs = new Counter("terwayd_alloc_total", "alloc requests by result");
	readonly releases = new Counter("terwayd_release_total", "release requests by reason");
	readonly gcRuns = new Counter("terwayd_gc_runs_total", "GC passes");
	readonly waiters = new Gauge("terwayd_pool_waiters", "alloc requests waiting for the pool");
	readonly inhibited = new Gauge("terwayd_pool_inhibited", "1 while allocation is inhibited");

	render(): string {
		const all: Metric[] = Object.values(this).filter((m): m is Metric => m instanceof Metric);
		const out: string[] = [];
		for (const m of all) {
			const l = m.lines();
			if (l.length === 0 && m.type !== "gauge") {
				out.push(...m.header());
				continue;
			}
			out.push(...m.header(), ...l);
		}
		return `${out.join("\n")}\n`;
	}
}
