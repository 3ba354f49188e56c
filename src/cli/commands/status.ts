/**
 * `terwayctl status`: registration only (placeholder until its issue lands); the implementation
 * is imported lazily when the command runs.
 */
import type { Command } from "commander";

export function registerStatus(_program: Command): void {}
