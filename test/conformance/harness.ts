/**
 * What the conformance suite needs from an adapter: start a gateway with the given options
 * (under a prefix) on 127.0.0.1:0, and close it. Each adapter's harness is a few lines.
 */
import type { Balancer, StickyOptions } from '@stickyroute/core'

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

/** A gateway whose balancer the test can reach (runtime control, events). */
export interface ControlledGateway extends Gateway {
  readonly balancer: Balancer
}

/** What the member-lifecycle suite needs: a gateway and its balancer. */
export interface LifecycleHarness {
  readonly name: string
  start: (options: StickyOptions, settings: GatewaySettings) => Promise<ControlledGateway>
}
