/**
 * What the fault tests share: the gateways under test (both adapters and the custom gateway),
 * started on 127.0.0.1:0 with a balancer the test can reach.
 */
import type { StickyOptions } from '@stickyroute/core'
import { createCustomGateway } from '../../examples/custom-gateway/proxy.js'
import type { ControlledGateway } from '../conformance/harness.js'
import { startExpress, startFastify } from '../helpers/gateways.js'
import { serveGateway } from '../helpers/listen.js'

export const GATEWAYS: ReadonlyArray<{ name: string, start: (options: StickyOptions) => Promise<ControlledGateway> }> = [
  { name: 'fastify', start: async options => await startFastify(options, { prefix: '' }) },
  { name: 'express', start: async options => await startExpress(options, { prefix: '' }) },
  {
    name: 'custom-gateway',
    async start (options) {
      const gateway = createCustomGateway(options)
      return { ...await serveGateway(gateway), balancer: gateway.balancer }
    }
  }
]
