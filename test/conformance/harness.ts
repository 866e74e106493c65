/**
 * What the conformance suite needs from an adapter: start a gateway with the given options
 * (under a prefix) on 127.0.0.1:0, and close it. Each adapter's harness is a few lines.
 */
import type { StickyOptions } from '@stickyroute/core'

export interface Gateway {
  /** Origin of the gateway, e.g. `http://127.0.0.1:41234`. */
  readonly origin: string
  close: () => Promise<void>
}

export interface GatewaySettings {
  /** Path prefix the balancer is mounted under; `''` for the root. */
  prefix: string
}

export interface AdapterHarness {
  readonly name: string
  start: (options: StickyOptions, settings: GatewaySettings) => Promise<Gateway>
}
