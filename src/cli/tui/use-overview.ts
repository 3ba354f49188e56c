/**
 * @module cli/tui/use-overview
 *
 * The TUI's data: loads an overview at mount, again every `intervalMs` and on `refresh()`. One
 * load at a time (a refresh while loading is coalesced into the running one); a failed load keeps
 * the last overview and reports the error.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { errorLine } from "../errors.ts";
import type { Overview } from "./model.ts";

export type OverviewState = {
	overview: Overview | undefined;
	loading: boolean;
	error: string | undefined;
	/** How many loads finished (tests wait on it). */
	loads: number;
	refresh: () => void;
};

export function useOverview(load: () => Promise<Overview>, intervalMs: number): OverviewState {
	const [overview, setOverview] = useState<Overview | undefined>(undefined);
	const [loading, setLoading] = useState(true);
	const [error, setError] = useState<string | undefined>(undefined);
	const [loads, setLoads] = useState(0);
	const running = useRef<Promise<void> | undefined>(undefined);
	const alive = useRef(true);

	const refresh = useCallback(() => {
		if (running.current) return;
		setLoading(true);
		running.current = load()
			.then(
				(o) => {
					if (!alive.current) return;
					setOverview(o);
					setError(undefined);
				},
				(e) => {
					if (alive.current) setError(errorLine(e));
				},
			)
			.finally(() => {
				running.current = undefined;
				if (!alive.current) return;
				setLoading(false);
				setLoads((n) => n + 1);
			});
	}, [load]);

	useEffect(() => {
		alive.current = true;
		refresh();
		const t = intervalMs > 0 ? setInterval(refresh, intervalMs) : undefined;
		return () => {
			alive.current = false;
			if (t) clearInterval(t);
		};
	}, [refresh, intervalMs]);

	return { overview, loading, error, loads, refresh };
}
