/**
 * An in-process loopback cloud for the src/cloud integration tests: a world
 * (src/sim/world), its OpenAPI face and one metadata listener that answers as one node
 * (`identifyAs`), each on Bun.serve 127.0.0.1:0. Fast latency profile; a clock whose time can
 * jump forward (STS expiry) while timers stay real.
 */

import type { BackoffOverrides } from "../../src/cloud/retry.ts";
import type { Scenario } from "../../src/sim/contracts.ts";
import { FaultEngine } from "../../src/sim/faults.ts";
import { createMetadataHandler, identifyAs } from "../../src/sim/metadata/index.ts";
import { createOpenApiHandler } from "../../src/sim/openapi/index.ts";
import { RequestLog } from "../../src/sim/request-log.ts";
import { defaultScenario, validateScenario } from "../../src/sim/world/scenario.ts";
import { type Clock, createWorld, type World } from "../../src/sim/world/world.ts";

export const REGION = "cn-hangzhou";
export const POD_VSW = "vsw-bp1simpod000000000001";
export const POD_VSW_J = "vsw-bp1simpod000000000002";

export type SkewClock = Clock & { skew: number };

export function skewClock(): SkewClock {
	const c = {
		skew: 0,
		now: () => Date.now() + c.skew,
		setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
		clearTimeout: (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>),
	};
	return c;
}

export type Sim = {
	world: World;
	faults: FaultEngine;
	log: RequestLog;
	clock: SkewClock;
	scenario: Scenario;
	/** The node the metadata listener answers as. */
	instanceId: string;
	/** host:port of the OpenAPI listener. */
	openapi: string;
	/** http://127.0.0.1:port of the metadata listener. */
	metadataUrl: string;
	accessKey: { id: string; secret: string };
	stop(): void;
};

export type SimOptions = {
	mutate?: (s: Scenario) => void;
	/** Metadata listener in "hardened" mode (token required). */
	hardened?: boolean;
	seed?: number;
};

export function startSim(opts: SimOptions = {}): Sim {
	const scenario = structuredClone(defaultScenario());
	scenario.latency = "fast";
	opts.mutate?.(scenario);
	const faults = new FaultEngine(opts.seed ?? 7);
	const log = new RequestLog();
	const clock = skewClock();
	const world = createWorld(validateScenario(scenario), { seed: 42, faults, log, clock, latency: "fast" });
	const openapi = createOpenApiHandler(world, { faults, log });
	const api = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => openapi(req) });
	const instanceId = world.instances()[0]!.instanceId;
	const metadata = createMetadataHandler({
		source: world,
		identify: identifyAs(instanceId),
		faults,
		log,
		hardened: opts.hardened ?? false,
		now: () => clock.now(),
	});
	const md = Bun.serve({
		port: 0,
		hostname: "127.0.0.1",
		fetch: (req, srv) => metadata(req, srv.requestIP(req) ?? { address: "" }),
	});
	return {
		world,
		faults,
		log,
		clock,
		scenario,
		instanceId,
		openapi: `127.0.0.1:${api.port}`,
		metadataUrl: `http://127.0.0.1:${md.port}`,
		accessKey: scenario.accessKeys[0]!,
		stop() {
			openapi.close();
			world.close();
			api.stop(true);
			md.stop(true);
		},
	};
}

/** Small backoffs so retries and polls take milliseconds. */
export const FAST_BACKOFFS: BackoffOverrides = {
	Default: { durationMs: 5, steps: 6 },
	ENICreate: { durationMs: 5, steps: 8 },
	ENIOps: { durationMs: 5, steps: 8 },
	ENIRelease: { durationMs: 5, steps: 8 },
	ENIIPOps: { durationMs: 5, steps: 8 },
	ENIDeleteConfirm: { initialDelayMs: 0, durationMs: 10, capMs: 40, steps: 40 },
	WaitENIStatus: { initialDelayMs: 0, durationMs: 10, factor: 1.2, capMs: 50, steps: 40 },
	WaitMemberENIStatus: { initialDelayMs: 0, durationMs: 10, steps: 40 },
	MetaAssignPrivateIP: { durationMs: 10, steps: 100 },
	MetaUnassignPrivateIP: { durationMs: 10, steps: 100 },
	WaitStsTokenReady: { durationMs: 10 },
};
