/**
 * @module cli/tui/App
 *
 * The diagnose TUI (ink): a live overview of this node — terwayd's phase, pool gauges (idle
 * against min/max, allocated against capacity), the finding counts — over one list of findings
 * (worst first), ENIs and pods. Keys: ↑/↓ or j/k move, enter opens (list -> detail -> raw JSON),
 * esc/backspace goes back, r refreshes now, q quits. It refreshes by itself every `intervalMs`.
 */
import { Box, Text, useApp, useInput, useWindowSize } from "ink";
import { useState } from "react";
import type { Severity } from "../commands/diagnose/findings.ts";
import { gauge, type Item, itemsOf, type Overview, SECTION_TITLE, windowOf } from "./model.ts";
import { useOverview } from "./use-overview.ts";

export type AppProps = {
	load: () => Promise<Overview>;
	intervalMs: number;
};

type View = "list" | "detail" | "raw";

const COLOR: Record<Severity, string> = { ok: "green", info: "gray", warn: "yellow", error: "red" };

function Header({
	o,
	loading,
	error,
}: {
	o: Overview | undefined;
	loading: boolean;
	error: string | undefined;
}) {
	const st = o?.status;
	const s = o?.report.summary;
	return (
		<Box flexDirection="column">
			<Text wrap="truncate">
				<Text bold>terwayctl diagnose</Text>
				{st
					? `  node ${st.node} (${st.instanceId})  terwayd ${st.phase}`
					: o
						? "  terwayd: not reachable"
						: ""}
				{o ? `  updated ${o.at.toISOString().slice(11, 19)}` : ""}
				{loading ? <Text color="cyan"> refreshing…</Text> : ""}
			</Text>
			{st ? (
				<>
					<Text wrap="truncate">
						{"pool  idle      "}
						{gauge(st.pool.idle, st.pool.max)}
						{` ${st.pool.idle} (min ${st.pool.min}, max ${st.pool.max})`}
						{st.inhibit ? <Text color="yellow">{`  paused: ${st.inhibit.reason}`}</Text> : ""}
					</Text>
					<Text wrap="truncate">
						{"      allocated "}
						{gauge(st.pool.allocated, st.pool.capacity)}
						{` ${st.pool.allocated} of capacity ${st.pool.capacity}   ENIs ${st.pool.enis}`}
					</Text>
				</>
			) : (
				<Text color="red" wrap="truncate">
					{o?.daemonError ?? ""}
				</Text>
			)}
			{s ? (
				<Text wrap="truncate">
					{"findings  "}
					<Text color="red">{`${s.error} error`}</Text>
					{"  "}
					<Text color="yellow">{`${s.warn} warn`}</Text>
					{`  ${s.info} info  ${s.ok} ok`}
				</Text>
			) : (
				<Text>{error ? "" : "running the checks…"}</Text>
			)}
			{error ? <Text color="red" wrap="truncate">{`refresh failed: ${error}`}</Text> : null}
		</Box>
	);
}

function ListView({ items, cursor, height }: { items: Item[]; cursor: number; height: number }) {
	// section titles are rows too: build the screen rows, then window them around the cursor
	const rows: { title?: string; item?: Item; index?: number }[] = [];
	let last = "";
	for (const [index, item] of items.entries()) {
		if (item.section !== last) {
			const n = items.filter((x) => x.section === item.section).length;
			rows.push({ title: `${SECTION_TITLE[item.section]} (${n})` });
			last = item.section;
		}
		rows.push({ item, index });
	}
	const at = rows.findIndex((r) => r.index === cursor);
	const [from, to] = windowOf(rows.length, Math.max(0, at), height);
	if (items.length === 0) return <Text color="green">nothing to show yet</Text>;
	return (
		<Box flexDirection="column">
			{rows.slice(from, to).map((r) =>
				r.title ? (
					<Text key={`t:${r.title}`} bold underline>
						{r.title}
					</Text>
				) : (
					<Text
						key={r.item!.key}
						wrap="truncate"
						inverse={r.index === cursor}
						{...(r.item!.severity ? { color: COLOR[r.item!.severity] } : {})}
					>
						{`${r.index === cursor ? ">" : " "} ${r.item!.label}`}
					</Text>
				),
			)}
		</Box>
	);
}

function Lines({ lines, offset, height }: { lines: string[]; offset: number; height: number }) {
	return (
		<Box flexDirection="column">
			{lines.slice(offset, offset + height).map((l, i) => (
				// biome-ignore lint/suspicious/noArrayIndexKey: lines are positional
				<Text key={i} wrap="truncate">
					{l || " "}
				</Text>
			))}
		</Box>
	);
}

const HELP: Record<View, string> = {
	list: "↑/↓ j/k move  enter details  r refresh  q quit",
	detail: "enter raw JSON  esc/backspace back  r refresh  q quit",
	raw: "↑/↓ j/k scroll  esc/backspace back  r refresh  q quit",
};

export function App({ load, intervalMs }: AppProps) {
	const { exit } = useApp();
	const size = useWindowSize();
	const { overview, loading, error, refresh } = useOverview(load, intervalMs);
	const [view, setView] = useState<View>("list");
	const [cursor, setCursor] = useState(0);
	const [scroll, setScroll] = useState(0);
	const items = overview ? itemsOf(overview) : [];
	const sel = items[Math.min(cursor, Math.max(0, items.length - 1))];
	const height = Math.max(5, (size.rows || 24) - 8);
	const raw = sel ? JSON.stringify(sel.raw, null, 2).split("\n") : [];

	useInput((input, key) => {
		if (input === "q") {
			exit();
			return;
		}
		if (input === "r") {
			refresh();
			return;
		}
		const up = key.upArrow || input === "k";
		const down = key.downArrow || input === "j";
		if (key.escape || key.backspace || key.delete) {
			setView((v) => (v === "raw" ? "detail" : "list"));
			setScroll(0);
			return;
		}
		if (key.return) {
			if (!sel) return;
			setView((v) => (v === "list" ? "detail" : "raw"));
			setScroll(0);
			return;
		}
		if (view === "list") {
			if (up) setCursor((c) => Math.max(0, c - 1));
			if (down) setCursor((c) => Math.min(Math.max(0, items.length - 1), c + 1));
		} else {
			const max = Math.max(0, (view === "raw" ? raw.length : (sel?.detail.length ?? 0)) - height);
			if (up) setScroll((s) => Math.max(0, s - 1));
			if (down) setScroll((s) => Math.min(max, s + 1));
		}
	});

	return (
		<Box flexDirection="column">
			<Header o={overview} loading={loading} error={error} />
			<Text dimColor>{"─".repeat(Math.min(100, size.columns || 80))}</Text>
			{view === "list" || !sel ? (
				<ListView items={items} cursor={Math.min(cursor, Math.max(0, items.length - 1))} height={height} />
			) : view === "detail" ? (
				<Box flexDirection="column">
					<Text bold wrap="truncate">{`${SECTION_TITLE[sel.section]}: ${sel.label}`}</Text>
					<Lines lines={sel.detail} offset={scroll} height={height - 1} />
				</Box>
			) : (
				<Box flexDirection="column">
					<Text bold wrap="truncate">{`raw JSON: ${sel.key}`}</Text>
					<Lines lines={raw} offset={scroll} height={height - 1} />
				</Box>
			)}
			<Text dimColor>{HELP[view === "list" || !sel ? "list" : view]}</Text>
		</Box>
	);
}
