/**
 * A BPF map with typed keys and values (codecs from codec.ts) over the raw fd operations of
 * src/ffi/libbpf. Either borrows a map fd owned by a loaded BpfObject, or owns an fd opened
 * from a pin (`TypedMap.openPinned`), which it closes.
 */

import {
	BPF_ANY,
	mapDelete,
	mapInfo,
	mapKeys,
	mapLookup,
	mapUpdate,
	mapUpdateBatch,
	objGet,
} from "../../ffi/libbpf/index.ts";
import type { Fd } from "../../ffi/libc/index.ts";
import { LinuxError } from "../errors.ts";
import type { Codec } from "./codec.ts";

export type MapSpec<K, V> = { readonly name: string; readonly key: Codec<K>; readonly value: Codec<V> };

export class TypedMap<K, V> {
	readonly #fd: number;
	readonly #owned: Fd | undefined;

	private constructor(
		fd: number,
		owned: Fd | undefined,
		readonly spec: MapSpec<K, V>,
	) {
		this.#fd = fd;
		this.#owned = owned;
	}

	/** Borrow a map fd (for example `obj.mapFd(spec.name)`); valid while its owner is open. */
	static borrow<K, V>(fd: number, spec: MapSpec<K, V>): TypedMap<K, V> {
		return new TypedMap(fd, undefined, spec);
	}

	/** Open a pinned map and check that its key/value sizes match the codecs. Close it after use. */
	static openPinned<K, V>(path: string, spec: MapSpec<K, V>): TypedMap<K, V> {
		let fd: Fd;
		try {
			fd = objGet(path);
		} catch (e) {
			throw new LinuxError("bpf.map.open", `pinned map ${path} cannot be opened`, e);
		}
		const info = mapInfo(fd.fd);
		if (info.keySize !== spec.key.size || info.valueSize !== spec.value.size) {
			fd.close();
			throw new LinuxError(
				"bpf.map.open",
				`pinned map ${path} has key/value ${info.keySize}/${info.valueSize} bytes, ${spec.name} expects ${spec.key.size}/${spec.value.size}`,
			);
		}
		return new TypedMap(fd.fd, fd, spec);
	}

	get fd(): number {
		return this.#owned ? this.#owned.fd : this.#fd;
	}

	get(k: K): V | undefined {
		const v = mapLookup(this.fd, this.spec.key.encode(k), this.spec.value.size);
		return v && this.spec.value.decode(v);
	}

	/** Update with BPF_ANY (default), BPF_NOEXIST or BPF_EXIST. */
	set(k: K, v: V, flags = BPF_ANY): void {
		mapUpdate(this.fd, this.spec.key.encode(k), this.spec.value.encode(v), flags);
	}

	/** Many updates in one bpf_map_update_batch call; returns how many were written. */
	setMany(entries: [K, V][], flags = BPF_ANY): number {
		return mapUpdateBatch(
			this.fd,
			this.spec.key.encodeMany(entries.map((e) => e[0])),
			this.spec.value.encodeMany(entries.map((e) => e[1])),
			entries.length,
			{ elemFlags: flags },
		);
	}

	/** false when the key was not there. */
	delete(k: K): boolean {
		return mapDelete(this.fd, this.spec.key.encode(k));
	}

	*keys(): Generator<K> {
		for (const k of mapKeys(this.fd, this.spec.key.size)) yield this.spec.key.decode(k);
	}

	/** Key/value pairs; keys deleted during the walk are skipped. */
	*entries(): Generator<[K, V]> {
		for (const kb of mapKeys(this.fd, this.spec.key.size)) {
			const v = mapLookup(this.fd, kb, this.spec.value.size);
			if (v) yield [this.spec.key.decode(kb), this.spec.value.decode(v)];
		}
	}

	/** Closes the fd when this map owns it (openPinned); a borrowed fd stays with its owner. */
	close(): void {
		this.#owned?.close();
	}

	[Symbol.dispose](): void {
		this.close();
	}
}
