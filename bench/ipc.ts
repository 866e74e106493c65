/** Messages between bench/run.ts and its child processes (over the Node IPC channel). */

/** Parent to child. */
export type ParentMessage =
  /** Report memory and CPU time; with `gc`, collect garbage first (the child runs with --expose-gc). */
  | { readonly type: 'stats', readonly gc: boolean }
  /** Time a fixed piece of CPU work (bench/calibrate.ts) and report it. */
  | { readonly type: 'calibrate' }
  /** Close the servers and exit. */
  | { readonly type: 'close' }

/** What a child reports about itself. */
export interface ProcessStats {
  /** Resident set size, bytes. */
  readonly rss: number
  /** V8 heap in use, bytes. */
  readonly heapUsed: number
  /** V8 heap reserved (used or not), bytes. */
  readonly heapTotal: number
  /** Memory outside the V8 heap that V8 knows of (Buffers and other external memory), bytes. */
  readonly external: number
  /** User + system CPU time since the process started, microseconds. */
  readonly cpuMicros: number
}

/** Child to parent. */
export type ChildMessage =
  /** The servers listen on 127.0.0.1 at `ports`. */
  | { readonly type: 'ready', readonly ports: readonly number[] }
  | ({ readonly type: 'stats' } & ProcessStats)
  /** Milliseconds the calibration work took. */
  | { readonly type: 'calibrated', readonly ms: number }
  /** A one-shot child (bench/core.ts) hands back its result. */
  | { readonly type: 'result', readonly result: unknown }

export function isChildMessage (value: unknown): value is ChildMessage {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
}

export function isParentMessage (value: unknown): value is ParentMessage {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined
  return type === 'stats' || type === 'calibrate' || type === 'close'
}
