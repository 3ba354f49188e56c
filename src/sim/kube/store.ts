/**
 * The fake apiserver's storage: every object of every resource, one global resourceVersion
 * counter, a bounded event history for watch replay, and the write semantics of a v1.32
 * apiserver that Terway and kubectl rely on (cloud-sim.md §4.4): uid/creationTimestamp/
 * generation, optimistic concurrency, status subresource split, finalizers and
 * deletionTimestamp, namespace existence, generateName, CRD registration.
 *
 * Usable in-process (the sim seeds objects and the kubelet stand-in writes pod status without
 * HTTP) and through the HTTP handler (handler.ts), which only translates. No I/O here.
 */
import { randomUUID } from "node:crypto";
import type { KubeObject } from "../contracts.ts";
import { KubeApiError, kubeErrors } from "./errors.ts";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, deepEqual } from "./patch.ts";
import {
	groupVersion,
	ResourceRegistry,
	type ResourceType,
	resourceFromCrd,
	splitApiVersion,
} from "./resources.ts";
import {
	type FieldSelector,
	type LabelSelector,
	matchFields,
	matchLabels,
	parseFieldSelector,
	parseLabelSelector,
} from "./selectors.ts";

/** Which collection: `{apiVersion: "v1", resource: "pods", namespace: "default"}`. */
export type ResourceRef = { apiVersion: string; resource: string; namespace?: string };
/** One object of a collection. */
export type ObjectRef = ResourceRef & { name: string };

export type PatchType = "json" | "merge" | "strategic" | "apply";

export type ListOptions = {
	labelSelector?: string | LabelSelector;
	fieldSelector?: string | FieldSelector;
	limit?: number;
	continue?: string;
};

export type KubeList = {
	apiVersion: string;
	kind: string;
	metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
	items: KubeObject[];
};

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
export type WatchEvent = { type: WatchEventType; object: Record<string, unknown> };

export type WatchOptions = {
	labelSelector?: string | LabelSelector;
	fieldSelector?: string | FieldSelector;
	/** "" / "0" / undefined: synthetic ADDED for the current state first; n: replay events after n. */
	resourceVersion?: string;
};

export type Watch = {
	/** Stop delivering events; `onClose` is not called for a close the owner asked for. */
	close(): void;
	readonly resource: ResourceType;
};

export type WriteOptions = {
	/** Write through the status subresource: only `.status` changes. */
	subresource?: "status";
	/** Create/replace keeping the given `.status` (seeding and the kubelet stand-in; never from HTTP). */
	keepStatus?: boolean;
	/** Validate and compute, but store nothing (`?dryRun=All`). */
	dryRun?: boolean;
};

export type DeleteOptions = {
	preconditions?: { uid?: string; resourceVersion?: string };
	gracePeriodSeconds?: number;
	propagationPolicy?: string;
	dryRun?: boolean;
};

export type KubeStoreOptions = {
	/** Events kept for watch replay; a watch from an older resourceVersion gets 410 Expired. */
	historyLimit?: number;
	/** Clock for creationTimestamp/deletionTimestamp (tests pin it). */
	now?: () => Date;
	/** Namespaces that exist from the start (default: default, kube-system, kube-public, kube-node-lease). */
	namespaces?: string[];
	/** Resource types to serve (default: the built-ins). CRDs can be added with `registerCrd`/create. */
	registry?: ResourceRegistry;
};

type HistoryEvent = {
	rv: number;
	type: "ADDED" | "MODIFIED" | "DELETED";
	key: string; // group/resource
	obj: KubeObject;
	prev?: KubeObject;
};

type Watcher = {
	type: ResourceType;
	version: string;
	namespace?: string;
	labels: LabelSelector;
	fields: FieldSelector;
	send: (e: WatchEvent) => void;
	onClose?: (reason: "dropped" | "resourceRemoved") => void;
};

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789";

function meta(o: KubeObject): Record<string, unknown> & { name: string; namespace?: string } {
	return o.metadata as Record<string, unknown> & { name: string; namespace?: string };
}

/** RFC 3339 with second precision, as the apiserver writes timestamps. */
function timestamp(d: Date): string {
	return d.toISOString().replace(/\.\d+Z$/, "Z");
}

/** The object without metadata and status: what `generation` tracks. */
function specPart(o: KubeObject): Record<string, unknown> {
	const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
	return rest;
}

function objectKey(namespace: string | undefined, name: string): string {
	return namespace ? `${namespace}/${name}` : name;
}

export class KubeStore {
	readonly registry: ResourceRegistry;
	#rv = 0;
	#objects = new Map<string, Map<string, KubeObject>>();
	#history: HistoryEvent[] = [];
	#historyLimit: number;
	/** Replay is complete for watches from any resourceVersion >= floor. */
	#floor = 0;
	#watchers = new Set<Watcher>();
	#now: () => Date;

	constructor(opts: KubeStoreOptions = {}) {
		this.registry = opts.registry ?? new ResourceRegistry();
		this.#historyLimit = opts.historyLimit ?? 1000;
		this.#now = opts.now ?? (() => new Date());
		for (const ns of opts.namespaces ?? ["default", "kube-system", "kube-public", "kube-node-lease"]) {
			this.create(
				{ apiVersion: "v1", resource: "namespaces" },
				{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
			);
		}
	}

	/** The store's clock (creationTimestamp, deletionTimestamp, and the ages of server-side tables). */
	now(): Date {
		return this.#now();
	}

	/** The current global resourceVersion. */
	get resourceVersion(): number {
		return this.#rv;
	}

	/** Resolve a ref to its type and version; 404 for an unknown resource. */
	resolve(ref: ResourceRef): { type: ResourceType; version: string } {
		const [group, version] = splitApiVersion(ref.apiVersion);
		const type = this.registry.get(group, version, ref.resource);
		return { type, version };
	}

	#bucket(type: ResourceType): Map<string, KubeObject> {
		const key = `${type.group}/${type.resource}`;
		let m = this.#objects.get(key);
		if (!m) {
			m = new Map();
			this.#objects.set(key, m);
		}
		return m;
	}

	/** A copy of `o` shown at `version`. */
	#out(type: ResourceType, version: string, o: KubeObject): KubeObject {
		const c = structuredClone(o);
		c.apiVersion = groupVersion(type.group, version);
		return c;
	}

	#namespaceOf(type: ResourceType, ref: ResourceRef, obj?: KubeObject): string | undefined {
		if (!type.namespaced) return undefined;
		const fromObj = obj?.metadata.namespace;
		if (ref.namespace && fromObj && ref.namespace !== fromObj) {
			throw kubeErrors.badRequest(
				"the namespace of the provided object does not match the namespace sent on the request",
			);
		}
		const ns = ref.namespace ?? fromObj;
		if (!ns)
			throw kubeErrors.badRequest(
				"the server could not find the requested resource: a namespace is required",
			);
		return ns;
	}

	#checkBody(type: ResourceType, obj: KubeObject): void {
		if (typeof obj !== "object" || obj === null || Array.isArray(obj))
			throw kubeErrors.badRequest("the body of the request must be a JSON object");
		if (obj.kind !== undefined && obj.kind !== type.kind)
			throw kubeErrors.badRequest(
				`the kind of the object (${String(obj.kind)}) does not match the kind of the resource (${type.kind})`,
			);
		if (typeof obj.metadata !== "object" || obj.metadata === null)
			(obj as { metadata: unknown }).metadata = {};
	}

	#commit(type: ResourceType, ev: Omit<HistoryEvent, "rv" | "key">): void {
		const key = `${type.group}/${type.resource}`;
		const rv = Number(meta(ev.obj).resourceVersion);
		const bucket = this.#bucket(type);
		const k = objectKey(meta(ev.obj).namespace, meta(ev.obj).name);
		if (ev.type === "DELETED") bucket.delete(k);
		else bucket.set(k, ev.obj);
		const h: HistoryEvent = { rv, key, ...ev };
		this.#history.push(h);
		while (this.#history.length > this.#historyLimit) this.#floor = this.#history.shift()!.rv;
		for (const w of [...this.#watchers]) if (w.type === type || sameType(w.type, type)) this.#deliver(w, h);
	}

	#matches(w: Watcher, o: KubeObject | undefined): boolean {
		if (!o) return false;
		if (w.namespace && meta(o).namespace !== w.namespace) return false;
		return matchLabels(w.labels, meta(o).labels as Record<string, string>) && matchFields(w.fields, o);
	}

	#deliver(w: Watcher, h: HistoryEvent): void {
		const now = this.#matches(w, h.obj);
		const before = h.type === "MODIFIED" ? this.#matches(w, h.prev) : false;
		let type: WatchEventType | undefined;
		if (h.type === "MODIFIED") {
			// As the watch cache does: an object leaving the selection is DELETED for this watcher,
			// one entering it is ADDED.
			if (now && before) type = "MODIFIED";
			else if (now) type = "ADDED";
			else if (before) type = "DELETED";
		} else if (now) type = h.type;
		if (!type) return;
		const obj = type === "DELETED" && h.type === "MODIFIED" ? { ...h.obj } : h.obj;
		w.send({ type, object: this.#out(w.type, w.version, obj) });
	}

	#generateName(prefix: string): string {
		let s = "";
		for (let i = 0; i < 5; i++) s += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)];
		return `${prefix}${s}`;
	}

	// -------------------------------------------------------------------------------------------
	// CRUD

	/** POST: create an object (201 on the wire). */
	create(ref: ResourceRef, input: KubeObject, opts: WriteOptions = {}): KubeObject {
		const { type, version } = this.resolve(ref);
		const obj = structuredClone(input);
		this.#checkBody(type, obj);
		const m = meta(obj);
		if (!m.name && typeof m.generateName === "string" && m.generateName)
			m.name = this.#generateName(m.generateName);
		if (!m.name)
			throw kubeErrors.invalid(
				type.group,
				type.kind,
				"",
				"metadata.name",
				"Required value: name or generateName is required",
			);
		if (m.name.length > 253 || !NAME.test(m.name))
			throw kubeErrors.invalid(
				type.group,
				type.kind,
				m.name,
				"metadata.name",
				`Invalid value: ${JSON.stringify(m.name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
			);
		const ns = this.#namespaceOf(type, ref, obj);
		if (ns !== undefined) {
			const nsObj = this.#bucket(this.registry.get("", "v1", "namespaces")).get(ns);
			if (!nsObj) throw kubeErrors.notFound("", "namespaces", ns);
			if (meta(nsObj).deletionTimestamp)
				throw new KubeApiError(
					403,
					"Forbidden",
					`${type.resource} "${m.name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
				);
			m.namespace = ns;
		} else delete m.namespace;
		if (this.#bucket(type).has(objectKey(ns, m.name)))
			throw kubeErrors.alreadyExists(type.group, type.resource, m.name);

		obj.apiVersion = groupVersion(type.group, type.versions[0]!);
		obj.kind = type.kind;
		if (type.status && !opts.keepStatus) {
			if (type.createStatus === "drop") delete obj.status;
			else if (typeof type.createStatus === "object") obj.status = structuredClone(type.createStatus.set);
		}
		for (const k of ["deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"])
			delete m[k];
		m.uid = randomUUID();
		m.creationTimestamp = timestamp(this.#now());
		if (type.generation) m.generation = 1;
		else delete m.generation;
		if (type.resource === "namespaces" && type.group === "") {
			m.labels = { ...((m.labels as Record<string, string>) ?? {}), "kubernetes.io/metadata.name": m.name };
		}
		let crdType: ResourceType | undefined;
		if (isCrdType(type)) {
			crdType = resourceFromCrd(obj);
			obj.status = crdStatus(obj);
		}
		if (opts.dryRun) return this.#out(type, version, obj);
		m.resourceVersion = String(++this.#rv);
		if (crdType) this.registry.add(crdType);
		this.#commit(type, { type: "ADDED", obj });
		return this.#out(type, version, obj);
	}

	#existing(type: ResourceType, ref: ObjectRef): KubeObject {
		const ns = type.namespaced ? this.#namespaceOf(type, ref) : undefined;
		const o = this.#bucket(type).get(objectKey(ns, ref.name));
		if (!o) throw kubeErrors.notFound(type.group, type.resource, ref.name);
		return o;
	}

	/** GET one object; 404 NotFound when absent. */
	get(ref: ObjectRef): KubeObject {
		const { type, version } = this.resolve(ref);
		return this.#out(type, version, this.#existing(type, ref));
	}

	/** GET one object, or undefined (in-process convenience). */
	tryGet(ref: ObjectRef): KubeObject | undefined {
		try {
			return this.get(ref);
		} catch (e) {
			if (e instanceof KubeApiError && e.code === 404) return undefined;
			throw e;
		}
	}

	#selectors(
		type: ResourceType,
		opts: ListOptions | WatchOptions,
	): { labels: LabelSelector; fields: FieldSelector } {
		const labels =
			typeof opts.labelSelector === "string" || opts.labelSelector === undefined
				? parseLabelSelector(opts.labelSelector)
				: opts.labelSelector;
		const fields =
			typeof opts.fieldSelector === "string" || opts.fieldSelector === undefined
				? parseFieldSelector(opts.fieldSelector)
				: opts.fieldSelector;
		for (const f of fields) {
			if (
				f.path !== "metadata.name" &&
				f.path !== "metadata.namespace" &&
				!type.selectableFields.includes(f.path)
			)
				throw kubeErrors.badRequest(`field label not supported: ${f.path}`);
		}
		return { labels, fields };
	}

	/** GET a collection, filtered by namespace and selectors, sorted by namespace/name, optionally paged. */
	list(ref: ResourceRef, opts: ListOptions = {}): KubeList {
		const { type, version } = this.resolve(ref);
		const { labels, fields } = this.#selectors(type, opts);
		const ns = type.namespaced ? ref.namespace : undefined;
		let items = [...this.#bucket(type).entries()]
			.filter(
				([, o]) =>
					(!ns || meta(o).namespace === ns) &&
					matchLabels(labels, meta(o).labels as Record<string, string>) &&
					matchFields(fields, o),
			)
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
		let rv = this.#rv;
		if (opts.continue) {
			let token: { rv: number; start: string };
			try {
				token = JSON.parse(Buffer.from(opts.continue, "base64url").toString());
			} catch {
				throw kubeErrors.badRequest("continue key is not valid: incorrect encoded start resourceVersion");
			}
			if (token.rv < this.#floor)
				throw kubeErrors.expired(
					"The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
				);
			rv = token.rv;
			items = items.filter(([k]) => k > token.start);
		}
		const out: KubeList = {
			apiVersion: groupVersion(type.group, version),
			kind: type.listKind,
			metadata: { resourceVersion: String(rv) },
			items: [],
		};
		const limit = opts.limit && opts.limit > 0 ? opts.limit : undefined;
		const page = limit !== undefined ? items.slice(0, limit) : items;
		out.items = page.map(([, o]) => this.#out(type, version, o));
		if (limit !== undefined && items.length > limit) {
			const last = page[page.length - 1]![0];
			out.metadata.continue = Buffer.from(JSON.stringify({ rv, start: last })).toString("base64url");
			out.metadata.remainingItemCount = items.length - limit;
		}
		return out;
	}

	/** The object a write produces from `old` and the client's `next`, per the type's rules. */
	#prepareUpdate(type: ResourceType, old: KubeObject, next: KubeObject, opts: WriteOptions): KubeObject {
		this.#checkBody(type, next);
		const om = meta(old);
		const nm = meta(next);
		if (nm.name !== undefined && nm.name !== om.name)
			throw kubeErrors.badRequest(
				`the name of the object (${String(nm.name)}) does not match the name on the URL (${om.name})`,
			);
		if (type.namespaced && nm.namespace !== undefined && nm.namespace !== om.namespace)
			throw kubeErrors.badRequest(
				"the namespace of the provided object does not match the namespace sent on the request",
			);
		let result: KubeObject;
		if (opts.subresource === "status") {
			// Writes to /status change only .status (cloud-sim.md §4.4 "Status subresource rules").
			result = structuredClone(old);
			if (next.status === undefined) delete result.status;
			else result.status = structuredClone(next.status);
		} else {
			result = structuredClone(next);
			const rm = meta(result);
			for (const k of [
				"uid",
				"creationTimestamp",
				"deletionTimestamp",
				"deletionGracePeriodSeconds",
				"generation",
			]) {
				if (om[k] === undefined) delete rm[k];
				else rm[k] = om[k];
			}
			rm.name = om.name;
			if (om.namespace !== undefined) rm.namespace = om.namespace;
			else delete rm.namespace;
			if (type.status && !opts.keepStatus) {
				if (old.status === undefined) delete result.status;
				else result.status = structuredClone(old.status);
			}
			if (om.deletionTimestamp) {
				const before = (om.finalizers as string[] | undefined) ?? [];
				const added = ((rm.finalizers as string[] | undefined) ?? []).filter((f) => !before.includes(f));
				if (added.length > 0)
					throw kubeErrors.invalid(
						type.group,
						type.kind,
						om.name,
						"metadata.finalizers",
						`Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
					);
			}
			if (type.generation && !deepEqual(specPart(old), specPart(result)))
				rm.generation = ((om.generation as number | undefined) ?? 0) + 1;
		}
		result.apiVersion = old.apiVersion;
		result.kind = old.kind;
		if (isCrdType(type)) result.status = crdStatus(result);
		return result;
	}

	/** Store `result` as the new state of `old` (no-op when nothing changed), deleting it if finalized. */
	#write(
		type: ResourceType,
		version: string,
		old: KubeObject,
		result: KubeObject,
		dryRun?: boolean,
	): KubeObject {
		const rm = meta(result);
		rm.resourceVersion = meta(old).resourceVersion;
		delete rm.managedFields;
		if (deepEqual(old, result)) return this.#out(type, version, old); // no-op writes keep the RV
		let crdType: ResourceType | undefined;
		if (isCrdType(type)) crdType = resourceFromCrd(result);
		if (dryRun) return this.#out(type, version, result);
		rm.resourceVersion = String(++this.#rv);
		const oldGrace = meta(old).deletionGracePeriodSeconds as number | undefined;
		if (
			rm.deletionTimestamp &&
			((rm.finalizers as string[] | undefined) ?? []).length === 0 &&
			(oldGrace === undefined || oldGrace === 0)
		) {
			// The last finalizer is gone and no grace period is pending: the delete completes
			// (the registry's shouldDeleteDuringUpdate). A pod still in its grace period waits for
			// the kubelet's DELETE with gracePeriodSeconds=0.
			this.#commit(type, { type: "DELETED", obj: result, prev: old });
			if (crdType) this.#unregister(crdType);
			return this.#out(type, version, result);
		}
		if (crdType) this.registry.add(crdType);
		this.#commit(type, { type: "MODIFIED", obj: result, prev: old });
		return this.#out(type, version, result);
	}

	/** PUT: replace an object. A stale metadata.resourceVersion is 409 Conflict. */
	update(ref: ResourceRef, input: KubeObject, opts: WriteOptions = {}): KubeObject {
		const { type, version } = this.resolve(ref);
		const next = structuredClone(input);
		this.#checkBody(type, next);
		const name = meta(next).name;
		if (!name) throw kubeErrors.badRequest("name is required for an update");
		const old = this.#existing(type, {
			...ref,
			name,
			...(ref.namespace ? {} : { namespace: meta(next).namespace }),
		});
		const rv = meta(next).resourceVersion;
		if (rv === undefined || rv === "") {
			if (type.custom && !opts.keepStatus)
				throw kubeErrors.invalid(
					type.group,
					type.kind,
					name,
					"metadata.resourceVersion",
					"Invalid value: 0x0: must be specified for an update",
				);
		} else if (rv !== meta(old).resourceVersion) throw kubeErrors.conflict(type.group, type.resource, name);
		return this.#write(type, version, old, this.#prepareUpdate(type, old, next, opts), opts.dryRun);
	}

	/**
	 * PATCH. `strategic` is 415 for custom resources (as the real server answers); `apply` is
	 * server-side apply approximated as create-or-merge without field ownership (see README).
	 */
	patch(ref: ObjectRef, patchType: PatchType, body: unknown, opts: WriteOptions = {}): KubeObject {
		const { type, version } = this.resolve(ref);
		if (patchType === "strategic" && type.custom)
			throw kubeErrors.unsupportedMediaType("application/strategic-merge-patch+json");
		if (patchType === "apply") {
			const applied = structuredClone(body) as KubeObject;
			if (typeof applied !== "object" || applied === null || Array.isArray(applied))
				throw kubeErrors.badRequest("the apply configuration must be an object");
			applied.metadata = { ...(applied.metadata ?? {}), name: ref.name };
			const current = this.#bucket(type).get(
				objectKey(type.namespaced ? this.#namespaceOf(type, ref) : undefined, ref.name),
			);
			if (!current) {
				if (opts.subresource === "status") throw kubeErrors.notFound(type.group, type.resource, ref.name);
				return this.create(ref, applied, { dryRun: opts.dryRun });
			}
			patchType = type.custom ? "merge" : "strategic";
			body = applied;
		}
		const old = this.#existing(type, ref);
		let patched: KubeObject;
		switch (patchType) {
			case "json":
				patched = applyJsonPatch(old, body);
				break;
			case "merge":
				patched = applyMergePatch(old, body);
				break;
			case "strategic":
				patched = applyStrategicMergePatch(old, body);
				break;
		}
		if (typeof patched !== "object" || patched === null)
			throw kubeErrors.badRequest("the patch produced a non-object");
		const rv = (patched.metadata as Record<string, unknown> | undefined)?.resourceVersion;
		if (rv !== undefined && rv !== meta(old).resourceVersion)
			throw kubeErrors.conflict(type.group, type.resource, ref.name);
		return this.#write(type, version, old, this.#prepareUpdate(type, old, patched, opts), opts.dryRun);
	}

	/**
	 * DELETE, as the apiserver's generic registry does it (rest.BeforeDelete +
	 * updateForGracefulDeletionAndFinalizers):
	 * - pods are deleted gracefully: a pod bound to a node (spec.nodeName) and not yet Succeeded
	 *   or Failed gets `deletionTimestamp` = now + grace and `deletionGracePeriodSeconds` = grace
	 *   (MODIFIED) and stays until a DELETE with a shorter grace (kubelet's gracePeriodSeconds=0
	 *   once the sandbox is gone) brings it to 0. Grace comes from `gracePeriodSeconds`, else
	 *   spec.terminationGracePeriodSeconds, else 30. Unbound pods and grace 0 go at once.
	 * - with finalizers the object only gets deletionTimestamp (grace 0 for other kinds) and goes
	 *   away when the last finalizer is removed, once its grace period is 0.
	 * - a repeated DELETE of a terminating object changes nothing (it returns the object).
	 * Deleting a namespace deletes its contents; deleting a CRD its custom objects and its resource.
	 */
	delete(ref: ObjectRef, opts: DeleteOptions = {}): KubeObject {
		const { type, version } = this.resolve(ref);
		const old = this.#existing(type, ref);
		const om = meta(old);
		const pre = opts.preconditions;
		if (pre?.uid && pre.uid !== om.uid)
			throw new KubeApiError(
				409,
				"Conflict",
				`Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(om.uid)}`,
				{ name: ref.name, kind: type.resource },
			);
		if (pre?.resourceVersion && pre.resourceVersion !== om.resourceVersion)
			throw new KubeApiError(
				409,
				"Conflict",
				`Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(om.resourceVersion)}`,
				{ name: ref.name, kind: type.resource },
			);
		if (opts.dryRun) return this.#out(type, version, old);
		const finalizers = (om.finalizers as string[] | undefined) ?? [];
		// Negative grace periods count as 1 s on the delete path (rest.BeforeDelete).
		const g = opts.gracePeriodSeconds;
		const asked = g === undefined ? undefined : g < 0 ? 1 : g;
		const graceful = isGracefulType(type);
		/** The terminating state to store, or undefined to delete now. */
		let marked: KubeObject | undefined;
		/** The last state the DELETED event carries (graceful kinds record deletionTimestamp first). */
		let last = old;
		if (om.deletionTimestamp) {
			const current = om.deletionGracePeriodSeconds as number | undefined;
			if (graceful && current !== undefined && current > 0) {
				// Only a shorter grace period changes a pending graceful deletion.
				if (asked === undefined || asked >= current) return this.#out(type, version, old);
				const next = structuredClone(old);
				const nm = meta(next);
				nm.deletionTimestamp = timestamp(
					new Date(Date.parse(om.deletionTimestamp as string) + (asked - current) * 1000),
				);
				nm.deletionGracePeriodSeconds = asked;
				if (asked > 0 || finalizers.length > 0) marked = next;
				else last = next;
			} else if (finalizers.length > 0) {
				return this.#out(type, version, old); // already marked; waiting for its finalizers
			}
		} else if (graceful) {
			const grace = podGracePeriod(old, asked);
			const next = structuredClone(old);
			const nm = meta(next);
			nm.deletionTimestamp = timestamp(new Date(this.#now().getTime() + grace * 1000));
			nm.deletionGracePeriodSeconds = grace;
			if (type.generation && typeof om.generation === "number" && om.generation > 0)
				nm.generation = om.generation + 1;
			if (grace > 0 || finalizers.length > 0) marked = next;
			else last = next;
		} else if (finalizers.length > 0) {
			const next = structuredClone(old);
			const nm = meta(next);
			nm.deletionTimestamp = timestamp(this.#now());
			nm.deletionGracePeriodSeconds = 0;
			if (type.generation) nm.generation = ((om.generation as number | undefined) ?? 0) + 1;
			marked = next;
		}
		if (marked) {
			meta(marked).resourceVersion = String(++this.#rv);
			this.#commit(type, { type: "MODIFIED", obj: marked, prev: old });
			return this.#out(type, version, marked);
		}
		if (type.group === "" && type.resource === "namespaces") this.#deleteNamespaceContents(om.name);
		if (isCrdType(type)) {
			const t = resourceFromCrd(old);
			this.#deleteAll(t);
			this.#unregister(t);
		}
		const gone = structuredClone(last);
		meta(gone).resourceVersion = String(++this.#rv);
		this.#commit(type, { type: "DELETED", obj: gone });
		return this.#out(type, version, gone);
	}

	/** DELETE on a collection: delete every object the selectors match; returns them. */
	deleteCollection(ref: ResourceRef, list: ListOptions = {}, opts: DeleteOptions = {}): KubeList {
		const items = this.list(ref, { ...list, limit: undefined, continue: undefined });
		const out: KubeObject[] = [];
		for (const o of items.items) {
			const m = meta(o);
			out.push(this.delete({ ...ref, namespace: m.namespace, name: m.name }, opts));
		}
		return { ...items, metadata: { resourceVersion: String(this.#rv) }, items: out };
	}

	#deleteNamespaceContents(ns: string): void {
		for (const t of this.registry.all()) {
			if (!t.namespaced) continue;
			for (const o of [...this.#bucket(t).values()]) {
				if (meta(o).namespace !== ns) continue;
				const gone = structuredClone(o);
				meta(gone).resourceVersion = String(++this.#rv);
				this.#commit(t, { type: "DELETED", obj: gone });
			}
		}
	}

	#deleteAll(t: ResourceType): void {
		const registered = this.registry.find(t.group, t.versions[0]!, t.resource);
		if (!registered) return;
		for (const o of [...this.#bucket(registered).values()]) {
			const gone = structuredClone(o);
			meta(gone).resourceVersion = String(++this.#rv);
			this.#commit(registered, { type: "DELETED", obj: gone });
		}
	}

	#unregister(t: ResourceType): void {
		this.registry.remove(t.group, t.resource);
		this.#objects.delete(`${t.group}/${t.resource}`);
		for (const w of [...this.#watchers]) {
			if (w.type.group === t.group && w.type.resource === t.resource) {
				this.#watchers.delete(w);
				w.onClose?.("resourceRemoved");
			}
		}
	}

	// -------------------------------------------------------------------------------------------
	// Seeding conveniences (type resolved from apiVersion + kind)

	/** The resource ref of an object from its apiVersion, kind and namespace. */
	refOf(obj: KubeObject): ObjectRef {
		const type = this.registry.byKind(obj.apiVersion, obj.kind);
		return {
			apiVersion: obj.apiVersion,
			resource: type.resource,
			...(type.namespaced ? { namespace: obj.metadata.namespace ?? "default" } : {}),
			name: obj.metadata.name,
		};
	}

	/**
	 * Create the object, or replace it if it exists (no resourceVersion check), keeping the given
	 * status: how the sim seeds `kubernetes.objects` and registers nodes.
	 */
	upsert(obj: KubeObject): KubeObject {
		const ref = this.refOf(obj);
		const cur = this.tryGet(ref);
		if (!cur) return this.create(ref, obj, { keepStatus: true });
		const next = structuredClone(obj);
		meta(next).resourceVersion = meta(cur).resourceVersion;
		return this.update(ref, next, { keepStatus: true });
	}

	/** Register a CRD manifest (create it, or update it if one of that name exists). */
	registerCrd(crd: KubeObject): ResourceType {
		const ref = { apiVersion: "apiextensions.k8s.io/v1", resource: "customresourcedefinitions" };
		const cur = this.tryGet({ ...ref, name: crd.metadata.name });
		if (!cur) this.create(ref, crd);
		else
			this.update(ref, {
				...structuredClone(crd),
				metadata: { ...crd.metadata, resourceVersion: meta(cur).resourceVersion },
			});
		return resourceFromCrd(crd);
	}

	// -------------------------------------------------------------------------------------------
	// Watch

	/**
	 * Watch a collection. Events go to `send` synchronously as writes commit. A resourceVersion
	 * older than the retained history yields one ERROR event (Status 410 Expired) and `onClose`.
	 */
	watch(
		ref: ResourceRef,
		opts: WatchOptions,
		send: (e: WatchEvent) => void,
		onClose?: (reason: "dropped" | "resourceRemoved" | "expired") => void,
	): Watch {
		const { type, version } = this.resolve(ref);
		const { labels, fields } = this.#selectors(type, opts);
		const w: Watcher = {
			type,
			version,
			...(type.namespaced && ref.namespace ? { namespace: ref.namespace } : {}),
			labels,
			fields,
			send,
			...(onClose ? { onClose } : {}),
		};
		const handle: Watch = { close: () => void this.#watchers.delete(w), resource: type };
		const rvText = opts.resourceVersion ?? "";
		if (rvText === "" || rvText === "0") {
			const current = [...this.#bucket(type).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
			for (const [, o] of current)
				if (this.#matches(w, o)) send({ type: "ADDED", object: this.#out(type, version, o) });
		} else {
			const rv = Number(rvText);
			if (!Number.isInteger(rv) || rv < 0)
				throw kubeErrors.badRequest(`invalid resource version: ${JSON.stringify(rvText)}`);
			if (rv < this.#floor) {
				send({ type: "ERROR", object: gone(rv, this.#floor).toStatus() });
				onClose?.("expired");
				return handle;
			}
			const key = `${type.group}/${type.resource}`;
			for (const h of this.#history) if (h.rv > rv && h.key === key) this.#deliver(w, h);
		}
		this.#watchers.add(w);
		return handle;
	}

	/** A BOOKMARK event at the current resourceVersion, for a watch on `ref`. */
	bookmark(ref: ResourceRef, annotations?: Record<string, string>): WatchEvent {
		const { type, version } = this.resolve(ref);
		return {
			type: "BOOKMARK",
			object: {
				kind: type.kind,
				apiVersion: groupVersion(type.group, version),
				metadata: { resourceVersion: String(this.#rv), ...(annotations ? { annotations } : {}) },
			},
		};
	}

	/** Close open watches (all, or of one resource plural): the `watchDrop` fault. */
	dropWatches(resource?: string): number {
		let n = 0;
		for (const w of [...this.#watchers]) {
			if (resource && w.type.resource !== resource) continue;
			this.#watchers.delete(w);
			w.onClose?.("dropped");
			n++;
		}
		return n;
	}

	/** Forget the event history: every watch from an older resourceVersion now gets 410 (compaction). */
	compact(): void {
		this.#history = [];
		this.#floor = this.#rv;
	}

	/** The oldest resourceVersion a watch can still resume from. */
	get compactedResourceVersion(): number {
		return this.#floor;
	}

	get openWatches(): number {
		return this.#watchers.size;
	}
}

/** The Status a too-old resourceVersion gets (Expired, 410). */
export function gone(rv: number, floor: number): KubeApiError {
	return kubeErrors.expired(`too old resource version: ${rv} (${floor})`);
}

function sameType(a: ResourceType, b: ResourceType): boolean {
	return a.group === b.group && a.resource === b.resource;
}

/** Kinds with a graceful delete strategy (CheckGracefulDelete): pods, as in the real registry. */
function isGracefulType(t: ResourceType): boolean {
	return t.group === "" && t.resource === "pods";
}

/**
 * The pod strategy's CheckGracefulDelete: the asked grace, else spec.terminationGracePeriodSeconds,
 * else 30 (the API default the sim does not write on create); 0 for a pod not bound to a node or
 * already Succeeded/Failed.
 */
function podGracePeriod(pod: KubeObject, asked: number | undefined): number {
	const spec = (pod.spec ?? {}) as { nodeName?: string; terminationGracePeriodSeconds?: number };
	const phase = ((pod.status ?? {}) as { phase?: string }).phase;
	if (!spec.nodeName) return 0;
	if (phase === "Succeeded" || phase === "Failed") return 0;
	if (asked !== undefined) return asked;
	const t = spec.terminationGracePeriodSeconds;
	return typeof t === "number" && Number.isInteger(t) && t >= 0 ? t : 30;
}

function isCrdType(t: ResourceType): boolean {
	return t.group === "apiextensions.k8s.io" && t.resource === "customresourcedefinitions";
}

/** The status the apiserver gives an accepted CRD (Established, NamesAccepted). */
function crdStatus(crd: KubeObject): Record<string, unknown> {
	const spec = (crd.spec ?? {}) as { names?: unknown; versions?: { name?: string; storage?: boolean }[] };
	const ts = (crd.metadata.creationTimestamp as string | undefined) ?? timestamp(new Date());
	return {
		acceptedNames: spec.names ?? {},
		conditions: [
			{
				type: "NamesAccepted",
				status: "True",
				reason: "NoConflicts",
				message: "no conflicts found",
				lastTransitionTime: ts,
			},
			{
				type: "Established",
				status: "True",
				reason: "InitialNamesAccepted",
				message: "the initial names have been accepted",
				lastTransitionTime: ts,
			},
		],
		storedVersions: (spec.versions ?? []).filter((v) => v.storage).map((v) => v.name),
	};
}
